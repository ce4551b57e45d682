"""Each GitHub check through the real githubkit client against the loopback GitHub.

Faked: nothing on our side; GitHub itself cannot run here, so bot/sandbox/github.py serves
its REST answers in the shapes of its published description (tests/sandbox/test_github.py
validates them against githubkit's models).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.clock import FakeClock
from bot.evidence.domain import CHECK_KEYS, EvidenceSpec, VerdictStatus
from bot.evidence.github import GitHubClient
from bot.evidence.service import EvidenceRun
from bot.sandbox.github import GitHubSandbox
from tests.evidence.harness import SPEC, VERSION

TAG_SHA = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
BRANCH = "release/v1.4.0"


def run(client: GitHubClient, spec: EvidenceSpec = SPEC) -> EvidenceRun:
    """Return a fresh verify pass (nothing remembered between passes but the ETags)."""
    return EvidenceRun(client, spec, VERSION)


@pytest.mark.parametrize("key", [k for k in CHECK_KEYS if k != "github.branch_deleted"])
async def test_each_check_passes_on_good_data_with_its_evidence(
    client: GitHubClient, key: str
) -> None:
    """Pass every check on the good release, each with a link a person can open."""
    verdict = await run(client).check(key)
    assert verdict.status is VerdictStatus.PASS, verdict.reason
    assert verdict.link and verdict.link.startswith("https://")


async def test_the_links_point_at_the_evidence(client: GitHubClient) -> None:
    """Link the branch, the check run, the Release page and the file at the tag."""
    one = run(client)
    assert (await one.check("github.branch")).link == (
        "https://github.example/nexis/nexis/tree/release/v1.4.0"
    )
    assert (await one.check("github.ci")).link == "https://github.example/nexis/nexis/runs/1000"
    assert (await one.check("github.release")).link == (
        "https://github.example/nexis/nexis/releases/tag/v1.4.0"
    )
    assert (await one.check("github.version_file")).link == (
        f"https://github.example/nexis/nexis/blob/{TAG_SHA}/Cargo.toml"
    )
    assert (await one.check("github.ci")).reason == "3 checks passed on 3f2a1c9"


async def test_missing_tag(client: GitHubClient, github: GitHubSandbox) -> None:
    """Fail the tag; files are read on the release branch until it exists, then on main."""
    del github.state.tags["v1.4.0"]
    one = run(client)
    tag = await one.check("github.tag")
    version = await one.check("github.version_file")
    assert (tag.status, tag.reason) == (VerdictStatus.FAIL, "tag `v1.4.0` missing")
    assert version.status is VerdictStatus.PASS
    assert version.reason == "`Cargo.toml` package.version = 1.4.0 at `release/v1.4.0`"
    del github.state.branches[BRANCH]
    github.state.files[TAG_SHA]["Cargo.toml"] = '[package]\nversion = "1.3.0"\n'  # main
    on_main = await run(client).check("github.version_file")
    assert on_main.reason == (
        "version mismatch: `Cargo.toml` package.version is 1.3.0 at `main`, expected 1.4.0"
    )


async def test_failed_check_run(client: GitHubClient, github: GitHubSandbox) -> None:
    """Name the failed check and the short commit."""
    github.state.check_runs[TAG_SHA][1] = ("test (ubuntu)", "completed", "failure")
    verdict = await run(client).check("github.ci")
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.reason == "check `test (ubuntu)` failed on 3f2a1c9"
    assert verdict.link == "https://github.example/nexis/nexis/runs/1001"


async def test_a_running_check_is_inconclusive(client: GitHubClient, github: GitHubSandbox) -> None:
    """Never pass while a check still runs."""
    github.state.check_runs[TAG_SHA][0] = ("build", "in_progress", None)
    verdict = await run(client).check("github.ci")
    assert verdict.status is VerdictStatus.INCONCLUSIVE
    assert "`build` is still" in verdict.reason


async def test_a_required_check_that_did_not_run(client: GitHubClient) -> None:
    """With named required checks, a missing one fails."""
    spec = EvidenceSpec(repository="nexis/nexis", required_checks=("build", "e2e"))
    verdict = await run(client, spec).check("github.ci")
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.reason == "required check `e2e` did not run on 3f2a1c9"


async def test_no_check_runs_is_no_pass(client: GitHubClient, github: GitHubSandbox) -> None:
    """No evidence, no pass."""
    github.state.check_runs[TAG_SHA] = []
    verdict = await run(client).check("github.ci")
    assert (verdict.status, verdict.reason) == (VerdictStatus.FAIL, "no check runs on `main`")


async def test_version_mismatch_at_the_tag(client: GitHubClient, github: GitHubSandbox) -> None:
    """Read Cargo.toml at the tag and compare package.version."""
    github.state.files[TAG_SHA]["Cargo.toml"] = '[package]\nname = "nexis"\nversion = "1.3.9"\n'
    verdict = await run(client).check("github.version_file")
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.reason == (
        "version mismatch: `Cargo.toml` package.version is 1.3.9 at `v1.4.0`, expected 1.4.0"
    )


async def test_missing_asset(client: GitHubClient, github: GitHubSandbox) -> None:
    """Name the asset that is not attached."""
    github.state.releases["v1.4.0"]["assets"] = ["SHA256SUMS"]
    verdict = await run(client).check("github.assets")
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.reason == "asset `nexis-v1.4.0-linux-x86_64.tar.gz` missing"


async def test_draft_release_and_empty_notes(client: GitHubClient, github: GitHubSandbox) -> None:
    """A draft or a Release without notes is not done."""
    github.state.releases["v1.4.0"]["draft"] = True
    assert (await run(client).check("github.release")).reason == (
        "the GitHub Release for `v1.4.0` is still a draft"
    )
    github.state.releases["v1.4.0"].update(draft=False, body="  ")
    assert (await run(client).check("github.release")).reason == (
        "the GitHub Release for `v1.4.0` has no release notes"
    )
    del github.state.releases["v1.4.0"]
    assert (
        await run(client).check("github.release")
    ).reason == "no GitHub Release for tag `v1.4.0`"


async def test_changelog_without_the_version(client: GitHubClient, github: GitHubSandbox) -> None:
    """Fail a CHANGELOG that has no section for 1.4.0."""
    github.state.files[TAG_SHA]["CHANGELOG.md"] = "# Changelog\n\n## [1.3.0]\n\n### Fixed\n- x\n"
    verdict = await run(client).check("github.changelog")
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.reason == "`CHANGELOG.md` has no section for 1.4.0 at `v1.4.0`"


async def test_changelog_with_an_unknown_heading(
    client: GitHubClient, github: GitHubSandbox
) -> None:
    """Fail a category outside Keep a Changelog's (Added/Changed/.../Security)."""
    github.state.files[TAG_SHA]["CHANGELOG.md"] = (
        "# Changelog\n\n## [1.4.0] - 2026-12-01\n\n### Added\n- a\n\n### Improvements\n- b\n"
    )
    verdict = await run(client).check("github.changelog")
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.reason.startswith("`CHANGELOG.md` 1.4.0 has an unknown heading `Improvements`")


async def test_missing_and_unmerged_branch(client: GitHubClient, github: GitHubSandbox) -> None:
    """Fail the branch when it is missing and the merge when it has commits not in main."""
    github.state.unmerged.add(BRANCH)
    merged = await run(client).check("github.merged")
    assert merged.status is VerdictStatus.FAIL
    assert merged.reason == "`release/v1.4.0` has 2 commits not in `main` (not merged)"
    del github.state.branches[BRANCH]
    branch = await run(client).check("github.branch")
    assert (branch.status, branch.reason) == (
        VerdictStatus.FAIL,
        "branch `release/v1.4.0` not found",
    )


async def test_branch_deleted(client: GitHubClient, github: GitHubSandbox) -> None:
    """Fail while the branch exists, pass once it is gone."""
    still = await run(client).check("github.branch_deleted")
    assert still.status is VerdictStatus.FAIL
    assert still.reason == "branch `release/v1.4.0` still exists (at 1b2c3d4)"
    del github.state.branches[BRANCH]
    gone = await run(client).check("github.branch_deleted")
    assert gone.status is VerdictStatus.PASS


async def test_rate_limited_is_inconclusive_with_the_reset(
    client: GitHubClient, github: GitHubSandbox, clock: FakeClock
) -> None:
    """A 403 with the limit spent: inconclusive, retry at the reset, no call before it."""
    reset = clock.now() + timedelta(minutes=12)
    github.limit_until(reset, status=403)
    one = run(client)
    verdict = await one.check("github.tag")
    assert verdict.status is VerdictStatus.INCONCLUSIVE
    assert verdict.retry_at == reset
    assert "rate limit" in verdict.reason
    asked = len(github.requests)
    again = await run(client).check("github.release")
    assert again.status is VerdictStatus.INCONCLUSIVE
    assert len(github.requests) == asked  # nothing is sent before the reset
    clock.advance(timedelta(minutes=12))
    assert (await run(client).check("github.tag")).status is VerdictStatus.PASS


async def test_429_is_handled_like_403(
    client: GitHubClient, github: GitHubSandbox, clock: FakeClock
) -> None:
    """A 429 (secondary limit answered as too many requests) is inconclusive too."""
    github.limit_until(clock.now() + timedelta(minutes=1), status=429)
    verdict = await run(client).check("github.branch")
    assert verdict.status is VerdictStatus.INCONCLUSIVE
    assert verdict.retry_at == clock.now() + timedelta(minutes=1)


async def test_unreachable_is_inconclusive(clock: FakeClock) -> None:
    """No server: inconclusive, never a pass or a fail."""
    nowhere = GitHubClient(clock, base_url="http://127.0.0.1:9", timeout=2.0)
    verdict = await EvidenceRun(nowhere, SPEC, VERSION).check("github.tag")
    assert verdict.status is VerdictStatus.INCONCLUSIVE
    assert verdict.reason.startswith("GitHub is unreachable")


async def test_an_etag_hit_costs_no_rate_limit_and_no_extra_request(
    client: GitHubClient, github: GitHubSandbox
) -> None:
    """Check twice: the second pass sends one conditional request per read, gets 304s."""
    first = run(client)
    for key in CHECK_KEYS:
        await first.check(key)
    first_requests, first_used = len(github.requests), github.rate_used
    assert first_used == first_requests == 7  # branch, compare, checks, tag, 2 files, release
    second_pass = run(client)
    again = [await second_pass.check(key) for key in CHECK_KEYS]
    assert all(v.status is not VerdictStatus.INCONCLUSIVE for v in again)
    second = github.requests[first_requests:]
    assert len(second) == first_requests  # no extra request after a 304
    assert all(r.status == 304 and not r.counted for r in second)
    assert github.rate_used == first_used  # a 304 costs no rate limit
    assert client.etag_hits == len(second)


async def test_an_answer_outside_githubs_shape_is_inconclusive(
    client: GitHubClient, github: GitHubSandbox
) -> None:
    """A body that does not fit the model (a broken proxy, say) is never read as evidence."""
    original = github.branch

    def broken(name: str, sha: str) -> dict[str, object]:
        body = original(name, sha)
        del body["commit"]
        return body

    github.branch = broken  # type: ignore[method-assign]
    verdict = await run(client).check("github.branch")
    assert verdict.status is VerdictStatus.INCONCLUSIVE
    assert verdict.reason.startswith("GitHub's answer for branch:nexis/nexis:release/v1.4.0 could")


async def test_a_server_error_is_inconclusive(client: GitHubClient, github: GitHubSandbox) -> None:
    """A 5xx says nothing about the release: inconclusive, with GitHub's message."""

    def failing(name: str, sha: str) -> dict[str, object]:
        raise RuntimeError("boom")

    github.branch = failing  # type: ignore[method-assign]
    verdict = await run(client).check("github.branch")
    assert verdict.status is VerdictStatus.INCONCLUSIVE
    assert verdict.reason.startswith("GitHub answered 500")
