"""The evidence tests' shared pieces: the loopback GitHub, the real client, a small template."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.checklist import parse_template
from bot.core.actors import AccessPolicy
from bot.core.clock import FakeClock
from bot.core.events import ReleaseSignalled, on_signal
from bot.evidence.domain import EvidenceSpec
from bot.evidence.github import GitHubClient
from bot.evidence.service import OUTBOX_KIND, TIMER_KIND, EvidenceService
from bot.evidence.wiring import EvidenceRunner
from bot.releases.service import ReleaseService, TemplateSource
from bot.sandbox.github import GitHubSandbox, seed_release
from tests.support.inbox import Inbox
from tests.support.store import Backbone, backbone

REPO = "nexis/nexis"
VERSION = "v1.4.0"
SPEC = EvidenceSpec(
    repository=REPO,
    assets=("nexis-v{version}-linux-x86_64.tar.gz",),
    required_checks=("all",),
)

TEMPLATE = """\
# Release Checklist

## Pre-Release Preparation

- [ ] Features done

## Release Process

### 1. Create Release Branch

- [ ] Release branch created {check=github.branch}
- [ ] Merged to main {check=github.merged}
- [ ] CI checks all pass {check=github.ci}
- [ ] Tag pushed {check=github.tag}
- [ ] Cargo.toml version updated {check=github.version_file}
- [ ] GitHub Release created {check=github.release}
- [ ] Artifacts attached {check=github.assets}
- [ ] CHANGELOG.md updated {check=github.changelog}
- [ ] Manual smoke test

## Post-Release

- [ ] Release branch deleted {check=github.branch_deleted}
"""
GITHUB_ITEMS = 8  # in the Release Process phase


@pytest.fixture
async def github(clock: FakeClock) -> AsyncIterator[GitHubSandbox]:
    """Serve a repository holding a good v1.4.0 on loopback (GitHub Enterprise path)."""
    server = GitHubSandbox(prefix="/api/v3", clock=clock.now)
    seed_release(server)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def client(github: GitHubSandbox, clock: FakeClock) -> GitHubClient:
    """Return the real githubkit-based client on the loopback server."""
    return GitHubClient(
        clock, base_url=github.base_url, token="ghp_test", web_url="https://github.example"
    )


@dataclass
class EvidenceWorld:
    """A migrated store, the release service on TEMPLATE and the evidence service."""

    base: Backbone
    releases: ReleaseService
    evidence: EvidenceService
    github: GitHubSandbox
    client: GitHubClient
    notices: Inbox


@pytest.fixture
async def world(engine: object, clock: FakeClock, github: GitHubSandbox, client: GitHubClient):  # type: ignore[no-untyped-def]
    """Return the evidence world, wired as `create_bot` wires it (timer, senders, event)."""
    base = backbone(engine, clock)
    source = TemplateSource(parse_template(TEMPLATE, "evidence.md"), TEMPLATE)
    releases = ReleaseService(
        uow=base.uow,
        clock=clock,
        policy=AccessPolicy(),
        template=lambda: source,
        services=["nexis-gateway"],
        events=base.events,
    )
    evidence = EvidenceService(
        uow=base.uow,
        clock=clock,
        releases=releases,
        specs={"nexis-gateway": SPEC},
        source=lambda: client,
    )
    base.timers.register(TIMER_KIND, evidence.fire)
    base.background.add_sender(OUTBOX_KIND, EvidenceRunner(evidence))
    base.events.subscribe(ReleaseSignalled, on_signal("phase_entered", evidence.on_phase_entered))
    notices = base.inbox("evidence.notice")
    return EvidenceWorld(base, releases, evidence, github, client, notices)
