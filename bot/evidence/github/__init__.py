"""The GitHub adapter: githubkit, imported on first use, with ETags and the rate limit."""

from bot.evidence.github.client import GitHubClient, GitHubUnavailable

__all__ = ["GitHubClient", "GitHubUnavailable"]
