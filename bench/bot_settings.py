"""The settings the release benchmarks run the bot with: one service, SQLite at `db`.

`bot.config` is imported on call, not at import: `bench_memory` measures what importing the
bot costs, so importing this module must not pay it first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def release_settings(db: Path) -> Settings:
    """Return settings for one service (nexis-gateway) with its database at `db`."""
    from bot.config import build_settings

    service = {
        "name": "nexis-gateway",
        "prometheus_url": "http://127.0.0.1:9090",
        "kubernetes": {"production": {"namespace": "production", "deployment": "nexis-gateway"}},
    }
    return build_settings(
        {
            "services": [service],
            "database": {"url": f"sqlite+aiosqlite:///{db}"},
            "checklist": {"path": str(ROOT / "config/checklists/release.md")},
        },
        env={},
    )
