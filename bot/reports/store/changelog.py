"""Read a version's section of a Keep a Changelog file (the keepachangelog library parses it)."""

from __future__ import annotations

import logging
from pathlib import Path

import keepachangelog

from bot.reports.domain.announcement import ChangelogSection

log = logging.getLogger(__name__)


def read_section(path: Path, version: str) -> ChangelogSection | None:
    """Return `version`'s section of the CHANGELOG at `path` (a leading "v" is ignored).

    None when the file or the section is missing or the file cannot be parsed; the
    announcement then says no section was found (the problem is logged, never raised).
    """
    wanted = version.removeprefix("v")
    try:
        parsed = keepachangelog.to_dict(str(path), show_unreleased=False)
    except (OSError, UnicodeError, ValueError) as error:
        log.warning("cannot read the CHANGELOG %s: %s", path, error)
        return None
    found = parsed.get(wanted)
    if found is None:
        log.info("no section %s in %s", wanted, path)
        return None
    return ChangelogSection.from_parsed(wanted, found)
