"""Escalation policy: who is paged, in what order, and how long each waits for an ack."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

ONCALL = "oncall"
MAX_REPEAT = 5  # GoAlert's and Grafana OnCall's ceiling on loops of one path
SECONDARY = "secondary"
_ROLE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_USER_TARGET = re.compile(r"^user:[0-9]{1,20}$")


def check_target(target: str) -> str:
    """Return `target` if it is "oncall", "secondary", a role key or "user:<id>"; else raise."""
    if not isinstance(target, str) or not (
        _ROLE_KEY.fullmatch(target) or _USER_TARGET.fullmatch(target)
    ):
        raise ValueError(
            f"escalation target {target!r} is not 'oncall', 'secondary', a role key "
            "(lower_snake_case) or 'user:<numeric id>'"
        )
    return target


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """Page `target` once `after` has passed since the page without an acknowledgement."""

    index: int
    target: str
    after: timedelta
    pagerduty: bool = False
    webhook: bool = False

    def __post_init__(self) -> None:
        check_target(self.target)
        if not isinstance(self.after, timedelta) or self.after < timedelta(0):
            raise ValueError(f"step {self.index} ({self.target}): 'after' must be >= 0")

    @property
    def channels(self) -> tuple[str, ...]:
        """Return the delivery channels this step pages through."""
        extra = (("pagerduty",) if self.pagerduty else ()) + (("webhook",) if self.webhook else ())
        return ("channel", "dm", *extra)


def _seed_steps() -> tuple[EscalationStep, ...]:
    # PagerDuty and webhooks are opt-in per step (as in the config defaults). PagerDuty merges
    # later triggers on one dedup_key, so enabling it on step 0 alone is the usual choice.
    return (
        EscalationStep(0, ONCALL, timedelta(0)),
        EscalationStep(1, "tech_lead", timedelta(minutes=15)),
        EscalationStep(2, "eng_manager", timedelta(minutes=30)),
    )


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Order the steps of an escalation chain; an open incident keeps its own snapshot."""

    steps: tuple[EscalationStep, ...] = field(default_factory=_seed_steps)
    ack_timeout: timedelta = timedelta(minutes=30)
    secondary_after: timedelta = timedelta(minutes=5)
    reminder_before: timedelta = timedelta(minutes=5)
    # How many times the whole path starts over after its last step while nobody acks.
    repeat: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if not self.steps:
            raise ValueError("escalation policy needs at least one step")
        for position, step in enumerate(self.steps):
            if step.index != position:
                raise ValueError(f"escalation steps[{position}] has index {step.index}")
            if position and step.after < self.steps[position - 1].after:
                raise ValueError(
                    f"escalation steps[{position}] ({step.target}) pages at +{step.after}, "
                    f"before the step ahead of it (+{self.steps[position - 1].after})"
                )
        if self.steps[0].after != timedelta(0):
            raise ValueError("escalation steps[0] must page at once (after = 0)")
        if self.ack_timeout <= timedelta(0):
            raise ValueError("escalation ack_timeout must be longer than zero")
        for name in ("secondary_after", "reminder_before"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"escalation {name} must be >= 0")
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int):
            raise ValueError(f"escalation repeat must be a whole number, got {self.repeat!r}")
        if not 0 <= self.repeat <= MAX_REPEAT:
            raise ValueError(f"escalation repeat must be 0..{MAX_REPEAT}, got {self.repeat}")

    @property
    def loops(self) -> int:
        """Return how many times the path pages in all (the first run plus the repeats)."""
        return self.repeat + 1

    @property
    def loop_period(self) -> timedelta:
        """Return how long one loop lasts: the next loop starts this long after the last one.

        The last step waits as long for its ack as it waited for its turn (the gap before
        it), as GoAlert's last-step delay does; a path without such a gap waits ack_timeout.
        """
        last = self.steps[-1].after
        gap = last - self.steps[-2].after if len(self.steps) > 1 else timedelta(0)
        return last + (gap if gap > timedelta(0) else self.ack_timeout)

    def to_dict(self) -> dict[str, object]:
        """Return a plain, JSON-ready dict that `from_dict` turns back into an equal policy."""
        return {
            "version": 1,
            "steps": [
                {
                    "target": s.target,
                    "after_seconds": s.after.total_seconds(),
                    "pagerduty": s.pagerduty,
                    "webhook": s.webhook,
                }
                for s in self.steps
            ],
            "ack_timeout_seconds": self.ack_timeout.total_seconds(),
            "secondary_after_seconds": self.secondary_after.total_seconds(),
            "reminder_before_seconds": self.reminder_before.total_seconds(),
            "repeat": self.repeat,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> EscalationPolicy:
        """Build a policy from `to_dict` output, naming the key path of anything wrong."""
        if raw.get("version", 1) != 1:
            raise ValueError(f"escalation: unsupported version {raw.get('version')!r}")
        steps_raw = raw.get("steps")
        if not isinstance(steps_raw, Sequence) or isinstance(steps_raw, str):
            raise ValueError("escalation.steps: expected a list of steps")
        steps = tuple(_step_from_plain(i, s) for i, s in enumerate(steps_raw))
        defaults = cls()
        timings = (
            _seconds(raw, "ack_timeout_seconds", "escalation", defaults.ack_timeout),
            _seconds(raw, "secondary_after_seconds", "escalation", defaults.secondary_after),
            _seconds(raw, "reminder_before_seconds", "escalation", defaults.reminder_before),
        )
        repeat = raw.get("repeat", 0)  # snapshots from before repeat existed never loop
        if isinstance(repeat, bool) or not isinstance(repeat, int):
            raise ValueError(f"escalation.repeat: expected a whole number, got {repeat!r}")
        try:
            return cls(steps, *timings, repeat=repeat)
        except ValueError as exc:
            raise ValueError(f"escalation: {exc}") from None


def _seconds(raw: Mapping[str, object], key: str, where: str, default: timedelta) -> timedelta:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key}: expected a number of seconds, got {value!r}")
    return timedelta(seconds=value)


def _step_from_plain(index: int, raw: object) -> EscalationStep:
    where = f"escalation.steps[{index}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping")
    flags = {k: raw.get(k, False) for k in ("pagerduty", "webhook")}
    for key, flag in flags.items():
        if not isinstance(flag, bool):
            raise ValueError(f"{where}.{key}: expected true or false, got {flag!r}")
    try:
        return EscalationStep(
            index,
            str(raw.get("target", "")),
            _seconds(raw, "after_seconds", where, timedelta(0)),
            pagerduty=flags["pagerduty"],
            webhook=flags["webhook"],
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


SEED_POLICY = EscalationPolicy()
