"""Audit pinned requirements with PyPI's project JSON when pip-audit's service is unreachable.

pip-audit asks PyPI for `/pypi/<name>/<version>/json`; some registry proxies (this project's CI
network among them) serve only `/pypi/<name>/json`. That document carries the advisories
(`vulnerabilities`, each with `fixed_in`) for the project's newest release. For a pin equal to
the newest release the check is complete; an older pin cannot be proven clean from it and is
reported as unverifiable, which fails the audit just like a known vulnerability.

Usage: python scripts/audit_pypi_json.py requirements.txt   (exit 0 clean, 1 otherwise)
"""

from __future__ import annotations

import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _pins(path: str) -> list[tuple[str, str]]:
    pins = []
    with open(path, encoding="utf-8") as lines:
        text = lines.read().splitlines()
    for raw in text:
        line = raw.split(";")[0].split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins.append((name.strip(), version.strip()))
    return pins


def _project(name: str) -> dict[str, Any]:
    url = f"https://pypi.org/pypi/{name}/json"
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def _verdict(pin: tuple[str, str]) -> tuple[str, str, str]:
    name, version = pin
    try:
        project = _project(name)
    except Exception as error:  # network or 404: we could not check it
        return name, version, f"UNVERIFIABLE: {error}"
    latest = project["info"]["version"]
    advisories = [v for v in project.get("vulnerabilities", []) if not v.get("withdrawn")]
    if version != latest:
        return name, version, f"UNVERIFIABLE: pinned {version}, advisories known only for {latest}"
    if advisories:
        ids = ", ".join(
            f"{v['id']} (fixed in {', '.join(v.get('fixed_in') or ['?'])})" for v in advisories
        )
        return name, version, f"VULNERABLE: {ids}"
    return name, version, "ok"


def main(path: str) -> int:
    """Audit every pin in `path`; print one line per problem and a summary."""
    pins = _pins(path)
    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = list(pool.map(_verdict, pins))
    problems = [v for v in verdicts if v[2] != "ok"]
    for name, version, verdict in problems:
        print(f"{name}=={version}: {verdict}")
    print(
        f"audited {len(pins)} pinned packages via PyPI project JSON: "
        f"{len(pins) - len(problems)} clean, {len(problems)} with problems"
    )
    return 1 if problems or not pins else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
