"""Problems found in a checklist template, reported all at once with file and line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template, at `source:line`, saying what was expected."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        """Return the problem as `source:line: message`."""
        return f"{self.source}:{self.line}: {self.message}"


class TemplateError(ValueError):
    """Reject a template; `errors` lists every problem found, in line order.

    `warnings` lists what would only have been warned about had there been no errors.
    """

    def __init__(
        self, errors: Iterable[TemplateProblem], warnings: Iterable[TemplateProblem] = ()
    ) -> None:
        self.errors: list[TemplateProblem] = sorted(errors, key=lambda p: p.line)
        self.warnings: list[TemplateProblem] = sorted(warnings, key=lambda p: p.line)
        if not self.errors:
            raise ValueError("TemplateError needs at least one problem")
        super().__init__("\n".join(str(p) for p in self.errors))
