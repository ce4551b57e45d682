"""The memory benchmark's quick mode still runs end to end (2 releases), so it cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_memory_quick_prints_the_restart_steps_and_the_whole_process_figure() -> None:
    """`--quick --releases 2`: one row of RSS steps, both releases started, no heavy library
    loaded after a restart, and the whole-process figure against the 150 MB goal."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_memory", "--quick", "--releases", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    row, total = done.stdout.splitlines()
    assert re.search(r"connect +\d+ \| 2 releases +\d+ MB; loaded: none;", row), row
    assert re.fullmatch(
        r"whole process \(bot \+ SimCord\) with 2 active releases: \d+ MB \(goal < 150 MB\)", total
    ), total
