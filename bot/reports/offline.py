"""`releasebot stats` and `releasebot report`: the figures from the database, without Discord."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.core.errors import DomainError
from bot.reports.charts import ChartError, chart_name, chart_title, render
from bot.reports.period import stats_period
from bot.reports.service.use_cases import ReportService


def _until(text: str | None, now: datetime) -> datetime:
    if not text:
        return now
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def run_stats(
    service: ReportService, args: argparse.Namespace, out: TextIO, now: datetime
) -> int:
    """Print the DORA figures of the period (text or JSON), and with `--out` write the chart
    over time as a PNG; return the exit code."""
    if args.days is not None and args.days <= 0:
        print(f"stats: --days must be a positive number of days, not {args.days}", file=out)
        return 1
    try:
        length = stats_period(args.days, args.period)
    except DomainError as error:
        print(f"stats: --period: {error.message}", file=out)
        return 1
    try:
        until = _until(args.until, now)
    except ValueError:
        print(
            f"stats: --until {args.until!r} is not an ISO 8601 time (e.g. 2026-12-01T00:00)",
            file=out,
        )
        return 1
    stats, buckets = await service.trend(until - length, until, args.service)
    chart: Path | None = None
    failure = ""
    if args.out:
        try:
            (png,) = await render([("dora", chart_title(stats), tuple(buckets))])
            chart = await asyncio.to_thread(write_file, Path(args.out), chart_name(stats), png)
        except (ChartError, OSError) as error:
            failure = f"stats: the chart could not be drawn: {error}"
    if args.format == "json":
        figures = stats.as_dict() | {"buckets": [b.as_dict() for b in buckets]}
        if chart is not None:
            figures["chart"] = str(chart)
        print(json.dumps(figures, indent=2), file=out)
    else:
        print("\n".join(stats.lines()), file=out)
        if chart is not None:
            print(f"Chart over time: wrote {chart}", file=out)
    if failure:
        print(failure, file=out)
        return 1
    return 0


async def run_report(service: ReportService, args: argparse.Namespace, out: TextIO) -> int:
    """Write a release's report (md, json or csv) to `out` or into `--out`; return the exit code."""
    text = str(args.release).strip().lstrip("#")
    if not text.isdigit():
        print(
            f"report: RELEASE must be a release number such as 1 or #1, not {args.release!r}",
            file=out,
        )
        return 1
    try:
        report = await service.report(int(text))
    except DomainError as error:
        print(f"report: {error.message}", file=out)
        return 1
    body = {
        "md": report.markdown,
        "json": lambda: json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n",
        "csv": report.csv,
    }[args.format]()
    if not args.out:
        out.write(body)
        return 0
    path = await asyncio.to_thread(
        write_file, Path(args.out), f"release-{report.metrics.release_id}.{args.format}", body
    )
    print(f"report: wrote {path}", file=out)
    return 0


def write_file(folder: Path, name: str, body: str | bytes) -> Path:
    """Write `body` to `folder/name` (creating the folder); return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    return path
