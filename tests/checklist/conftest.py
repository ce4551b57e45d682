"""Checklist tests: the default template and the seed checklist."""

from tests.checklist.harness import default_template, seed_text  # noqa: F401  (fixtures)
