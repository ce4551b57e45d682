"""Run the GitHub evidence checks of a release's items and tick the passing ones as the bot.

When: `/release verify [phase|all]`, when a phase opens (the `phase_entered` signal schedules
a durable timer due now, in the Advance's transaction), and every `[github] recheck_every`
while the phase stays open. The timer only enqueues an outbox message; the checks run from
the outbox, outside any transaction, so slow GitHub calls never hold the database.

What a verdict does to an item:
- pass, item open, its phase current: ticked as the bot with the evidence link (on the item
  and in the audit);
- fail of an item the bot ticked: reported in the release thread once per reason (never
  silently unticked);
- an item a person ticked or waived is never touched;
- inconclusive (rate-limited, unreachable): nothing changes; a retry is scheduled for the
  rate limit's reset time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.checklist.model import Phase, TemplateItem
from bot.core.actors import BOT_ACTOR, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import DomainError, InvalidInput, InvalidTransition, NotAuthorized
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.timers import TimerRecord
from bot.evidence.domain import (
    CHECK_KEYS,
    BranchFacts,
    CheckRun,
    CompareFacts,
    EvidenceSpec,
    GitHubUnavailable,
    ReleaseFacts,
    Verdict,
    VerdictStatus,
    assets_verdict,
    branch_deleted_verdict,
    branch_verdict,
    changelog_verdict,
    ci_verdict,
    merge_verdict,
    missing_settings,
    release_verdict,
    tag_verdict,
    version_file_verdict,
)
from bot.releases.domain.release import ItemState, Release, ReleaseSignal, ReleaseStatus
from bot.releases.service import ReleaseService

log = logging.getLogger(__name__)

TIMER_KIND = "evidence.check"
OUTBOX_KIND = "evidence.run"
NOTICE_KIND = "evidence.notice"
PREFIX = "github."


class FileLike(Protocol):
    """A file's text and page."""

    @property
    def text(self) -> str:
        """Return the text."""
        ...

    @property
    def url(self) -> str:
        """Return the page showing it."""
        ...


class EvidenceSource(Protocol):
    """What the checks read from GitHub (the githubkit adapter; raises GitHubUnavailable)."""

    def repo_url(self, repository: str) -> str:
        """Return the repository's web page."""
        ...

    async def branch(self, repository: str, name: str) -> BranchFacts | None:
        """Return the branch, or None."""
        ...

    async def tag(self, repository: str, tag: str) -> BranchFacts | None:
        """Return the tag, or None."""
        ...

    async def check_runs(self, repository: str, ref: str) -> list[CheckRun] | None:
        """Return the check runs on `ref`."""
        ...

    async def file(self, repository: str, path: str, ref: str) -> FileLike | None:
        """Return the file at `ref`, or None."""
        ...

    async def release(self, repository: str, tag: str) -> ReleaseFacts | None:
        """Return the GitHub Release, or None."""
        ...

    async def compare(self, repository: str, base: str, head: str) -> CompareFacts | None:
        """Return base...head, or None."""
        ...

    async def delete_branch(self, repository: str, name: str) -> bool:
        """Delete the branch; False if it was gone."""
        ...


@dataclass(frozen=True)
class ItemResult:
    """One checked item: its verdict and what the bot did with it."""

    item_id: str
    text: str
    check: str
    verdict: Verdict
    action: str  # ticked | done | person | waived | regressed | open | not current


@dataclass(frozen=True)
class VerifyReport:
    """Every checked item of a verify run."""

    release: Release
    scope: str
    results: tuple[ItemResult, ...] = ()
    note: str | None = None

    def by_status(self, status: VerdictStatus) -> list[ItemResult]:
        """Return the results with verdict `status`."""
        return [r for r in self.results if r.verdict.status is status]


@dataclass(frozen=True)
class BranchPlan:
    """What "Delete release branch" would delete and whether it may."""

    release_id: int
    repository: str
    branch: str
    merged: bool
    state: str  # "merged into main" / "2 commits not in main"

    def question(self) -> str:
        """Return the private confirmation's text."""
        if not self.merged:
            return (
                f"⛔ `{self.branch}` in {self.repository} is not merged: {self.state}. "
                "Deleting it is refused; merge it first."
            )
        return (
            f"Delete `{self.branch}` in {self.repository}? It is {self.state}. "
            "This deletes the branch on GitHub."
        )


class EvidenceRun:
    """One verify pass: each GitHub read at most once, shared by the items that need it."""

    def __init__(self, source: EvidenceSource, spec: EvidenceSpec, version: str) -> None:
        self.source = source
        self.spec = spec
        self.version = version
        self.repo = spec.repository or ""
        self._memo: dict[str, Any] = {}

    async def _once(self, key: str, read: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._memo:
            self._memo[key] = await read()
        return self._memo[key]

    async def _tag(self) -> BranchFacts | None:
        tag = self.spec.tag(self.version)
        found: BranchFacts | None = await self._once("tag", lambda: self.source.tag(self.repo, tag))
        return found

    async def _branch(self) -> BranchFacts | None:
        name = self.spec.branch(self.version)
        found: BranchFacts | None = await self._once(
            "branch", lambda: self.source.branch(self.repo, name)
        )
        return found

    async def _release(self) -> ReleaseFacts | None:
        tag = self.spec.tag(self.version)
        found: ReleaseFacts | None = await self._once(
            "release", lambda: self.source.release(self.repo, tag)
        )
        return found

    async def check(self, key: str) -> Verdict:
        """Return the verdict of check `key` (exceptions from GitHub become inconclusive)."""
        try:
            return await self._check(key)
        except GitHubUnavailable as exc:
            return Verdict.inconclusive(exc.reason, exc.retry_at)

    async def _check(self, key: str) -> Verdict:
        spec, version = self.spec, self.version
        branch, tag = spec.branch(version), spec.tag(version)
        if key == "github.branch":
            return branch_verdict(await self._branch(), branch)
        if key == "github.branch_deleted":
            return branch_deleted_verdict(
                await self._branch(), branch, self.source.repo_url(self.repo)
            )
        if key == "github.merged":
            compare = await self._once(
                "compare", lambda: self.source.compare(self.repo, spec.main_branch, branch)
            )
            return merge_verdict(compare, branch, spec.main_branch)
        if key == "github.ci":
            ref = spec.ci(version)
            runs = await self._once("ci", lambda: self.source.check_runs(self.repo, ref))
            if runs is None:
                return Verdict.failed(f"`{ref}` not found, so no check runs")
            return ci_verdict(runs, spec.required_checks, ref)
        if key == "github.tag":
            return tag_verdict(await self._tag(), tag)
        if key == "github.version_file":
            ref = await self._release_ref()
            path = spec.version_file or ""
            found = await self._once("version_file", lambda: self.source.file(self.repo, path, ref))
            text, url = (found.text, found.url) if found else (None, "")
            return version_file_verdict(text, path, spec.version_key, version, ref, url)
        if key == "github.release":
            return release_verdict(await self._release(), tag)
        if key == "github.assets":
            return assets_verdict(await self._release(), spec.assets, version)
        if key == "github.changelog":
            ref = await self._release_ref()
            found = await self._once(
                "changelog", lambda: self.source.file(self.repo, spec.changelog, ref)
            )
            text, url = (found.text, found.url) if found else (None, "")
            return changelog_verdict(
                text, spec.changelog, version, spec.changelog_headings, ref, url
            )
        return Verdict.failed(f"unknown check {key!r} (known: {', '.join(CHECK_KEYS)})")

    async def _release_ref(self) -> str:
        """Where files are read: the tag once it exists, else the release branch, else main.

        So the Pre-Release items (CHANGELOG, Cargo.toml bumped) can pass before the tag, and
        once it is pushed the version file is checked at the tag itself.
        """
        if await self._tag() is not None:
            return self.spec.tag(self.version)
        if await self._branch() is not None:
            return self.spec.branch(self.version)
        return self.spec.main_branch


@dataclass
class EvidenceService:
    """Check a release's github.* items against GitHub and tick the passing ones as the bot."""

    uow: UnitOfWorkFactory
    clock: Clock
    releases: ReleaseService
    specs: Mapping[str, EvidenceSpec]
    source: Callable[[], EvidenceSource] | None
    recheck: timedelta = timedelta(minutes=5)
    delete_roles: frozenset[str] = frozenset({"release_lead", "devops"})
    enabled: bool = True
    _cached: EvidenceSource | None = field(default=None, repr=False)

    def github(self) -> EvidenceSource:
        """Return the GitHub client (built on first use)."""
        if self.source is None or not self.enabled:
            raise InvalidInput("GitHub evidence is off ([github] enabled = false)")
        if self._cached is None:
            self._cached = self.source()
        return self._cached

    def spec(self, service: str) -> EvidenceSpec:
        """Return the service's GitHub settings, or say which are missing."""
        spec = self.specs.get(service)
        if spec is None or not spec.repository:
            raise InvalidInput(
                f"service {service!r} has no GitHub repository ([services.github] repository)"
            )
        return spec

    # ----- verify --------------------------------------------------------------------------

    async def verify(
        self, release_id: int, phase: str | None = None, *, source: Source = Source.SLASH
    ) -> VerifyReport:
        """Run the checks of `phase` (None: the current one; "all": every phase)."""
        release = await self.releases.get(release_id)
        phases = _phases(release, phase)
        scope = "all phases" if phase == "all" else ", ".join(p.title for p in phases) or "-"
        items = [i for p in phases for i in release.phase_items(p) if _is_github(i)]
        if not items:
            return VerifyReport(release, scope, note="no item of it carries a github.* check")
        spec = self.spec(release.service)
        run = EvidenceRun(self.github(), spec, str(release.version))
        results: list[ItemResult] = []
        retry_at: datetime | None = None
        for item in items:
            missing = missing_settings(spec, item.check or "")
            if missing:
                verdict = Verdict.inconclusive(f"needs [services.github] {', '.join(missing)}")
            else:
                verdict = await run.check(item.check or "")
            if verdict.retry_at is not None:
                retry_at = max(retry_at or verdict.retry_at, verdict.retry_at)
            release, action = await self._apply(release, item, verdict, source)
            results.append(ItemResult(item.id, item.text, item.check or "", verdict, action))
        if retry_at is not None and release.is_active:
            await self._schedule_retry(release, retry_at)
        return VerifyReport(await self.releases.get(release_id), scope, tuple(results))

    async def _apply(
        self, release: Release, item: TemplateItem, verdict: Verdict, source: Source
    ) -> tuple[Release, str]:
        progress = release.progress(item.id)
        current = release.current_phase
        if progress.state is ItemState.WAIVED:
            return release, "waived"
        if progress.state is ItemState.DONE:
            if progress.actor_id != BOT_ACTOR.id:
                return release, "person"
            if verdict.status is VerdictStatus.FAIL:
                await self._report_regression(release, item, verdict)
                return release, "regressed"
            return release, "done"
        if not verdict.is_pass:
            return release, "open"
        if current is None or item.phase_key != current.key or not release.is_active:
            return release, "not current"
        try:
            ticked = await self.releases.tick(
                release.id or 0, item.id, BOT_ACTOR, source, evidence=verdict.link
            )
        except DomainError as exc:
            log.info("evidence for %s not ticked: %s", item.id, exc.message)
            return release, f"not ticked: {exc.message}"
        return ticked, "ticked"

    async def _report_regression(
        self, release: Release, item: TemplateItem, verdict: Verdict
    ) -> None:
        """Tell the thread (once per reason) that an item the bot ticked fails now."""
        now = self.clock.now()
        key = f"evidence-regressed:{release.id}:{item.id}:{verdict.reason}"[:200]
        async with self.uow() as uow:
            queued = await uow.outbox.enqueue(
                NOTICE_KIND,
                {
                    "kind": "regressed",
                    "release_id": release.id,
                    "item": item.id,
                    "text": item.text,
                    "check": item.check,
                    "reason": verdict.reason,
                    "link": verdict.link or "",
                },
                key,
                now,
                order_key=f"evidence:{release.id}",
            )
            if queued is not None:
                await uow.audit.append(
                    AuditEvent.record(
                        BOT_ACTOR,
                        "evidence_regressed",
                        item.id,
                        now,
                        Source.SYSTEM,
                        release.id,
                        check=item.check or "",
                        reason=verdict.reason,
                    )
                )
            await uow.commit()

    async def _schedule_retry(self, release: Release, at: datetime) -> None:
        current = release.current_phase
        if current is None:
            return
        async with self.uow() as uow:
            pending = await uow.timers.pending(kind=TIMER_KIND, ref_id=release.id)
            if any(t.payload.get("chain") == "retry" for t in pending):
                return
            await uow.timers.schedule(
                TIMER_KIND,
                release.id or 0,
                at,
                token=release.phase_index,
                payload={"phase": current.key, "chain": "retry"},
            )
            await uow.commit()

    # ----- when checks run ------------------------------------------------------------------

    async def on_phase_entered(
        self, uow: UnitOfWork, release: Release, signal: ReleaseSignal
    ) -> None:
        """Schedule the phase's first check, due now (in the Advance's transaction)."""
        if not self.enabled or self.source is None or release.id is None:
            return
        spec = self.specs.get(release.service)
        phase = release.current_phase
        if spec is None or not spec.repository or phase is None:
            return
        items = [i for i in release.phase_items(phase) if _is_github(i)]
        if not items:
            return
        cleanup = next((i for i in items if i.check == "github.branch_deleted"), None)
        if cleanup is not None:
            branch = spec.branch(str(release.version))
            await uow.outbox.enqueue(
                NOTICE_KIND,
                {
                    "kind": "offer_delete",
                    "release_id": release.id,
                    "item": cleanup.id,
                    "text": cleanup.text,
                    "branch": branch,
                    "repository": spec.repository,
                },
                f"evidence-offer-delete:{release.id}:{release.phase_index}",
                self.clock.now(),
                order_key=f"evidence:{release.id}",
            )
        await uow.timers.schedule(
            TIMER_KIND,
            release.id,
            self.clock.now(),
            token=release.phase_index,
            payload={"phase": phase.key, "chain": "recheck"},
        )

    async def fire(self, uow: UnitOfWork, timer: TimerRecord, now: datetime) -> None:
        """Queue a check run of the timer's phase; reschedule while the phase stays open."""
        release = await uow.releases.get(timer.ref_id)
        if release.status is not ReleaseStatus.ACTIVE or release.phase_index != timer.token:
            return  # the phase was advanced (or the release ended): this timer is stale
        phase = str(timer.payload.get("phase", ""))
        await uow.outbox.enqueue(
            OUTBOX_KIND,
            {"release_id": timer.ref_id, "phase": phase},
            f"evidence-run:{timer.ref_id}:{timer.id}",
            now,
            order_key=f"evidence:{timer.ref_id}",
        )
        if timer.payload.get("chain") == "recheck":
            await uow.timers.schedule(
                TIMER_KIND,
                timer.ref_id,
                now + self.recheck,
                token=timer.token,
                payload=dict(timer.payload),
            )

    async def run_queued(self, payload: Mapping[str, Any]) -> str:
        """Run the checks an outbox message asks for; return a one-line summary."""
        release_id = int(payload["release_id"])
        release = await self.releases.get(release_id)
        phase = str(payload.get("phase") or "")
        if not release.is_active or release.current_phase is None:
            return "the release is not active"
        if phase != release.current_phase.key:
            return f"phase {phase} is closed"
        report = await self.verify(release_id, phase, source=Source.TIMER)
        counts = {s: len(report.by_status(s)) for s in VerdictStatus}
        ticked = sum(1 for r in report.results if r.action == "ticked")
        return (
            f"{counts[VerdictStatus.PASS]} pass, {counts[VerdictStatus.FAIL]} fail, "
            f"{counts[VerdictStatus.INCONCLUSIVE]} inconclusive; ticked {ticked}"
        )

    # ----- Delete release branch ------------------------------------------------------------

    async def _authorize_delete(self, release: Release, actor: Actor, source: Source) -> None:
        if any(actor.holds(role) for role in self.delete_roles):
            return
        denied = NotAuthorized("delete the release branch", actor.name, self.delete_roles)
        await self.releases.record_denial(
            release.id, actor, "delete_branch", release.name, source, denied.message
        )
        raise denied

    async def plan_delete(self, release_id: int, actor: Actor, source: Source) -> BranchPlan:
        """Check the role now, then read the branch's merge state (compare with main)."""
        release = await self.releases.get(release_id)
        await self._authorize_delete(release, actor, source)
        spec = self.spec(release.service)
        github = self.github()
        branch = spec.branch(str(release.version))
        try:
            compare = await github.compare(spec.repository or "", spec.main_branch, branch)
        except GitHubUnavailable as exc:
            raise InvalidInput(f"cannot read `{branch}` from GitHub: {exc.reason}") from exc
        if compare is None:
            raise InvalidInput(f"`{branch}` does not exist in {spec.repository} (already deleted?)")
        verdict = merge_verdict(compare, branch, spec.main_branch)
        state = (
            f"merged into `{spec.main_branch}`"
            if verdict.is_pass
            else f"{compare.ahead_by} commit{'s' if compare.ahead_by != 1 else ''} not in "
            f"`{spec.main_branch}`"
        )
        return BranchPlan(release_id, spec.repository or "", branch, verdict.is_pass, state)

    async def delete_branch(self, release_id: int, actor: Actor, source: Source) -> BranchPlan:
        """Delete the merged release branch (roles and merge state checked again, now)."""
        plan = await self.plan_delete(release_id, actor, source)
        release = await self.releases.get(release_id)
        now = self.clock.now()
        if not plan.merged:
            await self.releases.record_denial(
                release_id, actor, "delete_branch", plan.branch, source, f"not merged: {plan.state}"
            )
            raise InvalidTransition(
                f"`{plan.branch}` is not merged ({plan.state}); it was not deleted"
            )
        try:
            await self.github().delete_branch(plan.repository, plan.branch)
        except GitHubUnavailable as exc:
            raise InvalidInput(f"GitHub did not delete `{plan.branch}`: {exc.reason}") from exc
        async with self.uow() as uow:
            await uow.audit.append(
                AuditEvent.record(
                    actor,
                    "delete_branch",
                    plan.branch,
                    now,
                    source,
                    release.id,
                    repository=plan.repository,
                    state=plan.state,
                )
            )
            await uow.commit()
        if release.is_active:
            await self.verify(release_id, None, source=Source.SYSTEM)
        return plan


def _is_github(item: TemplateItem) -> bool:
    return bool(item.check and item.check.startswith(PREFIX))


def _phases(release: Release, phase: str | None) -> Sequence[Phase]:
    if phase == "all":
        return release.phases
    if phase:
        return [release.phases[release.phase_position(phase)]]
    current = release.current_phase
    return [current] if current is not None else []
