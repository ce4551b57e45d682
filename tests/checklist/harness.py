"""Shared fixtures for the checklist template tests: the default template and the seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.checklist import ChecklistTemplate, load_template

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO / "config" / "checklists" / "release.md"
# A verbatim copy of the user's checklist, before any annotations were added.
SEED = Path(__file__).resolve().parent / "fixtures" / "release-checklist.seed.md"


@pytest.fixture(scope="session")
def default_template() -> ChecklistTemplate:
    """Return the parsed default release checklist."""
    return load_template(DEFAULT_TEMPLATE)


@pytest.fixture(scope="session")
def seed_text() -> str:
    """Return the unannotated seed checklist text."""
    return SEED.read_text(encoding="utf-8")
