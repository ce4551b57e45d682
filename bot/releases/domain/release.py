"""The release aggregate: phases, items, sign-offs, gates and the side exits.

Every mutating method checks authorization and state, changes the release, and appends an
`AuditEvent` (and, where other parts of the system must react, a `ReleaseSignal`). Nothing here
does I/O; the store persists what changed and the services deliver the signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from bot.checklist.model import ChecklistTemplate, Phase, SignOffSpec, TemplateItem
from bot.core.actors import BOT_ACTOR, AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.errors import (
    GatesOpen,
    InvalidInput,
    InvalidTransition,
    NotAuthorized,
    UnknownTarget,
)
from bot.releases.domain.values import DeploymentWindow, Version

MIN_REASON = 3


class ReleaseStatus(StrEnum):
    """Where a release stands overall; the phase index refines ACTIVE."""

    ACTIVE = "active"
    COMPLETED = "completed"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled_back"


class ItemState(StrEnum):
    """The state of one checklist item."""

    OPEN = "open"
    DONE = "done"
    WAIVED = "waived"


@dataclass
class ItemProgress:
    """Who moved an item to its state, when, and why (for waivers)."""

    item_id: str
    state: ItemState = ItemState.OPEN
    actor_id: str | None = None
    actor_name: str | None = None
    at: datetime | None = None
    reason: str | None = None
    source: str | None = None


@dataclass
class SignOff:
    """A given sign-off: who and when."""

    key: str
    actor_id: str
    actor_name: str
    at: datetime


@dataclass(frozen=True)
class ReleaseSignal:
    """Something other parts of the system react to (e.g. production deployed)."""

    kind: str
    release_id: int | None
    at: datetime
    detail: tuple[tuple[str, str], ...] = ()


WINDOW_MARK = "production_deployed"
"""The item mark that says production is deployed: ticking it by hand respects the window."""


@dataclass(frozen=True)
class Hold:
    """Something outside the checklist that keeps a release from finishing yet.

    Another feature reports it (the monitoring window: "open until 02 Dec 23:40 UTC"); `gate`
    is the line shown among the open gates, `signoffs` the sign-off keys it refuses, and
    `completion` whether it also refuses the final Advance.
    """

    gate: str
    signoffs: frozenset[str] = frozenset()
    completion: bool = True


def require_reason(reason: str | None, what: str) -> str:
    """Return the stripped reason or raise InvalidInput naming `what` needs one."""
    text = (reason or "").strip()
    if len(text) < MIN_REASON:
        raise InvalidInput(f"{what} needs a reason of at least {MIN_REASON} characters")
    return text


@dataclass
class Release:
    """One release of one service moving through its checklist template's phases."""

    service: str
    version: Version
    lead_id: str
    lead_name: str
    template: ChecklistTemplate
    created_at: datetime
    id: int | None = None
    target_date: date | None = None
    window: DeploymentWindow | None = None
    status: ReleaseStatus = ReleaseStatus.ACTIVE
    phase_index: int = 0
    closed_at: datetime | None = None
    close_reason: str | None = None
    revision: int = 0
    items: dict[str, ItemProgress] = field(default_factory=dict)
    signoffs: dict[str, SignOff] = field(default_factory=dict)
    events: list[AuditEvent] = field(default_factory=list)
    signals: list[ReleaseSignal] = field(default_factory=list)
    dirty_items: set[str] = field(default_factory=set)
    dirty_signoffs: set[str] = field(default_factory=set)

    def copy(self) -> Release:
        """Return a private copy to change: the progress records are replaced, never edited,
        so new dicts are enough, and the copy starts with no pending events or changes."""
        return replace(
            self,
            items=dict(self.items),
            signoffs=dict(self.signoffs),
            events=[],
            signals=[],
            dirty_items=set(),
            dirty_signoffs=set(),
        )

    # ----- queries -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Return `service version`, the release's human name."""
        return f"{self.service} {self.version}"

    @property
    def phases(self) -> tuple[Phase, ...]:
        """Return the workflow phases in order."""
        return self.template.workflow_phases()

    @property
    def current_phase(self) -> Phase | None:
        """Return the phase the release is in, or None once it is closed."""
        if self.status is not ReleaseStatus.ACTIVE:
            return None
        return self.phases[self.phase_index]

    @property
    def is_active(self) -> bool:
        """Return True while the release can still change."""
        return self.status is ReleaseStatus.ACTIVE

    def phase_position(self, phase_key: str) -> int:
        """Return the index of `phase_key` among the workflow phases."""
        for index, phase in enumerate(self.phases):
            if phase.key == phase_key:
                return index
        raise UnknownTarget(f"phase {phase_key!r} is not part of this release's checklist")

    def progress(self, item_id: str) -> ItemProgress:
        """Return the progress record of `item_id` (open if never touched)."""
        self.item(item_id)
        return self.items.get(item_id) or ItemProgress(item_id)

    def item(self, item_id: str) -> TemplateItem:
        """Return the template item `item_id` or raise UnknownTarget."""
        try:
            return self.template.item(item_id)
        except KeyError:
            raise UnknownTarget(f"there is no checklist item {item_id!r} in {self.name}") from None

    def signoff_spec(self, key: str) -> SignOffSpec:
        """Return the sign-off spec `key` or raise UnknownTarget."""
        for spec in self.template.signoffs:
            if spec.key == key:
                return spec
        known = ", ".join(s.key for s in self.template.signoffs) or "none"
        raise UnknownTarget(f"there is no sign-off {key!r} (known: {known})")

    def phase_items(self, phase: Phase) -> tuple[TemplateItem, ...]:
        """Return every checklist item of `phase`."""
        return phase.all_items()

    def phase_signoffs(self, phase: Phase) -> tuple[SignOffSpec, ...]:
        """Return the sign-offs that gate `phase`."""
        return tuple(s for s in self.template.signoffs if s.phase_key == phase.key)

    def open_gates(self, phase: Phase | None = None) -> list[str]:
        """Return a readable line per unmet gate of `phase` (default: the current phase)."""
        phase = phase or self.current_phase
        if phase is None:
            return []
        gates = [
            f"item not done: {item.text} ({' › '.join(item.section_path[1:]) or phase.title})"
            for item in self.phase_items(phase)
            if item.required and self.progress(item.id).state is ItemState.OPEN
        ]
        gates += [
            f"sign-off missing: {spec.label or spec.key} ({spec.role})"
            for spec in self.phase_signoffs(phase)
            if spec.key not in self.signoffs
        ]
        return gates

    def blocking_signoff(self, item: TemplateItem) -> SignOffSpec | None:
        """Return the ungiven sign-off that locks `item`'s section, if any."""
        for spec in self.template.signoffs:
            if spec.blocks is None or spec.key in self.signoffs:
                continue
            if item.section_key == spec.blocks or item.section_key.startswith(f"{spec.blocks}/"):
                return spec
        return None

    # ----- guards ---------------------------------------------------------------------------

    def _require_active(self) -> Phase:
        phase = self.current_phase
        if phase is None:
            raise InvalidTransition(f"{self.name} is {self.status.value.replace('_', ' ')}")
        return phase

    def _require_in_current_phase(self, phase_key: str, what: str) -> None:
        current = self._require_active()
        if phase_key != current.key:
            owner = self.phases[self.phase_position(phase_key)].title
            raise InvalidTransition(
                f"{what} belongs to {owner}; {self.name} is in {current.title}"
                + (
                    " (that phase is closed)"
                    if self.phase_position(phase_key) < self.phase_index
                    else ""
                )
            )

    def _record(
        self, actor: Actor, action: str, target: str, now: datetime, source: Source, **detail: str
    ) -> None:
        self.events.append(AuditEvent.record(actor, action, target, now, source, self.id, **detail))

    def deny(
        self, actor: Actor, action: str, target: str, now: datetime, source: Source, reason: str
    ) -> AuditEvent:
        """Record and return a denial event for an attempt that was refused."""
        event = AuditEvent.record(
            actor, "denied", target, now, source, self.id, attempted=action, reason=reason
        )
        self.events.append(event)
        return event

    # ----- item commands ----------------------------------------------------------------------

    def _authorize_item(
        self, item: TemplateItem, actor: Actor, policy: AccessPolicy, action: str
    ) -> None:
        if action == "tick" and item.role is not None:
            holds = actor.holds(item.role) or (
                item.role == "release_lead" and actor.id == self.lead_id
            )
            if not holds:
                raise NotAuthorized("tick", actor.name, [item.role], f"“{item.text}”")
            return
        policy.require(actor, action, lead_id=self.lead_id, target=f"“{item.text}”")

    def window_refusal(self, item: TemplateItem, now: datetime) -> str | None:
        """Return why ticking `item` by hand now falls outside the deployment window, if it does.

        Only the item that says production is deployed (marks=production_deployed) is held to
        the release's deployment window, as `/release deploy production` is. A release started
        without a window keeps its hand tick (the deploy command refuses it: it has no window to
        respect, but a person saying "it is deployed" may be reporting a fact).
        """
        if item.marks != WINDOW_MARK or self.window is None or self.window.contains(now):
            return None
        when = "has not opened yet" if now < self.window.start else "has closed"
        return f"the deployment window {self.window} {when} (now {now:%Y-%m-%d %H:%M} UTC)"

    def tick(
        self,
        item_id: str,
        actor: Actor,
        now: datetime,
        source: Source,
        policy: AccessPolicy,
        override: str | None = None,
        evidence: str | None = None,
    ) -> None:
        """Mark `item_id` done (the production-deployed item only in the window or overridden).

        `evidence`: what proves it (a link), kept on the item and in the audit (bot ticks).
        """
        item = self.item(item_id)
        self._require_in_current_phase(item.phase_key, f"“{item.text}”")
        self._authorize_item(item, actor, policy, "tick")
        blocker = self.blocking_signoff(item)
        if blocker is not None:
            raise InvalidTransition(
                f"“{item.text}” is locked until the sign-off “{blocker.label or blocker.key}” "
                f"({blocker.role}) is given"
            )
        if self.progress(item_id).state is not ItemState.OPEN:
            raise InvalidTransition(
                f"“{item.text}” is already {self.progress(item_id).state.value}"
            )
        refusal = None if actor.is_bot else self.window_refusal(item, now)
        reason = ""
        if refusal is not None:
            if not override or not override.strip():
                roles = ", ".join(sorted(policy.allowed_roles("override_window")))
                raise InvalidTransition(
                    f"ticking “{item.text}” refused: {refusal}. Someone with one of these roles "
                    f"can tick it anyway with an override reason: {roles}"
                )
            policy.require(actor, "override_window", lead_id=self.lead_id, target=self.name)
            reason = require_reason(override, "overriding the deployment window")
        kept = reason or (evidence if actor.is_bot else None) or None
        self._set_item(
            ItemProgress(item_id, ItemState.DONE, actor.id, actor.name, now, kept, source)
        )
        proof = {"evidence": evidence} if evidence and actor.is_bot else {}
        self._record(actor, "tick", item_id, now, source, text=item.text, **proof)
        if refusal is not None:
            self._record(
                actor,
                "override_window",
                self.name,
                now,
                source,
                reason=reason,
                window=refusal,
                item=item_id,
            )
        if item.marks:
            self.signals.append(ReleaseSignal(item.marks, self.id, now, (("item", item_id),)))

    def untick(
        self,
        item_id: str,
        actor: Actor,
        now: datetime,
        source: Source,
        policy: AccessPolicy,
        reason: str | None = None,
    ) -> None:
        """Reopen a done or waived item while its phase is open."""
        item = self.item(item_id)
        self._require_in_current_phase(item.phase_key, f"“{item.text}”")
        current = self.progress(item_id)
        if current.state is ItemState.OPEN:
            raise InvalidTransition(f"“{item.text}” is not ticked")
        action = "waive" if current.state is ItemState.WAIVED else "tick"
        self._authorize_item(item, actor, policy, action)
        if current.actor_id == "releasebot" and not actor.is_bot:
            reason = require_reason(reason, f"unticking the automatic check “{item.text}”")
        self._set_item(
            ItemProgress(item_id, ItemState.OPEN, actor.id, actor.name, now, reason, source)
        )
        self._record(actor, "untick", item_id, now, source, text=item.text, reason=reason or "")

    def waive(
        self,
        item_id: str,
        reason: str,
        actor: Actor,
        now: datetime,
        source: Source,
        policy: AccessPolicy,
    ) -> None:
        """Waive `item_id` with a reason (skipped on purpose)."""
        item = self.item(item_id)
        self._require_in_current_phase(item.phase_key, f"“{item.text}”")
        policy.require(actor, "waive", lead_id=self.lead_id, target=f"“{item.text}”")
        text = require_reason(reason, f"waiving “{item.text}”")
        if self.progress(item_id).state is not ItemState.OPEN:
            raise InvalidTransition(
                f"“{item.text}” is already {self.progress(item_id).state.value}"
            )
        self._set_item(
            ItemProgress(item_id, ItemState.WAIVED, actor.id, actor.name, now, text, source)
        )
        self._record(actor, "waive", item_id, now, source, text=item.text, reason=text)

    def credit(
        self, item_id: str, evidence: str, now: datetime, **detail: str
    ) -> ItemProgress | None:
        """Tick `item_id` as the bot from measured `evidence`, if nobody decided it already.

        A monitoring item is ticked when its part of the window passed clean, possibly before
        its phase is the current one (the measurements do not wait for an Advance); never in
        a closed phase, never over a person's tick, waiver or untick (`None` then).
        """
        item = self.item(item_id)
        if not self.is_active or self.phase_position(item.phase_key) < self.phase_index:
            return None
        current = self.progress(item_id)
        if current.state is not ItemState.OPEN or current.actor_id not in (None, BOT_ACTOR.id):
            return None
        if self.blocking_signoff(item) is not None:
            return None
        progress = ItemProgress(
            item_id, ItemState.DONE, BOT_ACTOR.id, BOT_ACTOR.name, now, evidence, Source.SYSTEM
        )
        self._set_item(progress)
        self._record(
            BOT_ACTOR, "tick", item_id, now, Source.SYSTEM, text=item.text, evidence=evidence,
            **detail,
        )  # fmt: skip
        return progress

    def _set_item(self, progress: ItemProgress) -> None:
        self.items[progress.item_id] = progress
        self.dirty_items.add(progress.item_id)

    # ----- sign-offs ------------------------------------------------------------------------

    def _authorize_signoff(self, spec: SignOffSpec, actor: Actor) -> None:
        if actor.holds(spec.role) or (spec.role == "release_lead" and actor.id == self.lead_id):
            return
        raise NotAuthorized("sign off", actor.name, [spec.role], f"“{spec.label or spec.key}”")

    def sign(
        self, key: str, actor: Actor, now: datetime, source: Source, holds: Sequence[Hold] = ()
    ) -> None:
        """Record sign-off `key` by `actor`, who must hold its role (and no hold refuses it)."""
        spec = self.signoff_spec(key)
        self._authorize_signoff(spec, actor)
        self._require_in_current_phase(spec.phase_key, f"the sign-off “{spec.label or key}”")
        held = [hold.gate for hold in holds if key in hold.signoffs]
        if held:
            listed = "\n".join(f"- {gate}" for gate in held)
            raise InvalidTransition(
                f"“{spec.label or key}” cannot be signed yet; open gates:\n{listed}"
            )
        if key in self.signoffs:
            raise InvalidTransition(
                f"“{spec.label or key}” was already signed by {self.signoffs[key].actor_name}"
            )
        self.signoffs[key] = SignOff(key, actor.id, actor.name, now)
        self.dirty_signoffs.add(key)
        self._record(actor, "sign", key, now, source, label=spec.label)

    def withdraw(self, key: str, actor: Actor, now: datetime, source: Source) -> None:
        """Withdraw sign-off `key` while its phase is open (the signer or a holder of its role)."""
        spec = self.signoff_spec(key)
        given = self.signoffs.get(key)
        if given is None:
            raise InvalidTransition(f"“{spec.label or key}” has not been signed")
        if given.actor_id != actor.id:
            self._authorize_signoff(spec, actor)
        self._require_in_current_phase(spec.phase_key, f"the sign-off “{spec.label or key}”")
        del self.signoffs[key]
        self.dirty_signoffs.add(key)
        self._record(actor, "withdraw", key, now, source, label=spec.label)

    # ----- phase transitions ------------------------------------------------------------------

    def advance(
        self,
        actor: Actor,
        now: datetime,
        source: Source,
        policy: AccessPolicy,
        phase_key: str | None = None,
        holds: Sequence[Hold] = (),
    ) -> None:
        """Close phase `phase_key` (default: the current one) if its gates hold.

        The last phase completes the release, unless a hold (an open monitoring window) says
        it must wait. Naming the phase makes the close idempotent: a second click on the
        same Advance finds the phase closed and is told so instead of closing the next one.
        """
        if phase_key is not None and self.is_active:
            position = self.phase_position(phase_key)
            if position < self.phase_index:
                raise InvalidTransition(
                    f"{self.phases[position].title} was already advanced; {self.name} is in "
                    f"{self.phases[self.phase_index].title}"
                )
        elif phase_key is not None:
            raise InvalidTransition(
                f"{self.phases[self.phase_position(phase_key)].title} was already advanced; "
                f"{self.name} is {self.status.value.replace('_', ' ')}"
            )
        phase = self._require_active()
        if phase_key is not None and phase_key != phase.key:
            raise InvalidTransition(
                f"{self.phases[self.phase_position(phase_key)].title} is not open yet; "
                f"{self.name} is in {phase.title}"
            )
        policy.require(actor, "advance", lead_id=self.lead_id, target=self.name)
        gates = self.open_gates(phase)
        if self.phase_index + 1 >= len(self.phases):
            gates += [hold.gate for hold in holds if hold.completion]
        if gates:
            raise GatesOpen(phase.title, gates)
        if self.phase_index + 1 < len(self.phases):
            self.phase_index += 1
            self._record(
                actor, "advance", phase.key, now, source, to=self.phases[self.phase_index].key
            )
            self.signals.append(
                ReleaseSignal(
                    "phase_entered", self.id, now, (("phase", self.phases[self.phase_index].key),)
                )
            )
        else:
            self._close(ReleaseStatus.COMPLETED, now, None)
            self._record(actor, "complete", self.name, now, source)
            by = (("actor_id", actor.id), ("actor", actor.name))
            self.signals.append(ReleaseSignal("completed", self.id, now, by))

    def abort(
        self, reason: str, actor: Actor, now: datetime, source: Source, policy: AccessPolicy
    ) -> None:
        """Abort the release with a reason."""
        self._require_active()
        policy.require(actor, "abort", lead_id=self.lead_id, target=self.name)
        text = require_reason(reason, "aborting a release")
        self._close(ReleaseStatus.ABORTED, now, text)
        self._record(actor, "abort", self.name, now, source, reason=text)
        by = (("actor_id", actor.id), ("actor", actor.name), ("reason", text))
        self.signals.append(ReleaseSignal("aborted", self.id, now, by))

    def mark_rolled_back(self, actor: Actor, now: datetime, source: Source, detail: str) -> None:
        """Move the release to Rolled back after a completed rollback."""
        self._require_active()
        self._close(ReleaseStatus.ROLLED_BACK, now, detail)
        self._record(actor, "rolled_back", self.name, now, source, detail=detail)
        self.signals.append(ReleaseSignal("rolled_back", self.id, now))

    def note(
        self, text: str, actor: Actor, now: datetime, source: Source, policy: AccessPolicy
    ) -> None:
        """Add a note to the release timeline."""
        policy.require(actor, "note", lead_id=self.lead_id, target=self.name)
        body = text.strip()
        if not body:
            raise InvalidInput("a note cannot be empty")
        if len(body) > 1500:
            raise InvalidInput(f"a note is at most 1500 characters (this one has {len(body)})")
        self._record(actor, "note", self.name, now, source, text=body)

    def _close(self, status: ReleaseStatus, now: datetime, reason: str | None) -> None:
        self.status = status
        self.closed_at = now
        self.close_reason = reason


def start_release(
    *,
    service: str,
    version: str,
    lead: Actor,
    template: ChecklistTemplate,
    now: datetime,
    actor: Actor,
    source: Source,
    policy: AccessPolicy,
    target_date: date | None = None,
    window: DeploymentWindow | None = None,
) -> Release:
    """Create a release after checking the starter's role, the version and the template."""
    policy.require(actor, "start", target=f"{service} {version}")
    parsed = Version.parse(version)
    if not template.workflow_phases():
        raise InvalidInput("the checklist template has no phases with items")
    release = Release(
        service, parsed, lead.id, lead.name, template, now, target_date=target_date, window=window
    )
    release.events.append(
        AuditEvent.record(
            actor,
            "start",
            release.name,
            now,
            source,
            None,
            lead=lead.name,
            window=str(window) if window else "",
            target_date=target_date.isoformat() if target_date else "",
        )
    )
    return release
