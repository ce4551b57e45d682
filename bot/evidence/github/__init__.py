"""The GitHub adapter: githubkit, imported on first use, with ETags and the rate limit."""

from bot.evidence.domain import GitHubUnavailable
from bot.evidence.github.client import FileFacts, GitHubClient

__all__ = ["FileFacts", "GitHubClient", "GitHubUnavailable"]
