"""Property tests: no operation sequence slips past a gate; every change is audited."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.checklist import parse_template
from bot.core.actors import AccessPolicy, Source
from bot.core.errors import DomainError
from bot.releases.domain.release import ItemState, Release, ReleaseStatus, start_release
from tests.support.actors import DEV, DEVOPS, LEAD, NOW, ONCALL, SMALL_TEMPLATE, STRANGER, TECH

ACTORS = [LEAD, TECH, DEVOPS, ONCALL, DEV, STRANGER]
TEMPLATE = parse_template(SMALL_TEMPLATE, "small.md")
ITEMS = [i.id for i in TEMPLATE.items()]
SIGNOFFS = [s.key for s in TEMPLATE.signoffs]

operation = st.one_of(
    st.tuples(st.just("tick"), st.sampled_from(ITEMS), st.sampled_from(ACTORS)),
    st.tuples(st.just("untick"), st.sampled_from(ITEMS), st.sampled_from(ACTORS)),
    st.tuples(st.just("waive"), st.sampled_from(ITEMS), st.sampled_from(ACTORS)),
    st.tuples(st.just("sign"), st.sampled_from(SIGNOFFS), st.sampled_from(ACTORS)),
    st.tuples(st.just("withdraw"), st.sampled_from(SIGNOFFS), st.sampled_from(ACTORS)),
    st.tuples(st.just("advance"), st.just(""), st.sampled_from(ACTORS)),
    st.tuples(st.just("abort"), st.just(""), st.sampled_from(ACTORS)),
)


def _apply(release: Release, op: str, target: str, actor, policy: AccessPolicy) -> None:
    s = Source.BUTTON
    if op == "tick":
        release.tick(target, actor, NOW, s, policy)
    elif op == "untick":
        release.untick(target, actor, NOW, s, policy, reason="property test")
    elif op == "waive":
        release.waive(target, "property test", actor, NOW, s, policy)
    elif op == "sign":
        release.sign(target, actor, NOW, s)
    elif op == "withdraw":
        release.withdraw(target, actor, NOW, s)
    elif op == "advance":
        release.advance(actor, NOW, s, policy)
    else:
        release.abort("property test", actor, NOW, s, policy)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=60))
def test_no_sequence_completes_with_an_open_gate(ops):
    """Reach Completed only with every required item closed and every sign-off given."""
    policy = AccessPolicy()
    release = start_release(
        service="gw",
        version="v1.0.0",
        lead=LEAD,
        template=TEMPLATE,
        now=NOW,
        actor=LEAD,
        source=Source.SLASH,
        policy=policy,
    )
    for op, target, actor in ops:
        phase_before = release.phase_index
        gates_before = release.open_gates()
        events_before = len(release.events)
        state_before = (dict(release.items), dict(release.signoffs), release.status)
        try:
            _apply(release, op, target, actor, policy)
        except DomainError:
            # A refused operation changes nothing and records nothing.
            assert (dict(release.items), dict(release.signoffs), release.status) == state_before
            assert len(release.events) == events_before
            continue
        # Every successful change is exactly one audit event.
        assert len(release.events) == events_before + 1
        if op == "advance":
            assert gates_before == []
            assert release.phase_index > phase_before or release.status is ReleaseStatus.COMPLETED
    if release.status is ReleaseStatus.COMPLETED:
        for item in TEMPLATE.items():
            if item.required:
                assert release.progress(item.id).state is not ItemState.OPEN
        assert set(release.signoffs) == set(SIGNOFFS)


def _signer(role: str):
    return next(a for a in ACTORS if role in a.roles)


def test_completed_and_aborted_are_reachable():
    """Reach Completed through the public operations, and Aborted from any phase."""
    policy = AccessPolicy()
    done = start_release(
        service="gw",
        version="v1.0.0",
        lead=LEAD,
        template=TEMPLATE,
        now=NOW,
        actor=LEAD,
        source=Source.SLASH,
        policy=policy,
    )
    while done.current_phase is not None:
        phase = done.current_phase
        for spec in done.phase_signoffs(phase):
            done.sign(spec.key, _signer(spec.role), NOW, Source.REACTION)
        for item in phase.all_items():
            done.tick(
                item.id, DEVOPS if item.role == "devops" else LEAD, NOW, Source.BUTTON, policy
            )
        done.advance(LEAD, NOW, Source.BUTTON, policy)
    assert done.status is ReleaseStatus.COMPLETED
    aborted = start_release(
        service="gw",
        version="v1.0.1",
        lead=LEAD,
        template=TEMPLATE,
        now=NOW,
        actor=LEAD,
        source=Source.SLASH,
        policy=policy,
    )
    aborted.abort("superseded by v1.0.2", TECH, NOW, Source.SLASH, policy)
    assert aborted.status is ReleaseStatus.ABORTED
