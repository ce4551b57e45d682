"""The release checklist template: Markdown parser, typed model, renderer and validator."""

from __future__ import annotations

from bot.checklist.errors import TemplateError, TemplateProblem
from bot.checklist.limits import DEFAULT_LIMITS, TemplateLimits
from bot.checklist.model import (
    ChecklistTemplate,
    CodeBlock,
    Phase,
    Section,
    SignOffSpec,
    Table,
    TemplateItem,
)
from bot.checklist.parser import load_template, parse_template
from bot.core.roles import ROLE_KEYS

__all__ = [
    "DEFAULT_LIMITS",
    "ROLE_KEYS",
    "ChecklistTemplate",
    "CodeBlock",
    "Phase",
    "Section",
    "SignOffSpec",
    "Table",
    "TemplateError",
    "TemplateItem",
    "TemplateLimits",
    "TemplateProblem",
    "load_template",
    "parse_template",
]
