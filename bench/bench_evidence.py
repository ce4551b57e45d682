"""Benchmark GitHub evidence checks on loopback; prints figures, asserts nothing.

Run: .venv/bin/python -m bench.bench_evidence [--passes 50]
1. What importing githubkit costs (in a fresh interpreter): the reason it is loaded on first
   use only, not at start-up.
2. One verify pass of the seed's 9 kinds of checks against the loopback GitHub: requests sent,
   rate limit used, wall time; then `--passes` rechecks of unchanged evidence (all ETag hits).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from bot.core.clock import SystemClock
from bot.evidence.domain import CHECK_KEYS, EvidenceSpec
from bot.evidence.github import GitHubClient
from bot.evidence.service import EvidenceRun
from bot.sandbox.github import GitHubSandbox, seed_release

SPEC = EvidenceSpec(repository="nexis/nexis", assets=("nexis-v{version}-linux-x86_64.tar.gz",))
IMPORT = (
    "import resource, time\n"
    "t = time.perf_counter()\n"
    "{stmt}\n"
    "took = time.perf_counter() - t\n"
    "print(took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
)


def import_cost(stmt: str) -> tuple[float, float]:
    """Return (seconds `stmt` takes, peak RSS in MiB after it) in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT.format(stmt=stmt)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, mib = done.stdout.split()
    return float(seconds), float(mib)


async def passes(count: int) -> None:
    """Run one full pass, then `count` rechecks of unchanged evidence."""
    sandbox = GitHubSandbox(prefix="/api/v3")
    seed_release(sandbox)
    await sandbox.start()
    client = GitHubClient(SystemClock(), base_url=sandbox.base_url, token="ghp_bench")
    try:
        start = time.perf_counter()
        first = EvidenceRun(client, SPEC, "v1.4.0")
        for key in CHECK_KEYS:
            await first.check(key)
        first_ms = (time.perf_counter() - start) * 1000
        sent, used = len(sandbox.requests), sandbox.rate_used
        print(
            f"first pass: {len(CHECK_KEYS)} checks, {sent} requests, {used} rate limit, "
            f"{first_ms:.1f} ms (includes importing githubkit)"
        )
        times = []
        for _ in range(count):
            start = time.perf_counter()
            again = EvidenceRun(client, SPEC, "v1.4.0")
            for key in CHECK_KEYS:
                await again.check(key)
            times.append((time.perf_counter() - start) * 1000)
        rechecks = len(sandbox.requests) - sent
        print(
            f"{count} rechecks: {rechecks} requests ({rechecks / count:.0f} per pass, all 304), "
            f"{sandbox.rate_used - used} rate limit, ETag hits {client.etag_hits}, "
            f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms per pass"
        )
    finally:
        await sandbox.stop()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=50)
    args = parser.parse_args()
    base_s, base_mib = import_cost("import bot.evidence.wiring")
    kit_s, kit_mib = import_cost("import bot.evidence.wiring; import githubkit; githubkit.GitHub")
    print(f"import bot.evidence.wiring: {base_s * 1000:.0f} ms, peak RSS {base_mib:.1f} MiB")
    print(
        f"... and githubkit's client: +{(kit_s - base_s) * 1000:.0f} ms, "
        f"+{kit_mib - base_mib:.1f} MiB peak RSS (deferred to the first check)"
    )
    asyncio.run(passes(args.passes))


if __name__ == "__main__":
    main()
