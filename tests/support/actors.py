"""Shared fixtures for domain tests: a small template, actors and a policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.checklist import parse_template
from bot.checklist.model import ChecklistTemplate
from bot.core.actors import AccessPolicy, Actor

SMALL_TEMPLATE = """\
# Release Checklist

## Pre-Release Preparation

### 1. Code

- [ ] Features done
- [ ] Docs updated {optional}

## Deployment

### Staging Deployment

- [ ] Staging deployed {role=devops}

### Production Deployment

- [ ] Production deployed {id=prod-deployed role=devops marks=production_deployed}

## Post-Release

- [ ] Monitoring watched

## Sign-off

**Pre-release checklist completed:**
- [ ] @lead {signoff=pre-release role=release_lead phase=pre-release}

**Release approved:**
- [ ] Tech Lead {signoff=approval role=tech_lead phase=deployment blocks=deployment/production}

**Post-release monitoring completed:**
- [ ] On-call {signoff=monitoring-complete role=oncall phase=post-release}
"""

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def template() -> ChecklistTemplate:
    """Return the small three-phase template."""
    return parse_template(SMALL_TEMPLATE, "small.md")


@pytest.fixture
def policy() -> AccessPolicy:
    """Return the default access policy."""
    return AccessPolicy()


LEAD = Actor("1", "Ann", frozenset({"release_lead"}))
TECH = Actor("2", "Tom", frozenset({"tech_lead"}))
DEVOPS = Actor("3", "Dora", frozenset({"devops"}))
ONCALL = Actor("4", "Omar", frozenset({"oncall"}))
DEV = Actor("5", "Eve", frozenset({"dev_team"}))
STRANGER = Actor("6", "Sam", frozenset())
