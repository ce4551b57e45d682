"""releasebot: a Discord chat-ops bot that runs software releases."""

__version__ = "0.1.0"
