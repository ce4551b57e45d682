"""GitHub evidence settings: `[github]` (API, recheck, who may delete a branch) and each
service's `[services.github]` (repository, names with `{version}`, version file, assets, CI)."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field

from bot.config.base import NonEmptyStr, RoleKey, SectionModel
from bot.config.durations import PositiveDuration
from bot.config.problems import ConfigProblem

_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")


class ServiceGitHub(SectionModel):
    """Where one service's release evidence lives on GitHub; `{version}` is 1.4.0 for v1.4.0."""

    repository: NonEmptyStr | None = None
    main_branch: NonEmptyStr = "main"
    branch_pattern: NonEmptyStr = "release/v{version}"
    tag_pattern: NonEmptyStr = "v{version}"
    version_file: NonEmptyStr | None = "Cargo.toml"
    version_key: NonEmptyStr = "package.version"
    assets: list[NonEmptyStr] = Field(default_factory=list)
    required_checks: list[NonEmptyStr] = Field(default_factory=lambda: ["all"])
    ci_ref: NonEmptyStr = "{main}"
    changelog: NonEmptyStr = "CHANGELOG.md"
    changelog_headings: list[NonEmptyStr] = Field(
        default_factory=lambda: ["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"]
    )

    def problems(self) -> list[ConfigProblem]:
        """Reject a repository that is not `owner/name`, patterns without `{version}`."""
        found: list[ConfigProblem] = []
        if self.repository is not None and not _REPOSITORY.fullmatch(self.repository):
            found.append(ConfigProblem("repository", "expected owner/name, e.g. nexis/nexis"))
        for key in ("branch_pattern", "tag_pattern"):
            if "{version}" not in getattr(self, key):
                found.append(ConfigProblem(key, "must contain {version}"))
        return found


class GitHubSettings(SectionModel):
    """How the bot reaches GitHub (or GitHub Enterprise) and how often it re-checks."""

    enabled: bool = False
    api_url: NonEmptyStr = "https://api.github.com"
    web_url: NonEmptyStr = "https://github.com"
    recheck_every: PositiveDuration = timedelta(minutes=5)
    delete_branch_roles: list[RoleKey] = Field(default_factory=lambda: ["release_lead", "devops"])
    app_id: int | None = None
    installation_id: int | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    def problems(self) -> list[ConfigProblem]:
        """Reject URLs that are not http(s) and half a GitHub App."""
        found = [
            ConfigProblem(key, "expected an http:// or https:// URL")
            for key in ("api_url", "web_url")
            if not getattr(self, key).startswith(("http://", "https://"))
        ]
        if (self.app_id is None) != (self.installation_id is None):
            missing = "installation_id" if self.installation_id is None else "app_id"
            found.append(
                ConfigProblem(missing, "a GitHub App needs both app_id and installation_id")
            )
        return found
