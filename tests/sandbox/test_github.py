"""The loopback GitHub answers in GitHub's own shapes, with ETags, rate limits and DELETE.

Every body is validated against githubkit's models, which are generated from GitHub's
published OpenAPI description: a field the sandbox invented or forgot fails here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from githubkit.compat import type_validate_python
from githubkit_schemas.latest import models

from bot.core.clock import FakeClock
from bot.sandbox.github import GitHubSandbox, seed_release

PATHS: list[tuple[str, Any]] = [
    ("/repos/nexis/nexis/branches/release/v1.4.0", models.BranchWithProtection),
    ("/repos/nexis/nexis/git/ref/tags/v1.4.0", models.GitRef),
    (
        "/repos/nexis/nexis/commits/main/check-runs",
        models.ReposOwnerRepoCommitsRefCheckRunsGetResponse200,
    ),
    ("/repos/nexis/nexis/contents/Cargo.toml?ref=v1.4.0", models.ContentFile),
    ("/repos/nexis/nexis/releases/tags/v1.4.0", models.Release),
    ("/repos/nexis/nexis/compare/main...release/v1.4.0", models.CommitComparison),
]


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[GitHubSandbox]:
    """Serve a seeded repository under GitHub Enterprise's /api/v3 prefix."""
    server = GitHubSandbox(prefix="/api/v3", clock=clock.now)
    seed_release(server)
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize(("path", "model"), PATHS)
async def test_each_answer_validates_against_githubs_model(
    sandbox: GitHubSandbox, path: str, model: Any
) -> None:
    """Parse each answer with the model of its endpoint (pydantic raises on a wrong shape)."""
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        response = await client.get(path)
    assert response.status_code == 200
    parsed = type_validate_python(model, response.json())
    assert parsed is not None
    assert sandbox.requests[-1].path == path.split("?")[0]


async def test_a_missing_branch_is_githubs_404(sandbox: GitHubSandbox) -> None:
    """Answer an unknown branch with GitHub's error shape."""
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        response = await client.get("/repos/nexis/nexis/branches/release/v9.9.9")
    assert response.status_code == 404
    assert response.json()["message"] == "Branch not found"


async def test_an_etag_hit_is_a_304_that_costs_no_rate_limit(sandbox: GitHubSandbox) -> None:
    """Send If-None-Match with the ETag: 304, no body, the used count unchanged."""
    path = "/repos/nexis/nexis/releases/tags/v1.4.0"
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        first = await client.get(path)
        used = sandbox.rate_used
        second = await client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 304
    assert second.content == b""
    assert sandbox.rate_used == used == 1
    assert [r.counted for r in sandbox.requests] == [True, False]


async def test_rate_limited_until_the_reset(sandbox: GitHubSandbox, clock: FakeClock) -> None:
    """Answer 429 with the limit spent and the reset time, until the clock passes it."""
    reset = clock.now() + timedelta(minutes=10)
    sandbox.limit_until(reset, status=429)
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        limited = await client.get("/repos/nexis/nexis/git/ref/tags/v1.4.0")
        clock.advance(timedelta(minutes=10))
        served = await client.get("/repos/nexis/nexis/git/ref/tags/v1.4.0")
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["x-ratelimit-reset"] == str(int(reset.timestamp()))
    assert served.status_code == 200


async def test_delete_removes_the_branch_and_is_recorded(sandbox: GitHubSandbox) -> None:
    """DELETE the branch ref: 204, the branch is gone, a second DELETE is GitHub's 422."""
    path = "/repos/nexis/nexis/git/refs/heads/release/v1.4.0"
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        deleted = await client.delete(path)
        again = await client.delete(path)
        gone = await client.get("/repos/nexis/nexis/branches/release/v1.4.0")
    assert (deleted.status_code, again.status_code, gone.status_code) == (204, 422, 404)
    assert sandbox.deletes == [path]
