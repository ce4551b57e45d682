"""What GitHub's answers say about one checklist item: pass, fail with a reason, inconclusive.

Every function here is pure: the adapter fetched the facts, the verdict only reads them. A
pass always carries its evidence (the link a person can open); there is no pass without one.
`{version}` in a pattern is the release's number without the leading "v" (1.4.0), so the
seed's names read `release/v{version}`, `v{version}`, `nexis-v{version}-linux-x86_64.tar.gz`.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

CHECK_KEYS: tuple[str, ...] = (
    "github.branch",
    "github.merged",
    "github.ci",
    "github.tag",
    "github.version_file",
    "github.release",
    "github.assets",
    "github.changelog",
    "github.branch_deleted",
)
"""The `check=` keys this feature answers, in the order a release meets them."""

KEEP_A_CHANGELOG = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
GOOD_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
SHORT_SHA = 7


class GitHubUnavailable(Exception):
    """GitHub could not answer (unreachable, rate-limited, an error): the check is inconclusive."""

    def __init__(self, reason: str, retry_at: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_at = retry_at


class VerdictStatus(StrEnum):
    """The outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """One check's outcome: why, the evidence link on a pass, when to retry if inconclusive."""

    status: VerdictStatus
    reason: str
    link: str | None = None
    retry_at: datetime | None = None

    @classmethod
    def passed(cls, reason: str, link: str) -> Verdict:
        """Return a pass with its evidence link (a pass without one is not allowed)."""
        if not link:
            raise ValueError("a pass needs its evidence link")
        return cls(VerdictStatus.PASS, reason, link)

    @classmethod
    def failed(cls, reason: str, link: str | None = None) -> Verdict:
        """Return a failure saying what is wrong."""
        return cls(VerdictStatus.FAIL, reason, link)

    @classmethod
    def inconclusive(cls, reason: str, retry_at: datetime | None = None) -> Verdict:
        """Return "could not tell" (API unreachable, rate-limited, still running)."""
        return cls(VerdictStatus.INCONCLUSIVE, reason, None, retry_at)

    @property
    def is_pass(self) -> bool:
        """Return True for a pass."""
        return self.status is VerdictStatus.PASS


@dataclass(frozen=True)
class EvidenceSpec:
    """One service's GitHub settings as the checks read them (built from the config)."""

    repository: str | None = None
    main_branch: str = "main"
    branch_pattern: str = "release/v{version}"
    tag_pattern: str = "v{version}"
    version_file: str | None = "Cargo.toml"
    version_key: str = "package.version"
    assets: tuple[str, ...] = ()
    required_checks: tuple[str, ...] = ("all",)
    changelog: str = "CHANGELOG.md"
    changelog_headings: tuple[str, ...] = KEEP_A_CHANGELOG
    ci_ref: str = "{main}"

    def owner_repo(self) -> tuple[str, str]:
        """Return (owner, name) of the repository."""
        owner, _, name = (self.repository or "").partition("/")
        return owner, name

    def branch(self, version: str) -> str:
        """Return the release branch's name for `version`."""
        return expand(self.branch_pattern, version)

    def tag(self, version: str) -> str:
        """Return the release tag for `version`."""
        return expand(self.tag_pattern, version)

    def ci(self, version: str) -> str:
        """Return the ref whose check runs `github.ci` reads."""
        return (
            expand(self.ci_ref, version)
            .replace("{main}", self.main_branch)
            .replace("{branch}", self.branch(version))
            .replace("{tag}", self.tag(version))
        )


def number(version: str) -> str:
    """Return the version without its leading "v" (v1.4.0 -> 1.4.0)."""
    return version[1:] if version[:1] in ("v", "V") else version


def expand(pattern: str, version: str) -> str:
    """Fill `{version}` (the number, 1.4.0) into `pattern`."""
    return pattern.replace("{version}", number(version))


def required_settings(check: str) -> tuple[str, ...]:
    """Return the `[services.github]` settings `check` needs (for validate and check-config)."""
    needs: dict[str, tuple[str, ...]] = {
        "github.branch": ("repository", "branch_pattern"),
        "github.merged": ("repository", "branch_pattern", "main_branch"),
        "github.ci": ("repository", "required_checks", "ci_ref"),
        "github.tag": ("repository", "tag_pattern"),
        "github.version_file": ("repository", "tag_pattern", "version_file", "version_key"),
        "github.release": ("repository", "tag_pattern"),
        "github.assets": ("repository", "tag_pattern", "assets"),
        "github.changelog": ("repository", "changelog", "changelog_headings"),
        "github.branch_deleted": ("repository", "branch_pattern"),
    }
    return needs.get(check, ())


def missing_settings(spec: EvidenceSpec, check: str) -> list[str]:
    """Return the settings `check` needs that `spec` leaves empty."""
    values: Mapping[str, object] = {
        "repository": spec.repository,
        "branch_pattern": spec.branch_pattern,
        "main_branch": spec.main_branch,
        "required_checks": spec.required_checks,
        "ci_ref": spec.ci_ref,
        "tag_pattern": spec.tag_pattern,
        "version_file": spec.version_file,
        "version_key": spec.version_key,
        "assets": spec.assets,
        "changelog": spec.changelog,
        "changelog_headings": spec.changelog_headings,
    }
    return [name for name in required_settings(check) if not values.get(name)]


# ----- the facts the adapter fetches ---------------------------------------------------------


@dataclass(frozen=True)
class BranchFacts:
    """A branch or tag that exists: its name, commit and the page showing it."""

    name: str
    sha: str
    url: str


@dataclass(frozen=True)
class CheckRun:
    """One check run on a commit, as GitHub's check-runs list gives it."""

    name: str
    status: str
    conclusion: str | None
    head_sha: str
    url: str


@dataclass(frozen=True)
class ReleaseFacts:
    """A GitHub Release: its page, whether it is a draft, its notes and asset names."""

    tag: str
    url: str
    draft: bool
    body: str
    assets: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class CompareFacts:
    """How a branch relates to main (GitHub's compare API: base=main, head=branch)."""

    status: str
    ahead_by: int
    behind_by: int
    url: str


# ----- verdicts ------------------------------------------------------------------------------


def branch_verdict(branch: BranchFacts | None, expected: str) -> Verdict:
    """The release branch exists under the name the rule gives."""
    if branch is None:
        return Verdict.failed(f"branch `{expected}` not found")
    return Verdict.passed(f"branch `{branch.name}` at {branch.sha[:SHORT_SHA]}", branch.url)


def branch_deleted_verdict(branch: BranchFacts | None, expected: str, repo_url: str) -> Verdict:
    """The release branch is gone (after the release)."""
    if branch is not None:
        return Verdict.failed(f"branch `{expected}` still exists (at {branch.sha[:SHORT_SHA]})")
    return Verdict.passed(f"branch `{expected}` is deleted", f"{repo_url}/branches")


def merge_verdict(compare: CompareFacts | None, branch: str, main: str) -> Verdict:
    """Every commit of the release branch is in main."""
    if compare is None:
        return Verdict.failed(f"branch `{branch}` not found, so its merge into `{main}` is unknown")
    if compare.status in ("identical", "behind") or compare.ahead_by == 0:
        return Verdict.passed(f"`{branch}` is merged into `{main}`", compare.url)
    plural = "s" if compare.ahead_by != 1 else ""
    return Verdict.failed(
        f"`{branch}` has {compare.ahead_by} commit{plural} not in `{main}` (not merged)",
        compare.url,
    )


def ci_verdict(runs: Sequence[CheckRun], required: Sequence[str], ref: str) -> Verdict:
    """The check runs on the release commit passed: all of them, or the required names."""
    if not runs:
        return Verdict.failed(f"no check runs on `{ref}`")
    sha = runs[0].head_sha[:SHORT_SHA]
    wanted_all = not required or "all" in required
    by_name: dict[str, CheckRun] = {}
    for run in runs:
        by_name.setdefault(run.name, run)  # the list is newest first
    if not wanted_all:
        missing = [name for name in required if name not in by_name]
        if missing:
            names = ", ".join(f"`{name}`" for name in missing)
            return Verdict.failed(f"required check {names} did not run on {sha}")
    chosen = list(by_name.values()) if wanted_all else [by_name[name] for name in required]
    for run in chosen:
        if run.status == "completed" and run.conclusion not in GOOD_CONCLUSIONS:
            word = "failed" if run.conclusion in (None, "failure") else f"ended {run.conclusion}"
            return Verdict.failed(f"check `{run.name}` {word} on {sha}", run.url)
    pending = [run.name for run in chosen if run.status != "completed"]
    if pending:
        return Verdict.inconclusive(f"check `{pending[0]}` is still {chosen[0].status} on {sha}")
    plural = "s" if len(chosen) != 1 else ""
    return Verdict.passed(f"{len(chosen)} check{plural} passed on {sha}", chosen[0].url)


def tag_verdict(tag: BranchFacts | None, expected: str) -> Verdict:
    """The release tag exists (pushed to GitHub)."""
    if tag is None:
        return Verdict.failed(f"tag `{expected}` missing")
    return Verdict.passed(f"tag `{tag.name}` at {tag.sha[:SHORT_SHA]}", tag.url)


def version_file_verdict(
    text: str | None, path: str, key: str, version: str, ref: str, url: str
) -> Verdict:
    """The version in the manifest at the tag equals the release's version."""
    if text is None:
        return Verdict.failed(f"`{path}` not found at `{ref}`")
    try:
        data: object = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Verdict.failed(f"`{path}` at `{ref}` is not valid TOML: {exc}")
    for part in key.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    if data is None:
        return Verdict.failed(f"`{path}` at `{ref}` has no `{key}`")
    found = str(data)
    if number(found) != number(version):
        return Verdict.failed(
            f"version mismatch: `{path}` {key} is {found} at `{ref}`, expected {number(version)}",
            url,
        )
    return Verdict.passed(f"`{path}` {key} = {found} at `{ref}`", url)


def release_verdict(release: ReleaseFacts | None, tag: str) -> Verdict:
    """The GitHub Release exists, is published and has notes."""
    if release is None:
        return Verdict.failed(f"no GitHub Release for tag `{tag}`")
    if release.draft:
        return Verdict.failed(f"the GitHub Release for `{tag}` is still a draft", release.url)
    if not release.body.strip():
        return Verdict.failed(f"the GitHub Release for `{tag}` has no release notes", release.url)
    return Verdict.passed(f"GitHub Release `{tag}` published with notes", release.url)


def assets_verdict(release: ReleaseFacts | None, patterns: Sequence[str], version: str) -> Verdict:
    """Every configured asset (pattern with `{version}`) is attached to the Release."""
    if release is None:
        return Verdict.failed("no GitHub Release, so no assets")
    if not patterns:
        return Verdict.failed("no asset patterns configured ([services.github] assets)")
    for pattern in patterns:
        wanted = expand(pattern, version)
        if not any(fnmatch.fnmatchcase(name, wanted) for name in release.assets):
            return Verdict.failed(f"asset `{wanted}` missing", release.url)
    plural = "s" if len(patterns) != 1 else ""
    return Verdict.passed(f"{len(patterns)} asset{plural} attached", release.url)


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


def changelog_verdict(
    text: str | None, path: str, version: str, headings: Sequence[str], ref: str, url: str
) -> Verdict:
    """CHANGELOG has the version's section, and its categories are the allowed ones."""
    if text is None:
        return Verdict.failed(f"`{path}` not found at `{ref}`")
    wanted = number(version)
    level: int | None = None
    categories: list[str] = []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match is None:
            continue
        depth, title = len(match[1]), match[2]
        if level is None:
            label = title.strip("[] ").split("]")[0].strip()
            if number(label.split()[0] if label else "") == wanted:
                level = depth
            continue
        if depth <= level:
            break
        if depth == level + 1:
            categories.append(title.strip())
    if level is None:
        return Verdict.failed(f"`{path}` has no section for {wanted} at `{ref}`", url)
    unknown = [c for c in categories if c not in headings]
    if unknown:
        return Verdict.failed(
            f"`{path}` {wanted} has an unknown heading `{unknown[0]}` "
            f"(expected {', '.join(headings)})",
            url,
        )
    if not categories:
        return Verdict.failed(f"`{path}` {wanted} has no categories ({', '.join(headings)})", url)
    return Verdict.passed(f"`{path}` has {wanted} ({', '.join(categories)})", url)
