"""The offline demo: a scripted release on SimCord that must reach Completed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.demo import run_demo

# Issue 11 items 1 and 4: the release now keeps its 24-hour monitoring window, and the old
# demo signs "Post-release monitoring completed" and completes minutes after the production
# deploy (refused now). The demo is being rewritten on its own branch; strict, so these
# markers must go when it lands.
WAITS_FOR_THE_NEW_DEMO = pytest.mark.xfail(
    strict=True,
    reason="the old demo completes while its monitoring window is open (issue 11 item 4)",
)

ROOT = Path(__file__).resolve().parents[2]


@WAITS_FOR_THE_NEW_DEMO
async def test_the_demo_takes_the_release_to_completed_and_says_so() -> None:
    """Exit 0 with a transcript of who did what, ending with the release Completed."""
    out = io.StringIO()

    code = await run_demo(out)

    text = out.getvalue()
    assert code == 0, text
    assert text.rstrip().endswith("Release nexis-gateway v1.4.0: Completed")
    assert "[12:00] Ann › /release start version:v1.4.0" in text
    assert "bot › thread #nexis-gateway v1.4.0 opened" in text
    assert "cannot close yet; open gates:" in text  # an early Advance is refused
    assert "“Waive…” and gives the reason: no breaking changes in v1.4.0" in text
    assert "removes Eve's ✅, audits the denial and DMs Eve:" in text
    assert text.count("records the sign-off:") == 4
    assert "🏁 Release nexis-gateway v1.4.0: Completed." in text


async def test_the_demo_exits_1_when_the_release_does_not_complete(tmp_path: Path) -> None:
    """Report the release's real status and exit 1 when the lead may not advance."""
    config = tmp_path / "releasebot.toml"
    example = (ROOT / "config/releasebot.example.toml").read_text(encoding="utf-8")
    lines = [
        'advance = ["eng_manager"]' if line.startswith("advance = ") else line
        for line in example.splitlines()
    ]
    assert lines != example.splitlines()
    config.write_text("\n".join(lines), encoding="utf-8")
    out = io.StringIO()

    code = await run_demo(out, config_path=str(config))

    assert code == 1
    assert out.getvalue().rstrip().endswith("Release nexis-gateway v1.4.0: Active")


@WAITS_FOR_THE_NEW_DEMO
def test_releasebot_demo_runs_from_any_directory(tmp_path: Path) -> None:
    """Run `python -m bot demo` from a foreign directory: exit 0, release Completed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Release nexis-gateway v1.4.0: Completed" in done.stdout
