"""Property: an ack at time t stops exactly the steps due after t, whatever the timer order."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.roles import Severity
from bot.incidents.domain.escalation import EscalationPolicy, EscalationStep
from bot.incidents.domain.lifecycle import (
    Effect,
    Incident,
    Page,
    Timer,
    acknowledge,
    fire_timer,
    open_incident,
)
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import DEFAULT_SLA_TABLE

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TARGETS = ("oncall", "tech_lead", "eng_manager", "cto", "user:42")
ROSTER = Roster(
    primary="1",
    secondary="2",
    role_members={"tech_lead": ["3"], "eng_manager": ["4"], "cto": ["5"]},
)


@st.composite
def policies(draw: st.DrawFn) -> EscalationPolicy:
    """Draw a valid policy: 1-5 steps at non-decreasing minute offsets, step 0 at once."""
    gaps = draw(st.lists(st.integers(0, 30), min_size=0, max_size=4))
    offsets = [0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    steps = tuple(
        EscalationStep(i, draw(st.sampled_from(TARGETS)), timedelta(minutes=m))
        for i, m in enumerate(offsets)
    )
    return EscalationPolicy(steps, secondary_after=timedelta(minutes=draw(st.integers(0, 20))))


def page_key(page: Page) -> tuple[str, int]:
    """Identify a page by its step; the secondary shares step 0 so it gets its own name."""
    return ("secondary" if page.target == "secondary" else "step", page.step_index)


def fire_all(
    incident: Incident, timers: list[Timer], lo: datetime, hi: datetime, rng: random.Random
) -> tuple[Incident, list[Effect]]:
    """Fire each timer at a random moment in [max(due, lo), hi]; return all effects."""
    effects: list[Effect] = []
    for timer in timers:
        start = max(timer.due_at, lo)
        span = max((hi - start).total_seconds(), 0.0)
        now = start + timedelta(seconds=rng.uniform(0, span))
        incident, fired = fire_timer(incident, timer, now, ROSTER)
        effects += fired
    return incident, effects


@settings(max_examples=300, deadline=None)
@given(
    policy=policies(),
    ack_after=st.integers(0, 150 * 60),
    copies=st.integers(1, 3),
    rng=st.randoms(use_true_random=False),
)
def test_ack_stops_later_steps_and_earlier_steps_page_once(
    policy: EscalationPolicy, ack_after: int, copies: int, rng: random.Random
) -> None:
    """Page each step due by the ack exactly once and none due after it, in any firing order."""
    t = T0 + timedelta(seconds=ack_after)
    incident, opening = open_incident(
        1, "error_rate", Severity.P1, "errors", 0.2, T0, policy, DEFAULT_SLA_TABLE,
        "probe", "releasebot", ROSTER,
    )  # fmt: skip
    scheduled = list(incident.timers)
    before = [tm for tm in scheduled if tm.due_at <= t] * copies
    rng.shuffle(before)
    incident, early = fire_all(incident, before, T0, t, rng)
    incident, _ = acknowledge(incident, "1", t)
    after = scheduled * copies
    rng.shuffle(after)
    # Stay inside the ack timeout: after it, re-escalation is intended behaviour.
    last = t + policy.ack_timeout - timedelta(seconds=1)
    incident, late = fire_all(incident, after, t, last, rng)

    assert [e for e in late if isinstance(e, Page)] == []
    counts = Counter(page_key(e) for e in [*opening, *early] if isinstance(e, Page))
    expected = Counter(
        {("step", s.index): 1 for s in policy.steps if T0 + s.after <= t}
        | (
            {("secondary", 0): 1}
            if policy.steps[0].target == "oncall" and T0 + policy.secondary_after <= t
            else {}
        )
    )
    assert counts == expected
