"""The pure verdicts: no pass without evidence, the reasons people read, the names rules give."""

from __future__ import annotations

import pytest

from bot.evidence.domain import (
    CheckRun,
    CompareFacts,
    EvidenceSpec,
    ReleaseFacts,
    Verdict,
    VerdictStatus,
    assets_verdict,
    changelog_verdict,
    ci_verdict,
    expand,
    merge_verdict,
    missing_settings,
    version_file_verdict,
)

SHA = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


def run(name: str, status: str = "completed", conclusion: str | None = "success") -> CheckRun:
    """Return a check run on SHA."""
    return CheckRun(name, status, conclusion, SHA, f"https://gh/runs/{name}")


def test_a_pass_needs_its_evidence_link() -> None:
    """Never a pass without evidence."""
    with pytest.raises(ValueError, match="evidence link"):
        Verdict.passed("looks fine", "")


def test_names_come_from_the_patterns() -> None:
    """`{version}` is the number without the v."""
    spec = EvidenceSpec(repository="o/r", ci_ref="{tag}")
    assert expand("release/v{version}", "v1.4.0") == "release/v1.4.0"
    assert (spec.branch("v2.0.0-rc.1"), spec.tag("v2.0.0-rc.1")) == (
        "release/v2.0.0-rc.1",
        "v2.0.0-rc.1",
    )
    assert spec.ci("v1.4.0") == "v1.4.0"
    assert EvidenceSpec(ci_ref="{branch}").ci("v1.4.0") == "release/v1.4.0"


def test_ci_takes_the_newest_run_of_each_name_and_names_other_conclusions() -> None:
    """A re-run that passed counts (newest first); a cancelled run is named as such."""
    rerun = [run("test"), run("test", conclusion="failure")]
    assert ci_verdict(rerun, ["all"], "main").status is VerdictStatus.PASS
    cancelled = ci_verdict([run("deploy", conclusion="cancelled")], ["deploy"], "main")
    assert cancelled.reason == "check `deploy` ended cancelled on 3f2a1c9"


def test_required_names_ignore_other_failing_runs() -> None:
    """With named checks, only those decide."""
    runs = [run("build"), run("lint", conclusion="failure")]
    assert ci_verdict(runs, ["build"], "main").status is VerdictStatus.PASS
    assert ci_verdict(runs, ["all"], "main").status is VerdictStatus.FAIL


def test_version_file_problems() -> None:
    """Missing file, bad TOML and a missing key each say so."""
    assert version_file_verdict(None, "Cargo.toml", "package.version", "v1", "v1", "").reason == (
        "`Cargo.toml` not found at `v1`"
    )
    bad = version_file_verdict("[package\n", "Cargo.toml", "package.version", "v1", "v1", "")
    assert bad.reason.startswith("`Cargo.toml` at `v1` is not valid TOML")
    nokey = version_file_verdict(
        "[package]\nname='x'\n", "Cargo.toml", "package.version", "v1", "v1", ""
    )
    assert nokey.reason == "`Cargo.toml` at `v1` has no `package.version`"
    nested = version_file_verdict(
        '[workspace.package]\nversion = "1.4.0"\n', "Cargo.toml", "workspace.package.version",
        "v1.4.0", "v1.4.0", "https://x",
    )  # fmt: skip
    assert nested.status is VerdictStatus.PASS


def test_changelog_forms_of_the_version_heading() -> None:
    """`## [1.4.0] - date`, `## 1.4.0` and `## [v1.4.0]` all name the section."""
    body = "### Added\n- a\n"
    for heading in ("## [1.4.0] - 2026-12-01", "## 1.4.0", "## [v1.4.0]"):
        verdict = changelog_verdict(f"# C\n\n{heading}\n\n{body}", "CHANGELOG.md", "v1.4.0",
                                    ["Added"], "v1.4.0", "https://x")  # fmt: skip
        assert verdict.status is VerdictStatus.PASS, heading
    empty = changelog_verdict("## [1.4.0]\n\n## [1.3.0]\n### Added\n", "CHANGELOG.md", "v1.4.0",
                              ["Added"], "v1.4.0", "https://x")  # fmt: skip
    assert empty.reason == "`CHANGELOG.md` 1.4.0 has no categories (Added)"


def test_assets_and_merge_edge_cases() -> None:
    """Glob patterns match; no patterns configured is a failure, not a pass."""
    release = ReleaseFacts("v1.4.0", "https://r", False, "notes", ("nexis-v1.4.0-linux.tar.gz",))
    assert assets_verdict(release, ["nexis-v{version}-*.tar.gz"], "v1.4.0").is_pass
    assert assets_verdict(release, [], "v1.4.0").status is VerdictStatus.FAIL
    one = merge_verdict(CompareFacts("ahead", 1, 0, "https://c"), "b", "main")
    assert one.reason == "`b` has 1 commit not in `main` (not merged)"
    assert merge_verdict(CompareFacts("identical", 0, 0, "https://c"), "b", "main").is_pass


def test_missing_settings_per_check() -> None:
    """Only the settings a check needs are reported."""
    spec = EvidenceSpec(repository="o/r", assets=(), version_file=None)
    assert missing_settings(spec, "github.assets") == ["assets"]
    assert missing_settings(spec, "github.version_file") == ["version_file"]
    assert missing_settings(spec, "github.tag") == []
    assert missing_settings(EvidenceSpec(), "github.branch") == ["repository"]
