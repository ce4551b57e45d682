"""A GitHub REST API on loopback for the evidence checks, answering in GitHub's own shapes.

The bot's real githubkit client talks to it over HTTP exactly as it talks to api.github.com
(or a GitHub Enterprise `/api/v3/` base URL). Each body follows the published OpenAPI
description as githubkit's generated models carry it (`BranchWithProtection`, `GitRef`,
`ReposOwnerRepoCommitsRefCheckRunsGetResponse200` with `CheckRun`s, `ContentFile`, `Release`
with `ReleaseAsset`s, `CommitComparison`); tests/sandbox/test_github.py validates every one
against those models. Errors are GitHub's `{"message", "documentation_url", "status"}`.

What it models: one repository with branches, tags, files per commit, check runs per commit,
releases, the merge state of branches into main, GitHub App installation tokens
(`POST /app/installations/{id}/access_tokens`), ETags (`If-None-Match` answered `304`
without counting against the rate limit, as GitHub does), the primary rate limit (`403` or
`429` with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`), and `DELETE` of a branch ref.
Every request is recorded (`requests`), so a test can count them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.sandbox.site import LoopbackSite

CREATED = "2026-12-01T10:00:00Z"


@dataclass(frozen=True)
class Recorded:
    """One request the sandbox answered."""

    method: str
    path: str
    status: int
    counted: bool
    authorization: str = ""


@dataclass
class RepoState:
    """What the repository holds; tests change it between checks."""

    owner: str = "nexis"
    name: str = "nexis"
    main: str = "main"
    branches: dict[str, str] = field(default_factory=dict)  # name -> sha
    tags: dict[str, str] = field(default_factory=dict)  # name -> sha
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # sha -> path -> text
    check_runs: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)  # tag -> release facts
    unmerged: set[str] = field(default_factory=set)  # branches with commits not in main

    @property
    def full_name(self) -> str:
        """Return `owner/name`."""
        return f"{self.owner}/{self.name}"

    def resolve(self, ref: str) -> str | None:
        """Return the commit sha a branch, tag, `heads/x`, `tags/x` or sha names."""
        ref = ref.removeprefix("refs/")
        if ref.startswith("heads/"):
            return self.branches.get(ref[6:])
        if ref.startswith("tags/"):
            return self.tags.get(ref[5:])
        if ref in self.branches:
            return self.branches[ref]
        if ref in self.tags:
            return self.tags[ref]
        known = set(self.files) | set(self.check_runs) | set(self.branches.values())
        return ref if ref in known or ref in self.tags.values() else None


class GitHubSandbox:
    """Serve one repository's REST API on a loopback port."""

    def __init__(
        self,
        state: RepoState | None = None,
        *,
        prefix: str = "",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`prefix`: a path the API lives under (GitHub Enterprise serves `/api/v3`);
        `clock`: the time the rate-limit window follows (a test's fake clock)."""
        self.state = state or RepoState()
        self.prefix = prefix.rstrip("/")
        self.requests: list[Recorded] = []
        self.rate_limit = 5000
        self.rate_used = 0
        self.limited_until: int | None = None  # epoch seconds: answer rate-limited until then
        self.limited_status = 403
        self.clock = clock or (lambda: datetime.now(UTC))
        self.installation_tokens = 0
        self.base_url = ""
        self._site: LoopbackSite | None = None

    # ----- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host:port` (0: any free port) and return the API base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._site = LoopbackSite(app)
        self.base_url = await self._site.start(host, port) + self.prefix
        return self.base_url

    async def stop(self) -> None:
        """Stop listening."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    @property
    def now_epoch(self) -> int:
        """Return the sandbox's "now" in epoch seconds (the rate-limit window follows it)."""
        return int(self.clock().timestamp())

    def limit_until(self, until: datetime, status: int = 403) -> None:
        """Answer every request rate-limited (`status` 403 or 429) until `until`."""
        self.limited_until = int(until.timestamp())
        self.limited_status = status

    # ----- what a test reads ------------------------------------------------------------------

    def count(self, method: str = "GET", contains: str = "") -> int:
        """Return how many `method` requests with `contains` in the path were answered."""
        return sum(1 for r in self.requests if r.method == method and contains in r.path)

    @property
    def deletes(self) -> list[str]:
        """Return the paths of the DELETE requests answered with 204."""
        return [r.path for r in self.requests if r.method == "DELETE" and r.status == 204]

    # ----- the API ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        if self.limited_until is not None and self.now_epoch < self.limited_until:
            return self._record(request, path, self._limited(), counted=False)
        if request.method == "POST" and path.startswith("/app/installations/"):
            return self._record(request, path, self._installation_token(path), counted=False)
        response, status = self._route(request.method, path, request.query)
        if status == 304:
            return self._record(request, path, web.Response(status=304), counted=False)
        etag = None
        if response is not None and request.method == "GET":
            body = json.dumps(response, sort_keys=True)
            etag = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
            if request.headers.get("If-None-Match") == etag:
                # GitHub: "a 304 Not Modified response does not count against your rate limit"
                answer = web.Response(status=304, headers={"ETag": etag})
                return self._record(request, path, answer, counted=False)
        self.rate_used += 1
        headers = {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(self.rate_limit - self.rate_used, 0)),
            "x-ratelimit-reset": str(self.now_epoch + 3600),
            "x-ratelimit-used": str(self.rate_used),
            "Cache-Control": "private, max-age=60, s-maxage=60",
        }
        if etag:
            headers["ETag"] = etag
        if status == 204:
            return self._record(request, path, web.Response(status=204, headers=headers), True)
        answer = web.json_response(response, status=status, headers=headers)
        return self._record(request, path, answer, counted=True)

    def _record(
        self, request: web.Request, path: str, response: web.Response, counted: bool
    ) -> web.Response:
        auth = request.headers.get("Authorization", "")
        self.requests.append(Recorded(request.method, path, response.status, counted, auth))
        return response

    def _installation_token(self, path: str) -> web.Response:
        """Answer `POST /app/installations/{id}/access_tokens` with an `installation-token`."""
        installation = path.split("/")[3]
        self.installation_tokens += 1
        token = f"ghs_sandbox{installation}x{self.installation_tokens}"
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        body = {
            "token": token,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": {"contents": "write", "checks": "read"},
            "repository_selection": "selected",
        }
        return web.json_response(body, status=201)

    def _limited(self) -> web.Response:
        assert self.limited_until is not None
        return web.json_response(
            {
                "message": "API rate limit exceeded for installation ID 1.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": str(self.limited_status),
            },
            status=self.limited_status,
            headers={
                "x-ratelimit-limit": str(self.rate_limit),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(self.limited_until),
                "x-ratelimit-used": str(self.rate_limit),
            },
        )

    def _route(self, method: str, path: str, query: Any) -> tuple[Any, int]:
        s = self.state
        base = f"/repos/{s.owner}/{s.name}"
        if not path.startswith(base + "/"):
            return _not_found(), 404
        rest = path[len(base) + 1 :]
        if method == "DELETE" and rest.startswith("git/refs/heads/"):
            branch = rest[len("git/refs/heads/") :]
            if branch not in s.branches:
                return {"message": "Reference does not exist", "status": "422"}, 422
            del s.branches[branch]
            return None, 204
        if method != "GET":
            return _not_found(), 404
        if rest.startswith("branches/"):
            name = rest[len("branches/") :]
            sha = s.branches.get(name)
            return (self.branch(name, sha), 200) if sha else (_branch_missing(), 404)
        if rest.startswith("git/ref/"):
            ref = rest[len("git/ref/") :]
            sha = s.resolve(ref) if ref.startswith(("tags/", "heads/")) else None
            return (self.ref(ref, sha), 200) if sha else (_not_found(), 404)
        if rest.startswith("commits/") and rest.endswith("/check-runs"):
            sha = s.resolve(rest[len("commits/") : -len("/check-runs")])
            if sha is None:
                return {"message": "No commit found for SHA", "status": "422"}, 422
            runs = [self.check_run(i, sha, *run) for i, run in enumerate(s.check_runs.get(sha, []))]
            return {"total_count": len(runs), "check_runs": runs}, 200
        if rest.startswith("contents/"):
            file_path = rest[len("contents/") :]
            sha = s.resolve(str(query.get("ref") or s.main))
            text = s.files.get(sha or "", {}).get(file_path)
            return (
                (self.content(file_path, text, sha or ""), 200)
                if text is not None
                else (
                    _not_found(),
                    404,
                )
            )
        if rest.startswith("releases/tags/"):
            tag = rest[len("releases/tags/") :]
            facts = s.releases.get(tag)
            return (self.release(tag, facts), 200) if facts else (_not_found(), 404)
        if rest.startswith("compare/"):
            base_ref, _, head_ref = rest[len("compare/") :].partition("...")
            head = s.resolve(head_ref)
            main = s.resolve(base_ref)
            if head is None or main is None:
                return _not_found(), 404
            return self.compare(base_ref, head_ref, head_ref in s.unmerged, main, head), 200
        return _not_found(), 404

    # ----- GitHub's shapes --------------------------------------------------------------------

    @property
    def api(self) -> str:
        """Return the API URL of the repository (what GitHub puts in `url` fields)."""
        return f"{self.base_url}/repos/{self.state.full_name}"

    @property
    def html(self) -> str:
        """Return the repository's web page."""
        return f"https://github.example/{self.state.full_name}"

    def user(self, login: str = "nexis-bot") -> dict[str, Any]:
        """Return a `simple-user`."""
        url = f"{self.base_url}/users/{login}"
        return {
            "login": login, "id": 1, "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "https://avatars.example/u/1", "gravatar_id": "", "url": url,
            "html_url": f"https://github.example/{login}", "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}", "starred_url": f"{url}/starred{{/owner}}{{/repo}}",  # noqa: E501
            "subscriptions_url": f"{url}/subscriptions", "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos", "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events", "type": "User", "site_admin": False,
        }  # fmt: skip

    def commit(self, sha: str) -> dict[str, Any]:
        """Return a `commit`."""
        person = {"name": "Nexis Bot", "email": "bot@nexis.example", "date": CREATED}
        return {
            "url": f"{self.api}/commits/{sha}", "sha": sha, "node_id": f"C_{sha[:10]}",
            "html_url": f"{self.html}/commit/{sha}", "comments_url": f"{self.api}/commits/{sha}/comments",  # noqa: E501
            "commit": {
                "url": f"{self.api}/git/commits/{sha}", "author": person, "committer": person,
                "message": "Release", "comment_count": 0,
                "tree": {"sha": sha[::-1], "url": f"{self.api}/git/trees/{sha[::-1]}"},
                "verification": {"verified": False, "reason": "unsigned", "payload": None,
                                 "signature": None, "verified_at": None},
            },
            "author": self.user(), "committer": self.user(), "parents": [],
        }  # fmt: skip

    def branch(self, name: str, sha: str) -> dict[str, Any]:
        """Return a `branch-with-protection`."""
        url = f"{self.api}/branches/{name}"
        return {
            "name": name, "commit": self.commit(sha),
            "_links": {"html": f"{self.html}/tree/{name}", "self": url},
            "protected": False,
            "protection": {"enabled": False, "required_status_checks": {
                "enforcement_level": "off", "contexts": [], "checks": []}},
            "protection_url": f"{url}/protection",
        }  # fmt: skip

    def ref(self, ref: str, sha: str) -> dict[str, Any]:
        """Return a `git-ref` (a lightweight tag or a branch pointing at a commit)."""
        return {
            "ref": f"refs/{ref}", "node_id": f"REF_{sha[:10]}", "url": f"{self.api}/git/refs/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{self.api}/git/commits/{sha}"},
        }  # fmt: skip

    def check_run(
        self, index: int, sha: str, name: str, status: str, conclusion: str | None
    ) -> dict[str, Any]:
        """Return a `check-run`."""
        run_id = 1000 + index
        done = status == "completed"
        return {
            "id": run_id, "head_sha": sha, "node_id": f"CR_{run_id}", "external_id": "",
            "url": f"{self.api}/check-runs/{run_id}",
            "html_url": f"{self.html}/runs/{run_id}", "details_url": f"{self.html}/runs/{run_id}",
            "status": status, "conclusion": conclusion, "started_at": CREATED,
            "completed_at": CREATED if done else None,
            "output": {"title": name, "summary": conclusion or status, "text": None,
                       "annotations_count": 0, "annotations_url": f"{self.api}/check-runs/{run_id}/annotations"},  # noqa: E501
            "name": name, "check_suite": {"id": 77}, "app": None, "pull_requests": [],
        }  # fmt: skip

    def content(self, path: str, text: str, sha: str) -> dict[str, Any]:
        """Return a `content-file` (base64 with line breaks, as GitHub sends it)."""
        raw = text.encode()
        encoded = base64.encodebytes(raw).decode()
        blob = hashlib.sha1(raw).hexdigest()
        url = f"{self.api}/contents/{path}?ref={sha}"
        return {
            "type": "file", "encoding": "base64", "size": len(raw), "name": path.rsplit("/", 1)[-1],
            "path": path, "content": encoded, "sha": blob, "url": url,
            "git_url": f"{self.api}/git/blobs/{blob}", "html_url": f"{self.html}/blob/{sha}/{path}",
            "download_url": f"https://raw.example/{self.state.full_name}/{sha}/{path}",
            "_links": {"git": f"{self.api}/git/blobs/{blob}", "html": f"{self.html}/blob/{sha}/{path}",  # noqa: E501
                       "self": url},
        }  # fmt: skip

    def release(self, tag: str, facts: dict[str, Any]) -> dict[str, Any]:
        """Return a `release` with its `release-asset`s."""
        url = f"{self.api}/releases/7"
        assets = [
            {
                "url": f"{self.api}/releases/assets/{70 + i}", "id": 70 + i, "node_id": f"RA_{i}",
                "browser_download_url": f"{self.html}/releases/download/{tag}/{name}",
                "name": name, "label": None, "state": "uploaded",
                "content_type": "application/gzip", "size": 1024, "digest": None,
                "download_count": 0, "created_at": CREATED, "updated_at": CREATED,
                "uploader": self.user(),
            }
            for i, name in enumerate(facts.get("assets", ()))
        ]  # fmt: skip
        return {
            "url": url, "html_url": f"{self.html}/releases/tag/{tag}", "assets_url": f"{url}/assets",  # noqa: E501
            "upload_url": f"https://uploads.example/repos/{self.state.full_name}/releases/7/assets{{?name,label}}",
            "tarball_url": f"{self.api}/tarball/{tag}", "zipball_url": f"{self.api}/zipball/{tag}",
            "id": 7, "node_id": "RE_7", "tag_name": tag, "target_commitish": self.state.main,
            "name": tag, "body": facts.get("body", ""), "draft": bool(facts.get("draft", False)),
            "prerelease": False, "created_at": CREATED, "published_at": CREATED,
            "author": self.user(), "assets": assets,
        }  # fmt: skip

    def compare(
        self, base: str, head: str, unmerged: bool, base_sha: str, head_sha: str
    ) -> dict[str, Any]:
        """Return a `commit-comparison` of `base...head`."""
        ahead = 2 if unmerged else 0
        commits = [self.commit(head_sha)] if unmerged else []
        return {
            "url": f"{self.api}/compare/{base}...{head}",
            "html_url": f"{self.html}/compare/{base}...{head}",
            "permalink_url": f"{self.html}/compare/{base_sha[:7]}...{head_sha[:7]}",
            "diff_url": f"{self.html}/compare/{base}...{head}.diff",
            "patch_url": f"{self.html}/compare/{base}...{head}.patch",
            "base_commit": self.commit(base_sha), "merge_base_commit": self.commit(base_sha),
            "status": "ahead" if unmerged else "behind", "ahead_by": ahead,
            "behind_by": 0 if unmerged else 3, "total_commits": ahead, "commits": commits,
            "files": [],
        }  # fmt: skip


def _not_found() -> dict[str, str]:
    return {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }


def _branch_missing() -> dict[str, str]:
    return {
        "message": "Branch not found",
        "documentation_url": "https://docs.github.com/rest/branches/branches#get-a-branch",
        "status": "404",
    }


def seed_release(sandbox: GitHubSandbox, version: str = "1.4.0") -> None:
    """Fill the repository with a good release of `version`: every check passes on it."""
    s = sandbox.state
    sha = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
    s.branches.update(
        {s.main: sha, f"release/v{version}": "1b2c3d4e5f60718293a4b5c6d7e8f90112233445"}
    )
    s.tags[f"v{version}"] = sha
    s.files[sha] = {
        "Cargo.toml": f'[package]\nname = "nexis"\nversion = "{version}"\nedition = "2021"\n',
        "CHANGELOG.md": (
            "# Changelog\n\n## [Unreleased]\n\n"
            f"## [{version}] - 2026-12-01\n\n### Added\n- Gateway metrics\n\n"
            "### Fixed\n- Reconnect storm\n\n## [1.3.0] - 2026-11-01\n\n### Changed\n- x\n"
        ),
    }
    s.files[s.branches[f"release/v{version}"]] = dict(s.files[sha])
    s.check_runs[sha] = [
        ("build", "completed", "success"),
        ("test (ubuntu)", "completed", "success"),
        ("clippy", "completed", "neutral"),
    ]
    s.releases[f"v{version}"] = {
        "body": f"## nexis v{version}\n\n- Gateway metrics\n- Reconnect storm fixed\n",
        "assets": [f"nexis-v{version}-linux-x86_64.tar.gz", "SHA256SUMS"],
    }
