"""The click benchmark still runs end to end (tiny sizes), so it cannot rot unnoticed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_clicks_prints_a_ratio_per_scenario_and_the_per_click_figures() -> None:
    """Run bench_clicks with 2 releases and 2 members; every table row has a ratio.

    The scenario rows also carry SimCord's share of the CPU after the ratio.
    """
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_clicks",
            "--releases",
            "2",
            "--members",
            "2",
            "--per-release",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # A figure the baseline lacks (e.g. no garbage collection ran in its few
    # clicks) prints "n/a" for its ratio; the row is still there.
    rows = [
        line
        for line in done.stdout.splitlines()
        if re.search(r"\| [\d.]+ (ms)? *\| [\d.]+ (ms)? *\| (x[\d.]+|n/a) \|", line)
    ]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == [
        "1 click, edited p50",
        "2 members at once in one release, edited p99",
        "2 releases x 1 clicks at once, edited p99",
        "2 releases, one click each at once, edited p99",
        "CPU per click, the bot's own (total - SimCord)",
        "CPU per click, total (bot + SimCord)",
        "CPU per click, SimCord's share",
        "garbage collection per click (in the total)",
        "SQL statements per click",
        "edits per click",
    ]
    ratios = {row.split("|")[1].strip(): row.split("|")[4].strip() for row in rows}
    # Figures the peer always has get a real ratio. The sampled splits (the bot's own,
    # SimCord's share) and the collections can be 0 for the peer's seven clicks: n/a.
    always = [*names[:4], names[5], *names[-2:]]
    assert all(ratios[n].startswith("x") for n in always), ratios
    shares = [row for row in rows if row.split("|")[1].strip().endswith(("p50", "p99"))]
    assert all(re.search(r"\| \d+% / \d+% \|$", row) for row in shares), shares
    assert "clicks without their edit: project 0, baseline 0" in done.stdout
    assert re.search(r"RSS after 2 active releases: \d+ MB", done.stdout)
