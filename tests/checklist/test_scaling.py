"""Parsing cost grows linearly: 10x the input costs about 10x the time (issue 12).

Before, 2,000 repeated `###` headings took 14 s (cubic), 10,000 repeated items > 30 s
(quadratic) and a 1 MB line of spaces before the first phase > 30 s (quadratic regex). The
ratios are printed; the assertion is deliberately generous (< 30, where quadratic growth
gives ~100 and cubic ~1000) so a busy machine never makes it flaky.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import pytest

from bot.checklist import parse_template
from bot.checklist.limits import TemplateLimits

UNLIMITED = TemplateLimits.unlimited()
GENEROUS = 30.0

WORKLOADS: dict[str, tuple[Callable[[int], str], int]] = {
    "repeated ### headings": (lambda n: "## P\n- [ ] x\n" + "### Same\n" * n, 400),
    "repeated items": (lambda n: "## P\n" + "- [ ] same\n" * n, 1_500),
    "long preamble line": (lambda n: "# T\n**" + " " * n + "x\n## P\n- [ ] x\n", 500_000),
}


def _best_of(runs: int, text: str) -> float:
    """Return the fastest of `runs` parses, with the cyclic GC paused (it adds noise that
    grows with the heap, not with the parser's own work)."""
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            parse_template(text, limits=UNLIMITED)
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_ten_times_the_input_costs_about_ten_times_the_time(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Print t(10n)/t(n) for one workload and require it to be far from quadratic."""
    make, n = WORKLOADS[name]
    small, large = make(n), make(10 * n)
    _best_of(1, small)  # warm up
    ratio = _best_of(5, large) / max(_best_of(5, small), 1e-6)
    with capsys.disabled():
        print(f"\nchecklist scaling: {name}: n={n:,} -> {10 * n:,}: time ratio {ratio:.1f}")
    assert ratio < GENEROUS
