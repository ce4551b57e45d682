"""Build the GitHub evidence feature from settings: specs per service, the client, the timer.

`bot.app.create_bot` calls `wire_evidence` once; tests point `[github] api_url` at the
loopback GitHub (bot/sandbox/github.py) or pass `source` (a factory of an EvidenceSource).
The `phase_entered` subscription is in `bot.app.events`; the outbox senders are registered by
the chat extension (the thread notices) and here (the check runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.checklist.model import TemplateItem
from bot.config import SECRET_ENV, ConfigProblem, Settings
from bot.core.clock import Clock
from bot.core.ports import UnitOfWorkFactory
from bot.evidence.domain import EvidenceSpec, missing_settings
from bot.evidence.github import GitHubClient
from bot.evidence.service import OUTBOX_KIND, TIMER_KIND, EvidenceService, EvidenceSource
from bot.releases.service import ReleaseService
from bot.runtime.background import Background
from bot.runtime.outbox import OutboxMessage
from bot.runtime.timers import TimerService


def specs_from_settings(settings: Settings) -> dict[str, EvidenceSpec]:
    """Return each service's EvidenceSpec (services without `[services.github]` have none)."""
    found: dict[str, EvidenceSpec] = {}
    for service in settings.services:
        gh = service.github
        if gh is None:
            continue
        found[service.name] = EvidenceSpec(
            repository=gh.repository,
            main_branch=gh.main_branch,
            branch_pattern=gh.branch_pattern,
            tag_pattern=gh.tag_pattern,
            version_file=gh.version_file,
            version_key=gh.version_key,
            assets=tuple(gh.assets),
            required_checks=tuple(gh.required_checks),
            changelog=gh.changelog,
            changelog_headings=tuple(gh.changelog_headings),
            ci_ref=gh.ci_ref,
        )
    return found


def client_factory(settings: Settings, clock: Clock) -> Callable[[], EvidenceSource]:
    """Return a factory of the githubkit client with the configured URL and credentials."""

    def build() -> EvidenceSource:
        gh = settings.github
        token = settings.secrets.github_token
        key = settings.secrets.github_app_private_key
        app = None
        if key is not None and gh.app_id is not None and gh.installation_id is not None:
            app = (gh.app_id, key.get_secret_value(), gh.installation_id)
        return GitHubClient(
            clock,
            base_url=gh.api_url,
            token=token.get_secret_value() if token else None,
            app=app,
            web_url=gh.web_url,
            timeout=gh.timeout_seconds,
        )

    return build


def github_problems(
    settings: Settings, valid: frozenset[str], items: Sequence[TemplateItem]
) -> list[ConfigProblem]:
    """Return, for `check-config`, each github.* check whose settings a service leaves empty.

    Only with `[github] enabled = true` (off, the items are ticked by hand and nothing is
    missing). A missing token is a warning: GitHub allows 60 unauthenticated requests an hour.
    """
    if not settings.github.enabled or not {"github", "services"} <= valid:
        return []
    checks: dict[str, list[str]] = {}
    for item in items:
        if (item.check or "").startswith("github."):
            checks.setdefault(item.check or "", []).append(item.id)
    if not checks:
        return []
    found: list[ConfigProblem] = []
    specs = specs_from_settings(settings)
    for index, service in enumerate(settings.services):
        spec = specs.get(service.name, EvidenceSpec())
        for check, ids in checks.items():
            for name in missing_settings(spec, check):
                found.append(
                    ConfigProblem(
                        f"services[{index}].github.{name}",
                        f"required by check={check} (items {', '.join(ids)}) of service "
                        f"{service.name}; set it in [services.github]",
                    )
                )
    secrets = settings.secrets
    if secrets.github_token is None and secrets.github_app_private_key is None:
        found.append(
            ConfigProblem(
                "github.enabled",
                f"true, but neither {SECRET_ENV['github_token']} nor "
                f"{SECRET_ENV['github_app_private_key']} is set: GitHub allows 60 "
                "unauthenticated requests an hour and private repositories are unreadable",
                warning=True,
            )
        )
    return found


class EvidenceRunner:
    """The outbox sender of `evidence.run`: run the queued checks outside any transaction."""

    def __init__(self, service: EvidenceService) -> None:
        self.service = service

    async def send(self, msg: OutboxMessage) -> str | None:
        """Run the checks the message names; return the summary."""
        return await self.service.run_queued(msg.payload)


@dataclass
class EvidenceFeature:
    """The evidence service of one bot."""

    service: EvidenceService


def wire_evidence(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    releases: ReleaseService,
    timers: TimerService,
    background: Background | None,
    *,
    source: Callable[[], EvidenceSource] | None = None,
) -> EvidenceFeature:
    """Return the evidence feature; register its timer and its check-run sender."""
    gh = settings.github
    service = EvidenceService(
        uow=uow,
        clock=clock,
        releases=releases,
        specs=specs_from_settings(settings),
        source=source or client_factory(settings, clock),
        recheck=gh.recheck_every,
        delete_roles=frozenset(gh.delete_branch_roles),
        enabled=gh.enabled,
    )
    timers.register(TIMER_KIND, service.fire)
    if background is not None:
        background.add_sender(OUTBOX_KIND, EvidenceRunner(service))
    return EvidenceFeature(service)
