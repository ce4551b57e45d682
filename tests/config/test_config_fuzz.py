"""Bounded config fuzz: a few thousand mutated configs through `releasebot check-config`.

Issue 12: check-config printed tracebacks for `severities.timezone = "Europe"` and for long
timezones and paths. Here a fixed seed mutates the example config (values swapped for nasty
ones, keys dropped, renamed or added, tables replaced, bytes flipped) and sometimes points it
at a mutated checklist template; every run goes through the CLI's check-config code path.
The counts are printed; the only hard requirement is 0 exceptions (no traceback, ever).
"""

from __future__ import annotations

import io
import math
import random
import time
import tomllib
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from tests.config.harness import EXAMPLE, REPO

SEED = 12
MUTANTS = 2_000
# The reproducers of issue 12 first: every nasty value at the keys that used to crash.
PINNED = [("severities", "timezone"), ("checklist", "path"), ("kubernetes", "kubeconfig")]
TEMPLATE = REPO / "config" / "checklists" / "release.md"

NASTY: list[Any] = [
    "",
    " ",
    "Europe",
    "Europe/Berlin",
    "UTC",
    "a" * 300,
    "/" + "b" * 300,
    "x/" * 2100,
    "a\x00b",
    "~no-such-user/x",
    "~",
    "..",
    "../../../../etc/passwd",
    "zone1970.tab",
    "0m",
    "15m",
    "-5m",
    "9" * 5000 + "w",
    "99999999w",
    "1bd",
    "0bd",
    "9" * 40 + "bd",
    "next-release",
    "sqlite+aiosqlite:///" + "d" * 300 + "/x.db",
    "sqlite:///x.db",
    "postgresql+asyncpg://u@h/db",
    "http://127.0.0.1:9090",
    "ftp://x",
    "(" * 1200 + ")" * 1200,
    "a{99999999999}",
    "[",
    "oncall",
    "user:",
    "user:someone",
    "everyone",
    "tech_lead",
    "P0",
    "prometheus",
    "错误率过高",
    "\U0001f4a5",
    "\u202e",
    0,
    -1,
    1,
    2**63 - 1,
    -(2**63),
    65536,
    0.0,
    -0.5,
    1e308,
    math.inf,
    math.nan,
    True,
    False,
    [],
    [1, "x"],
    ["oncall", "oncall"],
    [{}],
    {},
    {"x": 1},
    date(1, 1, 1),
    datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59))),
]
KEYS = ["token", "enabled", "name", "path", "x", "steps", "conditions", "P0", "kind", "after"]


def _toml_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(type(value))


def to_toml(document: dict[str, Any]) -> str:
    """Write `document` as TOML: scalars first, then one [table] per top-level table."""
    head = [
        f"{_toml_string(k)} = {_toml_value(v)}"
        for k, v in document.items()
        if not isinstance(v, dict)
    ]
    tables = [
        f"[{_toml_string(k)}]\n"
        + "".join(f"{_toml_string(key)} = {_toml_value(val)}\n" for key, val in v.items())
        for k, v in document.items()
        if isinstance(v, dict)
    ]
    return "\n".join(head) + "\n" + "\n".join(tables)


def _containers(node: Any, found: list[Any]) -> list[Any]:
    if isinstance(node, dict | list):
        found.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            _containers(child, found)
    return found


def _nasty(rng: random.Random) -> Any:
    # A fresh copy: NASTY's lists and tables must never end up shared (or inside themselves).
    return _copy(rng.choice(NASTY))


def _mutate_document(document: dict[str, Any], rng: random.Random) -> None:
    for _ in range(rng.choice([1, 1, 2, 3, 5])):
        target = rng.choice(_containers(document, []))
        if isinstance(target, list):
            if not target or rng.random() < 0.3:
                target.append(_nasty(rng))
            elif rng.random() < 0.5:
                target[rng.randrange(len(target))] = _nasty(rng)
            else:
                target.insert(0, target.pop())  # reorder: steps and stages out of order
            continue
        action = rng.random()
        if not target or action < 0.15:
            target[rng.choice(KEYS)] = _nasty(rng)
            continue
        key = rng.choice(list(target))
        if action < 0.30:
            del target[key]
        elif action < 0.40:
            target[key + rng.choice(["_", "s", ""])[:1] or key[:-1]] = target.pop(key)
        else:
            target[key] = _nasty(rng)


def _mutate_template(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(lines))
        line = lines[at]
        choice = rng.randrange(7)
        if choice == 0:
            lines[at] = line.replace("}", "", 1)
        elif choice == 1:
            lines[at] = line.replace(" {", "{", 1)
        elif choice == 2:
            lines[at] = line.replace("[ ]", "[x]", 1)
        elif choice == 3:
            lines.insert(at, line)
        elif choice == 4:
            lines[at] = line + " " * rng.randint(1, 5000) + rng.choice(["x", "{role=devops"])
        elif choice == 5:
            lines[at] = "### " + "1" * rng.randint(1, 5000)
        else:
            del lines[at]
    return "\n".join(lines)


def test_check_config_never_raises_on_mutated_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run thousands of mutants through check-config: exit 0 or 1, never an exception."""
    monkeypatch.chdir(REPO)
    for variable in ("RELEASEBOT_DISCORD_TOKEN", "RELEASEBOT_PAGERDUTY_ROUTING_KEY"):
        monkeypatch.delenv(variable, raising=False)
    rng = random.Random(SEED)
    base = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    template_text = TEMPLATE.read_text(encoding="utf-8")
    config, template = tmp_path / "fuzz.toml", tmp_path / "fuzz.md"
    counts: Counter[str] = Counter()
    failures: list[str] = []
    started = time.perf_counter()
    pinned = [(table, key, value) for table, key in PINNED for value in NASTY]
    total = len(pinned) + MUTANTS
    for number in range(total):
        document = _copy(base)
        if number < len(pinned):
            table, key, value = pinned[number]
            document[table][key] = value
        else:
            _mutate_document(document, rng)
        if rng.random() < 0.15:
            template.write_text(_mutate_template(template_text, rng), encoding="utf-8")
            document.setdefault("checklist", {})
            if isinstance(document["checklist"], dict):
                document["checklist"]["path"] = str(template)
        data = to_toml(document).encode("utf-8", "surrogatepass")
        if rng.random() < 0.05:  # a few flipped bytes: syntax errors, invalid UTF-8
            raw = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            data = bytes(raw)
        config.write_bytes(data)
        out = io.StringIO()
        try:
            code = main(["check-config", str(config)], out=out)
        except Exception as exc:  # counting them is the point
            counts["traceback"] += 1
            failures.append(f"mutant {number}: {type(exc).__name__}: {exc!s:.200}")
            continue
        counts[f"exit {code}"] += 1
        if "Traceback" in out.getvalue():
            counts["traceback"] += 1
            failures.append(f"mutant {number}: printed a traceback")
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\nconfig fuzz: {total} mutants ({len(pinned)} pinned, {MUTANTS} random, seed {SEED})"
            f" in {elapsed:.1f}s: "
            f"{counts['exit 0']} OK, {counts['exit 1']} rejected, "
            f"{counts['traceback']} tracebacks"
        )
    assert failures == []
    assert counts["exit 0"] > 0 and counts["exit 1"] > total // 2


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(value) for value in node]
    return node
