"""The pure renderer: any template, in any state, fits Discord's limits and loses no item."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat import ids
from bot.chat.layout import SelectSpec, bounded_lines, clip, limit_problems, split_text
from bot.checklist import load_template
from bot.checklist.model import (
    ChecklistTemplate,
    CodeBlock,
    Phase,
    Section,
    SignOffSpec,
    TemplateItem,
)
from bot.releases.chat.render import RenderContext, plan_phase
from bot.releases.chat.summary import render_list, room_messages
from bot.releases.domain.release import ItemProgress, ItemState, Release, ReleaseStatus, SignOff
from bot.releases.domain.values import DeploymentWindow, Version

ROOT = Path(__file__).resolve().parents[3]
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# Marks the renderer puts at the start of item lines are kept out of generated text so the
# test can find every item's lines without ambiguity.
_ALPHABET = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="☐✅⏭↪\n\r", max_codepoint=0x9FFF
)
_short = st.text(_ALPHABET, min_size=1, max_size=60).map(str.strip).filter(bool)
# Long texts repeat a drawn word: drawing thousands of characters one by one is slow.
_long = st.builds(lambda word, times: ((word + " ") * times).strip(), _short, st.integers(30, 150))
_item_text = st.one_of(_short, _short, _short, _long)
_code = st.lists(
    st.sampled_from([*"abc xyz`-=\n", "```", "a" * 300, "\n" * 5]),
    min_size=1,
    max_size=400,
).map("".join)
_ROLES = st.sampled_from([None, "devops", "tech_lead", "release_lead", "oncall"])


@st.composite
def _section(
    draw: st.DrawFn, phase_key: str, path: tuple[str, ...], key: str, depth: int, line: list[int]
) -> Section:
    title = draw(st.one_of(_short, _short, _long))
    texts = draw(st.lists(_item_text, max_size=30))
    items = []
    for n, text in enumerate(texts):
        line[0] += 1
        items.append(
            TemplateItem(
                id=f"{key}:{n:08x}",
                text=text,
                line=line[0],
                phase_key=phase_key,
                section_path=(*path, title),
                section_key=key,
                required=draw(st.booleans()),
                role=draw(_ROLES),
            )
        )
    commands = tuple(
        CodeBlock(draw(st.sampled_from(["bash", "", "sh x"])), code, line[0] + i)
        for i, code in enumerate(draw(st.lists(_code, max_size=2)))
    )
    notes = tuple(draw(st.lists(_short, max_size=2)))
    subsections: tuple[Section, ...] = ()
    if depth < 4:
        count = draw(st.integers(0, 2))
        subsections = tuple(
            draw(_section(phase_key, (*path, title), f"{key}/s{i}", depth + 1, line))
            for i in range(count)
        )
    return Section(key, title, depth, line[0], tuple(items), commands, (), notes, subsections)


@st.composite
def templates(draw: st.DrawFn) -> ChecklistTemplate:
    """Generate checklist templates, some with big phases, long texts and code."""
    line = [0]
    phases = []
    for p in range(draw(st.integers(1, 4))):
        key = f"p{p}"
        title = draw(st.one_of(_short, _short, _long))
        sections = tuple(
            draw(_section(key, (title,), f"{key}/s{i}", 3, line))
            for i in range(draw(st.integers(0, 4)))
        )
        phases.append(Phase(key, title, line[0], (), sections, (), (), ()))
    signoffs = tuple(
        SignOffSpec(
            f"so{i}",
            draw(_short),
            draw(st.sampled_from(["tech_lead", "devops"])),
            draw(st.sampled_from([p.key for p in phases])),
            None,
            900 + i,
            draw(_short),
        )
        for i in range(draw(st.integers(0, 3)))
    )
    return ChecklistTemplate("T", {}, tuple(phases), signoffs, "<generated>")


_workflow_templates = templates().filter(lambda t: bool(t.workflow_phases()))


@st.composite
def releases(draw: st.DrawFn) -> Release:
    """Generate a stored release of a generated template in a random state."""
    template = draw(_workflow_templates)
    release = Release(
        "svc",
        Version(1, 2, 3),
        "1",
        draw(_short),
        template,
        START,
        id=42,
        target_date=date(2026, 1, 9),
        window=DeploymentWindow(START, START + timedelta(hours=2)),
    )
    for item in template.items():
        state = draw(st.sampled_from(list(ItemState)))
        if state is not ItemState.OPEN:
            release.items[item.id] = ItemProgress(
                item.id,
                state,
                "2",
                draw(st.text(_ALPHABET, min_size=1, max_size=80)),
                START + timedelta(days=draw(st.integers(0, 3))),
                draw(st.text(_ALPHABET, min_size=3, max_size=500)),
                "select",
            )
    for spec in template.signoffs:
        if draw(st.booleans()):
            release.signoffs[spec.key] = SignOff(spec.key, "3", draw(_short), START)
    release.phase_index = draw(st.integers(0, len(release.phases) - 1))
    release.status = draw(st.sampled_from(list(ReleaseStatus)))
    return release


def _generated_releases(examples: int) -> settings:
    """Hypothesis settings for tests over generated releases: big inputs, no deadline."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _item_lines(descriptions: list[str], number: int) -> list[str]:
    pattern = re.compile(rf"^(?:[☐✅⏭]|↪) \*\*{number}\.\*\* ")
    return [line for text in descriptions for line in text.split("\n") if pattern.match(line)]


@_generated_releases(60)
@given(releases())
def test_every_message_of_any_template_fits_discord_limits(release: Release) -> None:
    """Check every message of any release room against every Discord limit."""
    for message in room_messages(release, RenderContext()):
        assert limit_problems(message.spec) == [], (message.kind, message.key)


@_generated_releases(60)
@given(releases())
def test_every_item_is_shown_in_full_and_reachable_exactly_once(release: Release) -> None:
    """Find each item's full text in its phase's embeds and its value in exactly one select."""
    messages = room_messages(release, RenderContext())
    for p, phase in enumerate(release.phases):
        mine = [m.spec for m in messages if m.kind == "phase" and m.key.startswith(f"{p}:")]
        descriptions = [spec.embeds[0].description for spec in mine]
        for n, item in enumerate(phase.all_items(), start=1):
            lines = _item_lines(descriptions, n)
            joined = "".join(re.sub(r"^\S+ \*\*\d+\.\*\* ", "", line) for line in lines)
            assert joined.startswith(item.text), item.id
        if not release.is_active:
            assert all(spec.rows == () for spec in mine)
            continue
        values = [
            option.value
            for spec in mine
            for row in spec.rows
            for control in row
            if isinstance(control, SelectSpec) and control.action in ("tick", "untick")
            for option in control.options
        ]
        assert sorted(values, key=int) == [str(i) for i in range(len(phase.all_items()))]


@_generated_releases(30)
@given(releases())
def test_the_room_keeps_the_same_messages_whatever_the_state(release: Release) -> None:
    """Render a fresh and a progressed release of one template to the same message keys."""
    fresh = Release("svc", Version(1, 2, 3), "1", "Ann", release.template, START, id=42)
    keys = [(m.kind, m.key) for m in room_messages(fresh, RenderContext())]
    assert keys == [(m.kind, m.key) for m in room_messages(release, RenderContext())]


@_generated_releases(30)
@given(releases())
def test_a_memo_filled_in_another_state_never_serves_a_stale_message(release: Release) -> None:
    """Render from a memo of the fresh release exactly what a render without memo gives."""
    fresh = release.copy()
    fresh.items.clear()
    fresh.signoffs.clear()
    fresh.status, fresh.phase_index = ReleaseStatus.ACTIVE, 0
    memo: dict[str, Any] = {}
    assert room_messages(fresh, RenderContext(), memo) == room_messages(fresh, RenderContext())
    assert room_messages(release, RenderContext(), memo) == room_messages(release, RenderContext())
    assert room_messages(fresh, RenderContext(), memo) == room_messages(fresh, RenderContext())


@_generated_releases(30)
@given(releases())
def test_every_control_id_parses_back_to_its_release_phase_and_chunk(release: Release) -> None:
    """Parse every control's custom id back to the release, phase and chunk it sits on."""
    templates_by_action = {
        "tick": ids.TICK_TEMPLATE,
        "untick": ids.UNTICK_TEMPLATE,
        "waive": ids.WAIVE_TEMPLATE,
        "advance": ids.ADVANCE_TEMPLATE,
        "refresh": ids.REFRESH_TEMPLATE,
    }
    for message in room_messages(release, RenderContext()):
        for row in message.spec.rows:
            for control in row:
                fields = ids.parse(templates_by_action[control.action], control.custom_id)
                assert fields["release"] == 42
                if "chunk" in fields:
                    assert message.key == f"{fields['phase']}:{fields['chunk']}"


def test_seed_checklist_offers_all_74_checkboxes_as_controls() -> None:
    """Offer the seed's 70 items as select options and its 4 sign-offs as messages."""
    template = load_template(ROOT / "config/checklists/release.md")
    release = Release("nexis-gateway", Version(1, 2, 3), "1", "Ann", template, START, id=1)
    messages = room_messages(release, RenderContext())
    ticks = [
        option.label
        for m in messages
        for row in m.spec.rows
        for c in row
        if isinstance(c, SelectSpec) and c.action == "tick"
        for option in c.options
    ]
    signoffs = [m.key for m in messages if m.kind == "signoff"]
    assert len(ticks) == len(set(ticks)) == 70
    assert signoffs == ["pre-release", "approval", "production-deployed", "monitoring-complete"]
    assert len(ticks) + len(signoffs) == template.checkbox_count() == 74


def test_seed_phase_shows_its_commands_as_code_blocks() -> None:
    """Show the release phase's git commands inside a bash code block."""
    template = load_template(ROOT / "config/checklists/release.md")
    release = Release("nexis-gateway", Version(1, 2, 3), "1", "Ann", template, START, id=1)
    text = "\n".join(
        m.spec.embeds[0].description
        for m in room_messages(release, RenderContext())
        if m.kind == "phase" and m.key.startswith("1:")
    )
    assert "```bash\ngit checkout develop\ngit pull origin develop" in text
    assert "kubectl" not in text  # deployment commands belong to the next phase
    assert len(plan_phase(release.phases[1])) >= 1


def test_item_states_render_with_who_when_and_why() -> None:
    """Render open, done and waived items with their mark, actor, time and reason."""
    template = load_template(ROOT / "config/checklists/release.md")
    release = Release("nexis-gateway", Version(1, 2, 3), "1", "Ann", template, START, id=1)
    first, second = template.phases[0].all_items()[:2]
    release.items[first.id] = ItemProgress(
        first.id, ItemState.DONE, "2", "Tom", START + timedelta(minutes=5)
    )
    release.items[second.id] = ItemProgress(
        second.id, ItemState.WAIVED, "2", "Ann", START, "not in this release"
    )
    text = room_messages(release, RenderContext())[1].spec.embeds[0].description
    assert f"✅ **1.** {first.text} — Tom · 09:05" in text
    assert f"⏭ **2.** {second.text} — waived by Ann: not in this release" in text
    assert "☐ **3.** " in text


def test_text_helpers_never_drop_characters_silently() -> None:
    """Split without loss, clip with a visible ellipsis, and count what a list leaves out."""
    text = "word " * 500
    assert "".join(split_text(text, 97)) == text
    assert all(len(piece) <= 97 for piece in split_text(text, 97))
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc", 4) == "abc"
    listed = bounded_lines([f"line {i}" for i in range(500)], 100)
    assert len(listed) <= 100
    assert listed.endswith("more") and "…and" in listed


def test_release_list_names_active_and_recent_releases() -> None:
    """List active releases apart from closed ones, and say so when there are none."""
    template = load_template(ROOT / "config/checklists/release.md")
    active = Release("svc", Version(1, 0, 0), "1", "Ann", template, START, id=1)
    done = Release(
        "svc", Version(0, 9, 0), "1", "Ann", template, START, id=2, status=ReleaseStatus.COMPLETED
    )
    embed = render_list([active, done]).embeds[0]
    assert [f.name for f in embed.fields] == ["Active", "Recent"]
    assert "#1 svc v1.0.0" in embed.fields[0].value
    assert "#2 svc v0.9.0 — completed" in embed.fields[1].value
    assert "No releases yet" in render_list([]).embeds[0].description


def test_a_huge_phase_is_split_across_messages_without_losing_anything() -> None:
    """Split 80 items, a 9,000-character code block and a 5,000-character item over messages."""
    items = tuple(
        TemplateItem(
            f"p/s:{n:08x}",
            ("long " * 1000).strip() if n == 3 else f"item {n}",
            n,
            "p",
            ("P", "S"),
            "p/s",
            role="devops",
        )
        for n in range(80)
    )
    code = CodeBlock("bash", "\n".join(f"echo {n} {'x' * 80}" for n in range(100)), 100)
    section = Section("p/s", "S", 3, 1, items, (code,), (), (), ())
    template = ChecklistTemplate(
        "T", {}, (Phase("p", "P", 0, (), (section,), (), (), ()),), (), "<big>"
    )
    release = Release("svc", Version(1, 0, 0), "1", "Ann", template, START, id=9)
    messages = room_messages(release, RenderContext())
    phase_messages = [m for m in messages if m.kind == "phase"]
    assert len(phase_messages) >= 4
    assert all(limit_problems(m.spec) == [] for m in messages)
    text = "\n".join(m.spec.embeds[0].description for m in phase_messages)
    assert text.count("```bash") >= 3  # the code block continues in further fences
    assert all(f"echo {n} " in text for n in range(100))
    assert len(_item_lines([text], 4)) == 4  # item 4 (5,000 chars) spans four lines
    assert "**S (continued)**" in text
