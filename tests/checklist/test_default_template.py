"""The default release checklist: 74 checkboxes in the user's order, annotated as agreed."""

from __future__ import annotations

import re

import pytest

from bot.checklist import ChecklistTemplate, load_template, parse_template
from tests.checklist.harness import DEFAULT_TEMPLATE, SEED

_ANNOTATION = re.compile(r" \{[^{}]*\}$", re.MULTILINE)


def test_default_template_is_the_seed_plus_annotations_only() -> None:
    """Keep every byte of the seed: stripping the annotations gives the seed file back."""
    annotated = DEFAULT_TEMPLATE.read_bytes()
    assert _ANNOTATION.sub("", annotated.decode("utf-8")).encode("utf-8") == SEED.read_bytes()
    # 10 role/sign-off/rollout annotations, the two monitoring items the bot ticks
    # (monitors=, issue 11), 15 GitHub evidence checks (issue 17) and 6 report items
    # (check=report.*, issue 16).
    found = _ANNOTATION.findall(annotated.decode("utf-8"))
    assert len(found) == 33
    assert sum("check=github." in note for note in found) == 15
    assert sum("monitors=" in note for note in found) == 2
    assert sum("check=report." in note for note in found) == 6


def test_default_template_has_74_checkboxes(default_template: ChecklistTemplate) -> None:
    """Count 70 items plus 4 sign-offs."""
    assert default_template.checkbox_count() == 74
    assert len(default_template.items()) == 70
    assert len(default_template.signoffs) == 4


def test_seed_without_annotations_parses_to_74_items(seed_text: str) -> None:
    """Parse the user's plain file: every checkbox is an item, none is a sign-off."""
    plain = parse_template(seed_text, "seed.md")
    assert len(plain.items()) == 74
    assert plain.checkbox_count() == 74
    assert plain.signoffs == ()


def test_items_come_in_document_order(default_template: ChecklistTemplate, seed_text: str) -> None:
    """List the items in the order their checkbox lines appear in the file."""
    lines = [i.line for i in default_template.items()]
    assert lines == sorted(lines)
    seed_texts = [m.group(1) for m in re.finditer(r"^- \[ \] (.*)$", seed_text, re.MULTILINE)]
    signed = {s.text for s in default_template.signoffs}
    assert [i.text for i in default_template.items()] == [t for t in seed_texts if t not in signed]
    assert default_template.items()[0].text == "所有计划功能已实现"
    assert default_template.items()[-1].text == "用户反馈收集"


@pytest.mark.parametrize(
    ("text", "section_key", "section_path"),
    [
        (
            "所有计划功能已实现",
            "pre-release/s1",
            ("Pre-Release Preparation (发布前准备)", "1. 代码完成度"),
        ),
        (
            "性能测试无回退",
            "pre-release/s2",
            ("Pre-Release Preparation (发布前准备)", "2. 测试完成度"),
        ),
        (
            "Tag 已推送到远程",
            "release/create-git-tag",
            ("Release Process (发布流程)", "4. Create Git Tag (创建标签)"),
        ),
        (
            "数据库备份完成",
            "deployment/production/pre-deployment",
            ("Deployment (部署)", "2. Production Deployment (生产环境部署)", "Pre-deployment"),
        ),
        (
            "错误率正常",
            "deployment/production/post-deployment",
            ("Deployment (部署)", "2. Production Deployment (生产环境部署)", "Post-deployment"),
        ),
        (
            "回滚命令可用",
            "deployment/rollback",
            ("Deployment (部署)", "3. Rollback Plan (回滚计划)"),
        ),
        (
            "用户反馈收集",
            "post-release/metrics",
            ("Post-Release (发布后)", "4. Metrics (指标收集)"),
        ),
    ],
)
def test_items_carry_their_section(
    default_template: ChecklistTemplate,
    text: str,
    section_key: str,
    section_path: tuple[str, ...],
) -> None:
    """Place spot-checked items in the right section, by key and by title path."""
    (found,) = [i for i in default_template.items() if i.text == text]
    assert found.section_key == section_key
    assert found.section_path == section_path
    assert found.phase_key == section_key.split("/")[0]
    assert found.id.startswith(f"{section_key}:")


def test_signoffs_have_roles_phases_and_labels(default_template: ChecklistTemplate) -> None:
    """Read the four sign-offs with their role, gated phase, blocked section and label."""
    got = [
        (s.key, s.role, s.phase_key, s.blocks, s.label, s.section_key)
        for s in default_template.signoffs
    ]
    assert got == [
        ("pre-release", "release_lead", "pre-release", None,
         "Pre-release checklist completed:", "sign-off"),
        ("approval", "tech_lead", "deployment", "deployment/production",
         "Release approved:", "sign-off"),
        ("production-deployed", "devops", "deployment", None,
         "Production deployment completed:", "sign-off"),
        ("monitoring-complete", "oncall", "post-release", None,
         "Post-release monitoring completed:", "sign-off"),
    ]  # fmt: skip
    assert default_template.signoff("approval").text == "Tech Lead (日期: YYYY-MM-DD)"
    # The labels moved into the sign-offs; only the closing rule stays as a note.
    assert default_template.phase("sign-off").notes == ("---",)


def test_production_items_have_explicit_ids_and_checks(
    default_template: ChecklistTemplate,
) -> None:
    """Give the deployment items the agreed ids, roles, checks and marks."""
    deployed = default_template.item("prod-deployed")
    assert (deployed.role, deployed.marks, deployed.explicit_id) == (
        "devops",
        "production_deployed",
        True,
    )
    assert default_template.item("prod-health").check == "k8s.rollout"
    assert default_template.item("prod-available").check == "k8s.available"
    staging = default_template.item("staging-deployed")
    assert (staging.section_key, staging.check) == ("deployment/staging", "k8s.rollout.staging")
    rollback = default_template.section("deployment/rollback")
    assert [i.role for i in rollback.items] == ["devops", "devops"]


def test_workflow_phases_are_the_four_release_phases(
    default_template: ChecklistTemplate,
) -> None:
    """Walk pre-release, release, deployment, post-release; not incidents, sign-off or notes."""
    keys = [p.key for p in default_template.workflow_phases()]
    assert keys == ["pre-release", "release", "deployment", "post-release"]
    assert [p.key for p in default_template.phases] == [
        *keys,
        "incident-response",
        "sign-off",
        "notes",
    ]


def test_header_commands_tables_and_notes_are_kept(default_template: ChecklistTemplate) -> None:
    """Keep the header fields, code blocks, the severity table and the prose notes."""
    t = default_template
    assert dict(t.header) == {
        "version": "vX.X.X",
        "release_date": "YYYY-MM-DD",
        "release_lead": "@username",
    }
    assert t.title == "Release Checklist"
    branch = t.section("release/create-release-branch").commands
    assert [(c.language, c.code.splitlines()[-1]) for c in branch] == [
        ("bash", "git checkout -b release/vX.X.X")
    ]
    rollback = t.section("deployment/rollback")
    assert rollback.commands[0].code == "kubectl rollout undo deployment/nexis-gateway"
    assert rollback.notes[:3] == ("**回滚命令：**", "**回滚条件：**", "- 错误率 > 1%")
    assert t.section("deployment/production").notes == (
        "**部署窗口：** YYYY-MM-DD HH:MM - HH:MM (时区)",
    )
    (severity,) = t.section("incident-response/severity-levels").tables
    assert severity.header == ("级别", "响应时间", "处理时间", "通知范围")
    assert severity.rows[0] == ("P0", "15 分钟", "4 小时", "全员 + Stakeholder")
    assert len(severity.rows) == 4
    assert t.phase("notes").notes == ("<!-- 任何额外的注意事项或经验教训 -->",)


def test_section_keys_follow_the_naming_rules(default_template: ChecklistTemplate) -> None:
    """Shorten deployment/plan titles, number Chinese-only titles, nest subsection keys."""
    keys = [s.key for p in default_template.phases for s in p.walk_sections()]
    assert keys[:5] == [f"pre-release/s{n}" for n in range(1, 6)]
    assert "deployment/staging" in keys
    assert "deployment/production/pre-deployment" in keys
    assert "deployment/production/deployment" in keys
    assert "deployment/rollback" in keys
    assert "incident-response/on-call-contact" in keys


def test_lookups_fail_with_clear_messages(default_template: ChecklistTemplate) -> None:
    """Raise KeyError naming the missing id, sign-off or section."""
    with pytest.raises(KeyError, match="no checklist item with id 'nope'"):
        default_template.item("nope")
    with pytest.raises(KeyError, match="sign-off key"):
        default_template.item("approval")
    with pytest.raises(KeyError, match=r"no sign-off 'x'.*approval"):
        default_template.signoff("x")
    with pytest.raises(KeyError, match="no section 'deployment/canary'"):
        default_template.section("deployment/canary")


def test_load_template_reports_its_path() -> None:
    """Name the file as the template's source."""
    assert load_template(DEFAULT_TEMPLATE).source == str(DEFAULT_TEMPLATE)
