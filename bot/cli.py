"""The `releasebot` command line: run, demo, validate a checklist, check a config, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

if TYPE_CHECKING:
    from bot.checklist.limits import TemplateLimits
    from bot.config import ConfigProblem, Settings
    from bot.core.ports import UnitOfWorkFactory

DEFAULT_CONFIG = "config/releasebot.toml"
EXAMPLE_CONFIG = "config/releasebot.example.toml"

NO_GUILD = """\
releasebot run: discord.guild_id is not set.
The bot serves one home server: set discord.guild_id in the config to that server's id
(commands are synced there only; interactions from any other server are refused).
"""

NO_TOKEN = """\
releasebot run: no Discord token.
Set RELEASEBOT_DISCORD_TOKEN (or RELEASEBOT_DISCORD_TOKEN_FILE pointing at a file holding it)
to run against Discord. To see the bot work without Discord, run the offline demo:

    releasebot demo
"""


def _config_path(given: str | None) -> Path | None:
    if given:
        return Path(given)
    for candidate in (DEFAULT_CONFIG, EXAMPLE_CONFIG):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="releasebot", description="Discord chat-ops bot that runs software releases."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot against Discord (needs a token)")
    run.add_argument("--config", help=f"TOML settings (default {DEFAULT_CONFIG}, else the example)")

    demo = commands.add_parser(
        "demo", help="play the whole mission on a simulated Discord, offline"
    )
    demo.add_argument("--config", help="TOML settings (default: the example config)")
    demo.add_argument(
        "--scenario",
        choices=("rollback", "healthy", "all"),
        default="all",
        help="rollback: a breach rolled back; healthy: a hotfix kept 24 h; all (default): both",
    )
    demo.add_argument(
        "--out", metavar="DIR", help="folder for the chart PNGs (default: a temp one)"
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep the simulated server alive and open it in a local browser preview",
    )
    demo.add_argument(
        "--port", type=int, default=0, help="preview port with --serve (default: any)"
    )

    checklist = commands.add_parser("checklist", help="checklist template tools")
    checklist_commands = checklist.add_subparsers(dest="checklist_command", required=True)
    validate = checklist_commands.add_parser("validate", help="parse a template and print it")
    validate.add_argument("path")
    validate.add_argument("--json", action="store_true", help="print the parsed template as JSON")
    validate.add_argument(
        "--lenient",
        action="store_true",
        help="warn about brace groups that look like broken annotations instead of failing",
    )
    validate.add_argument(
        "--config", help="TOML settings whose [checklist] limits to apply (default: built-in)"
    )

    check = commands.add_parser("check-config", help="validate a TOML settings file")
    check.add_argument("path", nargs="?", default=None)

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    for name, text in (
        ("upgrade", "upgrade to the newest schema"),
        ("downgrade", "downgrade to a revision (default: base)"),
        ("current", "print the current revision"),
    ):
        sub = db_commands.add_parser(name, help=text)
        sub.add_argument("--config", help="TOML settings holding database.url")
        sub.add_argument("--url", help="database URL (overrides the config)")
        if name == "downgrade":
            sub.add_argument("revision", nargs="?", default="base")
    copy = db_commands.add_parser(
        "copy", help="copy every row of one database into another, empty one (SQLite to PostgreSQL)"
    )
    copy.add_argument("--from", dest="source", required=True, metavar="URL", help="source URL")
    copy.add_argument(
        "--to", dest="target", required=True, metavar="URL", help="target URL (must be empty)"
    )
    stats = commands.add_parser("stats", help="DORA figures from the release log (docs/reports.md)")
    _database_options(stats)
    stats.add_argument("--service", help="one service (default: all)")
    stats.add_argument("--days", type=int, help="the period's length in days (default 30)")
    stats.add_argument(
        "--period", help="the period as a duration, e.g. 7d, 30d, 12w (instead of --days)"
    )
    stats.add_argument("--until", help="the period's end, ISO 8601 UTC (default: now)")
    stats.add_argument("--format", choices=("text", "json"), default="text")
    stats.add_argument("--out", help="a directory for the chart over time (PNG)")
    report = commands.add_parser("report", help="write a release's report from the database")
    _database_options(report)
    report.add_argument("release", help="the release number, e.g. 1 or #1")
    report.add_argument("--format", choices=("md", "json", "csv"), default="md")
    report.add_argument("--out", help="a directory for the report file and its charts")
    return parser


def _database_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--config", help="TOML settings holding database.url")
    sub.add_argument("--url", help="database URL (overrides the config)")


def _database_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    from bot.config import build_settings, load_settings

    path = _config_path(args.config)
    # RELEASEBOT_DATABASE_URL (or _FILE) overrides database.url, with or without a file.
    settings = load_settings(path) if path else build_settings({})
    return settings.database_url


async def _db(args: argparse.Namespace, out: TextIO) -> int:
    from bot.store import migrate
    from bot.store.db import make_engine

    if args.db_command == "copy":
        from bot.app.schema import metadata
        from bot.store.copy import copy_database

        counts = await copy_database(args.source, args.target, metadata)
        total = sum(counts.values())
        print(f"copied {total} rows in {len(counts)} tables", file=out)
        for table, count in counts.items():
            print(f"  {table}: {count}", file=out)
        return 0
    engine = make_engine(_database_url(args))
    try:
        if args.db_command == "upgrade":
            await migrate.upgrade(engine)
        elif args.db_command == "downgrade":
            await migrate.downgrade(engine, args.revision)
        print(f"database at revision {await migrate.current(engine) or 'base (empty)'}", file=out)
    finally:
        await engine.dispose()
    return 0


def _run_db(args: argparse.Namespace, out: TextIO) -> int:
    """Run a `db` command; a missing driver or an unreachable database is one line, exit 1."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from bot.store.copy import CopyRefused
    from bot.store.db import DatabaseDriverMissing

    try:
        return asyncio.run(_db(args, out))
    except (DatabaseDriverMissing, CopyRefused) as error:
        print(f"releasebot db {args.db_command}: {error}", file=sys.stderr)
    except (OSError, DBAPIError) as error:
        reason = getattr(error, "orig", None) or error
        print(
            f"releasebot db {args.db_command}: cannot use the database: "
            f"{type(reason).__name__}: {str(reason).splitlines()[0] if str(reason) else ''}",
            file=sys.stderr,
        )
    except SQLAlchemyError as error:
        print(f"releasebot db {args.db_command}: {str(error).splitlines()[0]}", file=sys.stderr)
    return 1


async def _reports(args: argparse.Namespace, out: TextIO) -> int:
    from bot.app.uow import SqlUnitOfWorkFactory
    from bot.core.clock import SystemClock
    from bot.reports.offline import run_report, run_stats
    from bot.reports.service.use_cases import ReportService
    from bot.store import migrate
    from bot.store.db import make_engine, make_session_factory

    engine = make_engine(_database_url(args))
    try:
        if await migrate.current(engine) is None:
            print(f"{args.command}: the database is empty; run `releasebot db upgrade`", file=out)
            return 1
        clock = SystemClock()
        units = cast("UnitOfWorkFactory", SqlUnitOfWorkFactory(make_session_factory(engine), clock))
        service = ReportService(units, clock)
        if args.command == "stats":
            return await run_stats(service, args, out, clock.now())
        return await run_report(service, args, out)
    finally:
        await engine.dispose()


def template_limits(settings: Settings) -> TemplateLimits:
    """Return the checklist size limits configured in `[checklist]`."""
    from bot.checklist.limits import TemplateLimits

    given = settings.checklist
    return TemplateLimits(
        max_bytes=given.max_bytes,
        max_checkboxes=given.max_checkboxes,
        max_items_per_phase=given.max_items_per_phase,
        max_item_length=given.max_item_length,
    )


def check_template(settings: Settings, valid: frozenset[str]) -> list[ConfigProblem]:
    """Parse the configured checklist template as a release would; return problems and warnings.

    Problems are `checklist.path: FILE:LINE: message`; a template that has no item marking
    `production_deployed` (monitoring never starts) or no sign-off is warned about.
    """
    from bot.checklist import TemplateError, load_template
    from bot.config import ConfigProblem
    from bot.config.base import is_file

    path = settings.checklist.path
    if "checklist" not in valid or not is_file(path):
        return []  # a missing file is reported by check-config itself
    key = "checklist.path"
    try:
        template = load_template(path, limits=template_limits(settings))
    except OSError as exc:
        return [ConfigProblem(key, f"cannot read {path}: {exc.strerror or exc}")]
    except TemplateError as exc:
        return [ConfigProblem(key, str(problem)) for problem in exc.errors]
    found = [ConfigProblem(key, str(w), warning=True) for w in template.warnings]
    if not any(item.marks == "production_deployed" for item in template.items()):
        found.append(
            ConfigProblem(
                key,
                f"{path}: no item has marks=production_deployed, so post-deploy monitoring "
                "never starts (expected it on the 'deployed to production' item)",
                warning=True,
            )
        )
    if not template.signoffs:
        found.append(
            ConfigProblem(
                key,
                f"{path}: no sign-offs, so no role ever approves a phase "
                "(expected '- [ ] ... {signoff=KEY role=ROLE phase=PHASE}')",
                warning=True,
            )
        )
    from bot.evidence.wiring import github_problems

    found += github_problems(settings, valid, template.items())
    return found


def _validate(args: argparse.Namespace, out: TextIO) -> int:
    from bot.checklist.limits import DEFAULT_LIMITS
    from bot.checklist.validate import run_validate

    limits = DEFAULT_LIMITS
    if args.config:
        from bot.config import load_settings

        limits = template_limits(load_settings(args.config))
    return int(run_validate(args.path, args.json, out, lenient=args.lenient, limits=limits))


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from bot.config import build_settings, load_settings

    path = _config_path(args.config)
    # Without a file: default sections, but secrets still come from the environment.
    settings = load_settings(path) if path else build_settings({})
    token = settings.secrets.discord_token
    if token is None or not token.get_secret_value():
        print(NO_TOKEN, file=sys.stderr, end="")
        return 2
    if settings.discord.guild_id is None:
        print(NO_GUILD, file=sys.stderr, end="")
        return 2
    grace = settings.paging.outbox.shutdown_grace.total_seconds()
    if settings.leader.enabled:  # one of several replicas on PostgreSQL (docs/database.md)
        from bot.app.replica import run_replica

        return asyncio.run(run_replica(settings, token.get_secret_value(), grace=grace))
    from bot.app import create_bot
    from bot.runtime.shutdown import run_bot

    bot = create_bot(settings)
    return asyncio.run(run_bot(bot, token.get_secret_value(), grace=grace))


DEMO_NEEDS_SIMCORD = (
    "demo: the offline demo runs on SimCord, which is not installed here (the runtime image "
    "leaves it out). Install the demo group: `uv sync --group demo` in a checkout, or "
    "`pip install 'simcord>=3.2,<4'` next to releasebot."
)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line and return the exit code."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    quiet = args.command == "demo" and not args.verbose
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic announces each of its autogenerate plugins at INFO on every run: noise.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from bot.core.redaction import install_redaction

    install_redaction()  # the secrets themselves are registered when the bot is built
    if quiet:
        # The demo prints its own transcript; discord.py's start-up notes about voice support
        # and the simulated gateway's intents are noise there.
        logging.getLogger("discord").setLevel(logging.ERROR)
    from bot.config import ConfigError

    try:
        if args.command == "checklist":
            return _validate(args, out)
        if args.command == "check-config":
            from bot.config import check_config

            path = _config_path(args.path)
            if path is None:
                print(f"check-config: no file given and no {DEFAULT_CONFIG} here", file=out)
                return 1
            return check_config(path, out, checks=[check_template])
        if args.command == "db":
            return _run_db(args, out)
        if args.command in ("stats", "report"):
            return asyncio.run(_reports(args, out))
        if args.command == "demo":
            try:
                from bot.demo import run_demo
            except ModuleNotFoundError as missing:
                if missing.name != "simcord":
                    raise
                print(DEMO_NEEDS_SIMCORD, file=out)
                return 1
            if args.serve:
                from bot.demo.serve import serve_demo

                return int(asyncio.run(serve_demo(out, config_path=args.config, port=args.port)))
            return int(
                asyncio.run(
                    run_demo(out, config_path=args.config, scenario=args.scenario, out_dir=args.out)
                )
            )
        return _run(args, out)
    except ConfigError as error:
        for problem in error.problems:
            print(f"config: {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
