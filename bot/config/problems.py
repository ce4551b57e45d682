"""Config problems: one per mistake, each naming its key path (`escalation.steps[1].after`)."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """Describe one thing wrong with the configuration, at one key path."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None
    warning: bool = False

    def __str__(self) -> str:
        """Return "path: message", the form printed by check-config."""
        return f"{self.path}: {self.message}"


class ConfigError(ValueError):
    """Reject a configuration, carrying every problem found (not just the first).

    `partial` is, when known, the settings built from the sections that did validate (the
    others are salvaged stand-ins), and `valid` names those sections: check-config uses them
    to check the template and warn even while other sections are broken.
    """

    def __init__(
        self,
        problems: Sequence[ConfigProblem],
        *,
        partial: Any = None,
        valid: frozenset[str] = frozenset(),
    ) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        self.partial = partial
        self.valid = valid
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{count} configuration problem{'s' if count != 1 else ''}:\n{lines}")


def join_path(*parts: str | int) -> str:
    """Return a key path such as `services[0].conditions.error_rate` from its parts."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "":
            continue
        else:
            key = part if _BARE_KEY.fullmatch(part) else f'"{part}"'
            text = f"{text}.{key}" if text else key
    return text


def problems_from_validation(
    error: ValidationError, root: type[BaseModel], prefix: Sequence[str | int] = ()
) -> list[ConfigProblem]:
    """Translate pydantic's errors into problems with key paths and plain messages.

    `root` is the model that `prefix` starts from; the error locations continue the prefix.
    """
    found: list[ConfigProblem] = []
    for detail in error.errors(include_url=False, include_input=False):
        loc = (*prefix, *(part for part in detail["loc"] if part != "[key]"))
        found.append(ConfigProblem(join_path(*loc), _message(detail, root, loc)))
    return found


_SIMPLE_MESSAGES: dict[str, str] = {
    "missing": "field required",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string (in quotes)",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "finite_number": "expected a finite number",
}


def _message(detail: ErrorDetails, root: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    """Return a human message for one pydantic error."""
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    if kind == "releasebot":
        return detail["msg"]
    if kind == "extra_forbidden":
        return _unknown_key_message(root, loc)
    if kind == "list_type":
        if model_at(root, (*loc, 0)) is None:
            return "expected an array ([...])"
        return f"expected an array ([...], or one [[{join_path(*loc)}]] table per entry)"
    if kind in _SIMPLE_MESSAGES:
        return _SIMPLE_MESSAGES[kind]
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the listed values')}"
    bounds = {
        "greater_than": "must be greater than {gt}",
        "greater_than_equal": "must be at least {ge}",
        "less_than": "must be less than {lt}",
        "less_than_equal": "must be at most {le}",
        "too_short": "expected at least {min_length} item(s)",
        "too_long": "expected at most {max_length} item(s)",
        "string_too_short": "must not be empty",
        "string_pattern_mismatch": "must match {pattern}",
    }
    if kind in bounds:
        return bounds[kind].format(**ctx)
    return str(detail["msg"]).removeprefix("Value error, ")


def _unknown_key_message(root: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    """Return "unknown <noun> (expected one of ...)" for a key the model does not define."""
    model = model_at(root, loc[:-1])
    if model is None:
        return "unknown key"
    noun = str(getattr(model, "key_noun", "key"))
    known = list(model.model_fields)
    hint = ""
    if isinstance(loc[-1], str) and (close := difflib.get_close_matches(loc[-1], known, n=1)):
        hint = f'; did you mean "{close[0]}"?'
    return f"unknown {noun} (expected one of {', '.join(known)}{hint})"


def model_at(root: type[BaseModel], loc: Iterable[str | int]) -> type[BaseModel] | None:
    """Return the model class found by following `loc` down from `root`, if it is a model."""
    current: Any = root
    for part in loc:
        current = unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
            continue
        args = typing.get_args(current)
        if not args:
            return None
        current = args[-1]  # list[X] -> X, dict[K, V] -> V
    current = unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and `X | None` down to X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
