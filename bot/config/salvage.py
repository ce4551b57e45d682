"""Stand-ins for sections that failed validation, so their cross-field rules still run.

When `escalation.steps[1].target` is misspelt, pydantic rejects the whole `[escalation]`
table, and the rule "steps[2].after must not be earlier than steps[1].after" would never be
checked: fixing one mistake would only reveal the next. `salvage` rebuilds the table from
the parts that do validate (`model_construct`, no validation), and leaves every field that
failed *absent*, so a rule that reads it raises AttributeError and is skipped rather than
judging a stand-in default.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from bot.config.problems import ConfigProblem
from bot.config.problems import unwrap as _unwrap

MISSING: Any = object()


@lru_cache(maxsize=256)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _field_annotation(model: type[BaseModel], name: str) -> Any:
    """Return a field's annotation with its constraints (`ge`, validators) put back on."""
    info = model.model_fields[name]
    if not info.metadata:
        return info.annotation
    return Annotated[(info.annotation, *info.metadata)]  # type: ignore[valid-type]


def _validate(annotation: Any, value: Any, context: dict[str, Any]) -> Any:
    try:
        adapter = _adapter(annotation)
    except TypeError:  # unhashable annotation: build it each time
        adapter = TypeAdapter(annotation)
    try:
        return adapter.validate_python(value, strict=True, context=context)
    except ValidationError:
        return MISSING


def salvage(annotation: Any, value: Any, context: dict[str, Any]) -> Any:
    """Return `value` validated as `annotation`, or the most of it that validates, or MISSING.

    Models come back built from their valid fields (a failed field is absent, not default);
    lists keep their length (a hopeless element becomes an empty model, or is MISSING);
    dicts keep the keys whose values could be salvaged.
    """
    valid = _validate(annotation, value, context)
    if valid is not MISSING:
        return valid
    inner = _unwrap(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return _salvage_model(inner, value, context)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin is list and isinstance(value, list) and len(args) == 1:
        return [salvage(args[0], item, context) for item in value]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        salvaged = {key: salvage(args[1], item, context) for key, item in value.items()}
        return {key: item for key, item in salvaged.items() if item is not MISSING}
    return MISSING


def _salvage_model(model: type[BaseModel], value: Any, context: dict[str, Any]) -> Any:
    if not isinstance(value, dict):
        return MISSING
    data: Any = value
    for name, decorator in model.__pydantic_decorators__.model_validators.items():
        if decorator.info.mode == "before":
            try:
                data = getattr(model, name)(data)
            except (ValueError, TypeError, KeyError):
                return MISSING
    if not isinstance(data, dict):
        return MISSING
    given: dict[str, Any] = {}
    failed: list[str] = []
    for name in model.model_fields:
        if name not in data:
            continue
        part = salvage(_field_annotation(model, name), data[name], context)
        if part is MISSING:
            failed.append(name)
        else:
            given[name] = part
    built = model.model_construct(**given)
    for name in failed:
        built.__dict__.pop(name, None)  # reading it raises AttributeError
    for name, info in model.model_fields.items():
        if name not in data and info.is_required():
            built.__dict__.pop(name, None)
    return built


def safe_problems(check: Callable[[], Iterable[ConfigProblem]]) -> list[ConfigProblem]:
    """Return what `check` finds, or nothing when it reads a field a stand-in lacks."""
    try:
        return list(check())
    except (AttributeError, TypeError, KeyError):
        return []
