"""Poll schedule, coalescing after downtime, pause/resume/extend of a monitoring window."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.monitoring.domain import (
    DEFAULT_STAGES,
    MonitoringWindow,
    Stage,
    count_polls_between,
    next_poll_after,
    poll_times,
)

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def test_default_schedule_has_58_polls_at_the_seed_times() -> None:
    """Poll 12 times in the first hour every 5 min, then every 30 min to 24 h: 58 in all."""
    times = poll_times(START, DEFAULT_STAGES)
    offsets = [int((t - START) / MIN) for t in times]
    assert offsets[:12] == list(range(5, 61, 5))
    assert offsets[12:] == list(range(90, 1441, 30))
    assert len(offsets[12:]) == 46
    assert len(times) == 58


def test_no_poll_at_open_and_last_poll_exactly_at_window_end() -> None:
    """Start at +every, never at t=0, and end with a poll exactly at the window's end."""
    times = poll_times(START, DEFAULT_STAGES)
    assert START not in times
    assert times[0] == START + 5 * MIN
    assert times[-1] == START + timedelta(hours=24) == MonitoringWindow(START).closes_at


def test_stage_end_gets_a_poll_even_off_the_grid() -> None:
    """Add a poll at a stage's `until` when `until` is not a multiple of `every`."""
    stages = [Stage(every=7 * MIN, until=20 * MIN), Stage(every=10 * MIN, until=45 * MIN)]
    offsets = [int((t - START) / MIN) for t in poll_times(START, stages)]
    assert offsets == [7, 14, 20, 30, 40, 45]


@pytest.mark.parametrize(
    ("after_minutes", "expected_minutes"),
    [
        (-10, 5),
        (0, 5),
        (4.99, 5),
        (5, 10),
        (59, 60),
        (60, 90),
        (61, 90),
        (1439, 1440),
        (1440, None),
        (5000, None),
    ],
)
def test_next_poll_after_is_strictly_after(
    after_minutes: float, expected_minutes: int | None
) -> None:
    """Return the first slot strictly after the given time, None once the window is over."""
    got = next_poll_after(START, DEFAULT_STAGES, START + timedelta(minutes=after_minutes))
    assert got == (None if expected_minutes is None else START + expected_minutes * MIN)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([], "at least one stage"),
        ([Stage(every=timedelta(0), until=MIN)], r"stages\[0\].every must be positive"),
        ([Stage(every=MIN, until=timedelta(0))], r"stages\[0\].until"),
        ([Stage(MIN, 10 * MIN), Stage(MIN, 10 * MIN)], r"stages\[1\].until"),
    ],
)
def test_bad_stages_are_rejected_by_index(stages: list[Stage], message: str) -> None:
    """Reject empty, non-positive and non-increasing stages, naming the stage."""
    with pytest.raises(ValueError, match=message):
        poll_times(START, stages)


def test_naive_times_are_rejected() -> None:
    """Reject a naive start time with a message saying so."""
    with pytest.raises(ValueError, match="timezone-aware"):
        poll_times(datetime(2026, 1, 5, 9, 0), DEFAULT_STAGES)  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        MonitoringWindow(datetime(2026, 1, 5, 9, 0))  # noqa: DTZ001


def test_catch_up_after_downtime_runs_one_poll_then_the_next_slot() -> None:
    """Coalesce polls missed while the bot was down into one poll now, then the next slot."""
    window = MonitoringWindow(START)
    last_polled = START + 10 * MIN
    now = START + 47 * MIN  # missed 15, 20, ..., 45
    plan = window.catch_up(last_polled, now)
    assert plan.run_now is True
    assert plan.missed == 7
    assert plan.next_at == START + 50 * MIN


def test_catch_up_with_nothing_missed_waits_for_the_next_slot() -> None:
    """Do not poll at start-up when no slot passed since the last poll."""
    plan = MonitoringWindow(START).catch_up(START + 10 * MIN, START + 12 * MIN)
    assert (plan.run_now, plan.missed, plan.next_at) == (False, 0, START + 15 * MIN)


def test_catch_up_after_the_window_closed_runs_the_final_poll_once() -> None:
    """Run one final poll when the bot was down over the window's end, and schedule nothing."""
    window = MonitoringWindow(START)
    plan = window.catch_up(START + 23 * timedelta(hours=1), START + timedelta(hours=30))
    assert plan.run_now is True
    assert plan.missed == 2  # the 23:30 and 24:00 slots
    assert plan.next_at is None


def test_catch_up_never_polled_counts_from_opening() -> None:
    """Treat a window that never polled as last polled at its opening."""
    plan = MonitoringWindow(START).catch_up(None, START + 16 * MIN)
    assert (plan.run_now, plan.missed, plan.next_at) == (True, 3, START + 20 * MIN)


def test_pause_stops_polls_and_resume_skips_the_missed_ones() -> None:
    """Return no due poll while paused; after resume the next is the next slot after now."""
    window = MonitoringWindow(START).pause(START + 12 * MIN)
    assert window.paused
    assert window.next_due(START + 12 * MIN) is None
    resumed = window.resume(START + 33 * MIN)
    assert not resumed.paused
    assert resumed.next_due(START + 33 * MIN) == START + 35 * MIN
    # A scheduler asking from its last poll before the pause still gets no replayed slot.
    assert resumed.next_due(START + 10 * MIN) == START + 35 * MIN
    plan = resumed.catch_up(START + 10 * MIN, START + 34 * MIN)
    assert (plan.run_now, plan.missed) == (False, 0)
    assert resumed.closes_at == MonitoringWindow(START).closes_at


def test_pause_and_resume_reject_wrong_states() -> None:
    """Reject double pause, resume of a running window, resume before the pause, late pause."""
    window = MonitoringWindow(START)
    paused = window.pause(START + MIN)
    with pytest.raises(ValueError, match="already paused"):
        paused.pause(START + 2 * MIN)
    with pytest.raises(ValueError, match="not paused"):
        window.resume(START + MIN)
    with pytest.raises(ValueError, match="before the pause"):
        paused.resume(START)
    with pytest.raises(ValueError, match="closed"):
        window.pause(START + timedelta(hours=25))


def test_extend_moves_the_last_stage_and_the_closing_time() -> None:
    """Extend the last stage's `until`: more 30-minute polls and a later close."""
    window = MonitoringWindow(START).extend(timedelta(hours=2))
    assert window.closes_at == START + timedelta(hours=26)
    assert window.extended_by == timedelta(hours=2)
    assert len(poll_times(window.opened_at, window.stages)) == 58 + 4
    assert window.next_due(START + timedelta(hours=24)) == START + timedelta(hours=24, minutes=30)
    assert not window.is_closed(START + timedelta(hours=25))
    assert window.is_closed(START + timedelta(hours=26))
    twice = window.extend(timedelta(minutes=30))
    assert twice.extended_by == timedelta(hours=2, minutes=30)
    with pytest.raises(ValueError, match="positive duration"):
        window.extend(timedelta(0))


def test_is_closed_from_the_final_poll_on() -> None:
    """Report the window closed exactly from `closes_at`."""
    window = MonitoringWindow(START)
    assert not window.is_closed(window.closes_at - timedelta(microseconds=1))
    assert window.is_closed(window.closes_at)


stage_lists = st.lists(
    st.tuples(st.integers(1, 90), st.integers(1, 20)), min_size=1, max_size=4
).map(
    lambda pairs: [
        Stage(
            every=timedelta(minutes=every),
            until=timedelta(minutes=sum(g for _, g in pairs[: i + 1]) * 10),
        )
        for i, (every, _) in enumerate(pairs)
    ]
)


@given(stages=stage_lists, after_seconds=st.integers(-3600, 20 * 4 * 600 + 3600))
def test_next_poll_after_matches_the_full_list(stages: list[Stage], after_seconds: int) -> None:
    """Agree with brute force: the first listed poll strictly after `after`."""
    after = START + timedelta(seconds=after_seconds)
    times = poll_times(START, stages)
    expected = next((t for t in times if t > after), None)
    assert next_poll_after(START, stages, after) == expected


@given(stages=stage_lists)
def test_poll_times_are_increasing_and_end_at_the_window_end(stages: list[Stage]) -> None:
    """Produce strictly increasing polls after the start, the last at the final `until`."""
    times = poll_times(START, stages)
    assert all(a < b for a, b in itertools.pairwise(times))
    assert times[0] > START
    assert times[-1] == START + stages[-1].until
    assert count_polls_between(START, stages, START, times[-1]) == len(times)
