"""Print a measured figure into the test log even when pytest captures output.

Fault, kill and fuzz tests report what they measured (kills, losses, duplicates, CPU); those
lines belong in the CI log whether the test passed or failed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

Figures = Callable[[str], None]


@pytest.fixture
def figures(capsys: pytest.CaptureFixture[str]) -> Figures:
    """Return a function that prints one line of figures past pytest's capture."""

    def report(line: str) -> None:
        with capsys.disabled():
            print(f"\n{line}", flush=True)

    return report
