"""The composition root: `create_bot` builds every feature and wires the event table."""

from bot.app.bootstrap import (
    EXTENSIONS,
    PROJECT_ROOT,
    Database,
    ReleaseBot,
    TemplateFile,
    create_bot,
)

__all__ = ["EXTENSIONS", "PROJECT_ROOT", "Database", "ReleaseBot", "TemplateFile", "create_bot"]
