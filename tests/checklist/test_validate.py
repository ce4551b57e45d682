"""`checklist validate`: readable tree, JSON document, and `file:line:` errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

from bot.checklist.validate import run_validate
from tests.checklist.harness import DEFAULT_TEMPLATE


def _run(path: Path | str, as_json: bool) -> tuple[int, str]:
    out = io.StringIO()
    code = run_validate(str(path), as_json, out)
    return code, out.getvalue()


def test_tree_output_lists_phases_sections_items_and_signoffs() -> None:
    """Print phases, sections and items with ids, required/optional and role."""
    code, text = _run(DEFAULT_TEMPLATE, as_json=False)
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == f"Release Checklist — {DEFAULT_TEMPLATE}"
    assert "74 checkboxes: 70 items, 4 sign-offs" in lines[2]
    assert "workflow: pre-release → release → deployment → post-release" in lines[2]
    assert "[deployment] Deployment (部署)" in lines
    assert "    [deployment/production/deployment] Deployment" in lines
    assert (
        "      - [ ] prod-health  健康检查通过  (required, role=devops, check=k8s.rollout)" in lines
    )
    assert any(line.startswith("    - [ ] pre-release/s1:") for line in lines)
    assert (
        "  - [ ] approval  Tech Lead (日期: YYYY-MM-DD)  (sign-off 'Release approved:', "
        "role=tech_lead, phase=deployment, blocks=deployment/production)" in lines
    )


def test_json_output_shape() -> None:
    """Emit title, header, checkbox_count, nested phases/sections and a flat item list."""
    code, text = _run(DEFAULT_TEMPLATE, as_json=True)
    assert code == 0
    doc = json.loads(text)
    assert {"title", "header", "checkbox_count", "phases", "items"} <= doc.keys()
    assert doc["checkbox_count"] == 74
    assert doc["header"]["version"] == "vX.X.X"
    flat = doc["items"]
    assert len(flat) == 74
    assert [e["line"] for e in flat] == sorted(e["line"] for e in flat)
    assert [e["kind"] for e in flat].count("signoff") == 4
    item_keys = {"id", "text", "kind", "section_path", "required", "role", "check", "line"}
    assert all(item_keys <= e.keys() for e in flat)
    deployment = next(p for p in doc["phases"] if p["key"] == "deployment")
    production = next(s for s in deployment["sections"] if s["key"] == "deployment/production")
    assert production["path"] == ["Deployment (部署)", "2. Production Deployment (生产环境部署)"]
    assert production["items"] == []
    sub = production["subsections"][1]
    assert sub["key"] == "deployment/production/deployment"
    assert sub["path"][-1] == "Deployment"
    assert [i["id"] for i in sub["items"]] == ["prod-deployed", "prod-health", "prod-available"]
    assert sub["items"][1]["check"] == "k8s.rollout"
    assert sub["items"][1]["section_path"] == sub["path"]
    signoff_phase = next(p for p in doc["phases"] if p["key"] == "sign-off")
    approval = signoff_phase["items"][1]
    assert (approval["kind"], approval["id"], approval["role"]) == (
        "signoff",
        "approval",
        "tech_lead",
    )
    assert approval["blocks"] == "deployment/production"


def test_json_keeps_non_ascii_readable() -> None:
    """Write Chinese text as-is in the JSON, not as \\u escapes."""
    _, text = _run(DEFAULT_TEMPLATE, as_json=True)
    assert "所有计划功能已实现" in text


def test_errors_are_printed_one_per_line_and_exit_1(tmp_path: Path) -> None:
    """Print each problem as `file:line: message` and return 1."""
    path = tmp_path / "bad.md"
    path.write_text("## P\n- [ ] a {role=boss}\n```\n", encoding="utf-8")
    code, text = _run(path, as_json=True)
    assert code == 1
    assert text.splitlines() == [
        f"{path}:2: unknown role 'boss'; expected one of: release_lead, tech_lead, devops, "
        "oncall, eng_manager, stakeholders, dev_team",
        f"{path}:3: unclosed code fence '```'; expected a closing ``` line",
    ]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """Name the unreadable path and return 1."""
    path = tmp_path / "absent.md"
    code, text = _run(path, as_json=False)
    assert code == 1
    assert text == f"{path}: cannot read checklist template: No such file or directory\n"
