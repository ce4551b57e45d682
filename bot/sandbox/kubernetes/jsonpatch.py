"""RFC 6902 JSON patch and RFC 7386 merge patch, enough for the fake API server."""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """Reject a patch that cannot be applied, naming the failing operation."""


def apply_json_patch(document: Any, operations: Any) -> Any:
    """Return a patched copy of `document`; the original is never modified."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    result = copy.deepcopy(document)
    for index, op in enumerate(operations):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {index} needs 'op' and 'path'")
        result = _apply_one(result, op, index)
    return result


def merge_patch(document: Any, patch: Any) -> Any:
    """Return `document` merged with `patch`: maps merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _apply_one(doc: Any, op: dict[str, Any], index: int) -> Any:
    kind, tokens = op["op"], _tokens(op["path"], index)
    if not tokens:
        if kind in ("add", "replace"):
            return copy.deepcopy(op["value"])
        raise PatchError(f"operation {index}: cannot {kind} the whole document")
    parent = _walk(doc, tokens[:-1], index)
    last = tokens[-1]
    if kind == "test":
        if _get(parent, last, index) != op.get("value"):
            raise PatchError(f"operation {index}: test failed at {op['path']}")
    elif kind == "remove":
        _get(parent, last, index)
        del parent[int(last) if isinstance(parent, list) else last]
    elif kind == "replace":
        _get(parent, last, index)
        parent[int(last) if isinstance(parent, list) else last] = copy.deepcopy(op["value"])
    elif kind == "add":
        if isinstance(parent, list):
            position = len(parent) if last == "-" else int(last)
            parent.insert(position, copy.deepcopy(op["value"]))
        elif isinstance(parent, dict):
            parent[last] = copy.deepcopy(op["value"])
        else:
            raise PatchError(f"operation {index}: cannot add into a {type(parent).__name__}")
    else:
        raise PatchError(f"operation {index}: unsupported op {kind!r}")
    return doc


def _tokens(path: Any, index: int) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"operation {index}: bad path {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]]


def _walk(doc: Any, tokens: list[str], index: int) -> Any:
    for token in tokens:
        doc = _get(doc, token, index)
    return doc


def _get(doc: Any, token: str, index: int) -> Any:
    try:
        if isinstance(doc, list):
            return doc[int(token)]
        if isinstance(doc, dict):
            return doc[token]
    except (KeyError, IndexError, ValueError):
        pass
    raise PatchError(f"operation {index}: path element {token!r} does not exist")
