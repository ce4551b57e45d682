"""Read the evidence from GitHub's REST API through githubkit (typed, httpx-based).

Why githubkit: it is typed end to end (pydantic models generated from GitHub's published
OpenAPI description, so every answer is validated against GitHub's own shapes), async on
httpx like the rest of the bot, takes a `base_url` for GitHub Enterprise (`/api/v3`), and
authenticates with a token or as a GitHub App installation. gidgethub would hand back raw
dicts we would have to validate ourselves.

It is imported on first use only: the bot's start-up time and memory are measured, and a
bot without `[services.github]` never loads it.

Two things are done here rather than by githubkit, on purpose:
- Conditional requests: each GET remembers its ETag and sends `If-None-Match`; a `304`
  reuses the remembered answer (GitHub does not count a 304 against the rate limit).
  githubkit's own HTTP cache (hishel) keeps wall-clock freshness; ours follows the bot's
  injected clock and is per client.
- Rate limits: githubkit's automatic retry would sleep inside the request (up to an hour);
  here a `403`/`429` with the limit spent raises `GitHubUnavailable` with the reset time, the
  check is inconclusive, and the service schedules the retry for then. No call is made
  before the reset.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from bot.core.clock import Clock
from bot.evidence.domain import (
    BranchFacts,
    CheckRun,
    CompareFacts,
    GitHubUnavailable,
    ReleaseFacts,
)

T = TypeVar("T")
DEFAULT_API = "https://api.github.com"


@dataclass(frozen=True)
class FileFacts:
    """A file's text at a ref and the page showing it."""

    text: str
    url: str


@dataclass
class GitHubClient:
    """The evidence reads (and the one branch delete) against one GitHub API base URL."""

    clock: Clock
    base_url: str = DEFAULT_API
    token: str | None = None
    app: tuple[int, str, int] | None = None  # (app id, private key PEM, installation id)
    web_url: str = "https://github.com"
    timeout: float = 10.0
    transport: httpx.AsyncBaseTransport | None = None
    etag_hits: int = 0
    requests: int = 0
    limited_until: datetime | None = None
    _etags: dict[str, tuple[str, Any]] = field(default_factory=dict)
    _github: Any = None

    def _client(self) -> Any:
        if self._github is None:
            from githubkit import GitHub, TokenAuthStrategy, UnauthAuthStrategy

            auth: Any = UnauthAuthStrategy()
            if self.token:
                auth = TokenAuthStrategy(self.token)
            elif self.app is not None:
                from githubkit import AppInstallationAuthStrategy

                app_id, key, installation = self.app
                auth = AppInstallationAuthStrategy(app_id, key, installation)
            self._github = GitHub(
                auth,
                base_url=self.base_url,
                user_agent="releasebot",
                timeout=self.timeout,
                http_cache=False,
                auto_retry=False,
                async_transport=self.transport,
            )
        return self._github

    @property
    def rest(self) -> Any:
        """Return githubkit's REST namespace (imports githubkit on the first call)."""
        return self._client().rest

    def repo_url(self, repository: str) -> str:
        """Return the repository's web page."""
        return f"{self.web_url.rstrip('/')}/{repository}"

    async def _get(
        self,
        key: str,
        call: Callable[[Mapping[str, str]], Awaitable[Any]],
        parse: Callable[[Any], T],
    ) -> T | None:
        """GET with `If-None-Match`; return the parsed answer, None on 404, or raise."""
        now = self.clock.now()
        if self.limited_until is not None and now < self.limited_until:
            raise GitHubUnavailable(
                f"GitHub rate limit reached; retrying after {self.limited_until:%H:%M:%S} UTC",
                self.limited_until,
            )
        known = self._etags.get(key)
        headers = {"If-None-Match": known[0]} if known else {}
        response = await self._send(lambda: call(headers))
        if response is None:
            self._etags.pop(key, None)
            return None
        if response.status_code == 304 and known is not None:
            self.etag_hits += 1
            value: T = known[1]
            return value
        try:
            value = parse(response.parsed_data)
        except Exception as exc:  # an answer outside GitHub's published shape
            raise GitHubUnavailable(f"GitHub's answer for {key} could not be read: {exc}") from exc
        etag = response.headers.get("etag")
        if etag:
            self._etags[key] = (etag, value)
        return value

    async def _send(self, call: Callable[[], Awaitable[Any]]) -> Any:
        from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

        self.requests += 1
        try:
            return await call()
        except RateLimitExceeded as exc:
            retry_at = self._reset_time(exc.response.headers, exc.retry_after)
            self.limited_until = retry_at
            status = exc.response.status_code
            raise GitHubUnavailable(
                f"GitHub rate limit reached ({status}); retrying after {retry_at:%H:%M:%S} UTC",
                retry_at,
            ) from exc
        except RequestFailed as exc:
            status = exc.response.status_code
            if status in (404, 422):
                return None
            message = _message(exc.response)
            raise GitHubUnavailable(f"GitHub answered {status}{message}") from exc
        except RequestError as exc:
            raise GitHubUnavailable(f"GitHub is unreachable: {exc.exc!r}") from exc
        except httpx.HTTPError as exc:
            raise GitHubUnavailable(f"GitHub is unreachable: {exc!r}") from exc

    def _reset_time(self, headers: Mapping[str, str], fallback: timedelta) -> datetime:
        now = self.clock.now()
        if "retry-after" in headers:
            return now + timedelta(seconds=int(headers["retry-after"]))
        reset = headers.get("x-ratelimit-reset")
        if reset and reset.isdigit():
            return max(datetime.fromtimestamp(int(reset), tz=UTC), now)
        return now + max(fallback, timedelta(seconds=60))

    # ----- the reads --------------------------------------------------------------------------

    async def branch(self, repository: str, name: str) -> BranchFacts | None:
        """Return the branch `name`, or None when it does not exist."""
        owner, repo = repository.split("/", 1)
        return await self._get(
            f"branch:{repository}:{name}",
            lambda h: self.rest.repos.async_get_branch(owner, repo, name, headers=h),
            lambda b: BranchFacts(b.name, b.commit.sha, b.links.html),
        )

    async def tag(self, repository: str, tag: str) -> BranchFacts | None:
        """Return the tag `tag` (its commit), or None when it is missing."""
        owner, repo = repository.split("/", 1)
        page = f"{self.repo_url(repository)}/tree/{tag}"
        return await self._get(
            f"tag:{repository}:{tag}",
            lambda h: self.rest.git.async_get_ref(owner, repo, f"tags/{tag}", headers=h),
            lambda r: BranchFacts(tag, r.object_.sha, page),
        )

    async def check_runs(self, repository: str, ref: str) -> list[CheckRun] | None:
        """Return the check runs on `ref`'s commit (newest first), None if `ref` is unknown."""
        owner, repo = repository.split("/", 1)

        def parse(data: Any) -> list[CheckRun]:
            return [
                CheckRun(r.name, r.status, r.conclusion, r.head_sha, r.html_url or r.url)
                for r in data.check_runs
            ]

        return await self._get(
            f"checks:{repository}:{ref}",
            lambda h: self.rest.checks.async_list_for_ref(
                owner, repo, ref, per_page=100, headers=h
            ),
            parse,
        )

    async def file(self, repository: str, path: str, ref: str) -> FileFacts | None:
        """Return the text of `path` at `ref`, or None when it is not there."""
        owner, repo = repository.split("/", 1)

        def parse(data: Any) -> FileFacts | None:
            if getattr(data, "type", None) != "file" or not isinstance(data.content, str):
                return None
            try:
                text = base64.b64decode(data.content).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return FileFacts(text, data.html_url or data.url)

        found = await self._get(
            f"file:{repository}:{ref}:{path}",
            lambda h: self.rest.repos.async_get_content(owner, repo, path, ref=ref, headers=h),
            parse,
        )
        return found

    async def release(self, repository: str, tag: str) -> ReleaseFacts | None:
        """Return the GitHub Release of `tag`, or None."""
        owner, repo = repository.split("/", 1)
        return await self._get(
            f"release:{repository}:{tag}",
            lambda h: self.rest.repos.async_get_release_by_tag(owner, repo, tag, headers=h),
            lambda r: ReleaseFacts(
                r.tag_name,
                r.html_url,
                bool(r.draft),
                r.body or "",
                tuple(a.name for a in r.assets if a.state == "uploaded"),
            ),
        )

    async def compare(self, repository: str, base: str, head: str) -> CompareFacts | None:
        """Return how `head` relates to `base` (GitHub's compare), None if one is missing."""
        owner, repo = repository.split("/", 1)
        return await self._get(
            f"compare:{repository}:{base}...{head}",
            lambda h: self.rest.repos.async_compare_commits(
                owner, repo, f"{base}...{head}", per_page=1, headers=h
            ),
            lambda c: CompareFacts(c.status, c.ahead_by, c.behind_by, c.html_url),
        )

    async def delete_branch(self, repository: str, name: str) -> bool:
        """Delete the branch `name`; return False when it was already gone."""
        owner, repo = repository.split("/", 1)
        response = await self._send(
            lambda: self.rest.git.async_delete_ref(owner, repo, f"heads/{name}")
        )
        self._etags.pop(f"branch:{repository}:{name}", None)
        return response is not None

    async def close(self) -> None:
        """Nothing to close: githubkit opens a client per request unless used as a context."""


def _message(response: Any) -> str:
    try:
        data = response.json()
    except Exception:  # a non-JSON error body just has no message
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return f": {message}" if message else ""
