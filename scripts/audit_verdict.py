"""Turn pip-audit's JSON result into the project's audit verdict.

The policy (README, "Dependency audit"):

- a pinned version with a known advisory fails the run, naming the package, the pinned version,
  the advisory id (and its aliases) and the versions that fix it;
- a pin that could not be audited (the vulnerability data is out of reach from this network,
  or pip-audit skipped it) is reported in one line and does not fail the run, unless
  ``--strict`` is given (for networks that can reach the vulnerability service);
- no result at all (pip-audit crashed or could not start) counts as "could not audit" for every
  pin, with pip-audit's own error shown.

So the verdict on a commit depends only on the lock and on advisories that are actually known,
never on which newer releases a registry has published since the lock was made.

Usage: python scripts/audit_verdict.py RESULT.json [--strict] [--log PIP_AUDIT_LOG]
Exit status: 0 clean (or only unaudited pins without --strict), 1 otherwise, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Advisory:
    """One known advisory against one pinned version."""

    package: str
    version: str
    advisory_id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]

    def line(self) -> str:
        """Return the one-line report a person reads."""
        also = f" ({', '.join(self.aliases)})" if self.aliases else ""
        fix = ", ".join(self.fixed_in) if self.fixed_in else "no fixed version published"
        return (
            f"VULNERABLE {self.package}=={self.version}: {self.advisory_id}{also}; fixed in {fix}"
        )


@dataclass(frozen=True)
class Unaudited:
    """A pin whose status could not be determined."""

    package: str
    reason: str

    def line(self) -> str:
        """Return the one-line report a person reads."""
        return f"could not audit {self.package}: {self.reason}"


@dataclass
class Verdict:
    """Everything one audit found."""

    audited: list[str] = field(default_factory=list)
    advisories: list[Advisory] = field(default_factory=list)
    unaudited: list[Unaudited] = field(default_factory=list)
    error: str | None = None

    def failed(self, *, strict: bool) -> bool:
        """Return True when the run must fail under the policy."""
        if self.advisories:
            return True
        return strict and (bool(self.unaudited) or self.error is not None)

    def report(self, *, strict: bool) -> list[str]:
        """Return the lines to print, the summary last."""
        lines = [a.line() for a in self.advisories]
        if self.error is not None:
            lines.append(f"could not audit: pip-audit gave no result ({self.error})")
        lines.extend(u.line() for u in self.unaudited)
        lines.append(self.summary(strict=strict))
        return lines

    def summary(self, *, strict: bool) -> str:
        """Return the closing line: counts and the verdict."""
        verdict = "FAILED" if self.failed(strict=strict) else "passed"
        why = ""
        if self.advisories:
            why = " (known advisories)"
        elif strict and (self.unaudited or self.error):
            why = " (--strict: pins that could not be audited fail the audit)"
        elif self.unaudited or self.error:
            why = " (could not audit is reported, not failed; use --strict to fail on it)"
        if self.error is not None:
            return f"audit {verdict}{why}: no pin could be audited (pip-audit gave no result)"
        return (
            f"audit {verdict}{why}: {len(self.audited)} pins audited clean, "
            f"{len(self.advisories)} known advisories, {len(self.unaudited)} could not be audited"
        )


def _advisories(dep: dict[str, Any]) -> list[Advisory]:
    return [
        Advisory(
            package=str(dep["name"]),
            version=str(dep.get("version", "?")),
            advisory_id=str(vuln.get("id", "unknown advisory")),
            aliases=tuple(str(a) for a in vuln.get("aliases", []) if a != vuln.get("id")),
            fixed_in=tuple(str(v) for v in vuln.get("fix_versions", [])),
        )
        for vuln in dep.get("vulns", [])
    ]


def _first_error(log: str | None) -> str:
    if not log:
        return "no output"
    for line in log.splitlines():
        if "error" in line.lower() or "could not" in line.lower():
            return line.strip()[:300]
    return log.strip().splitlines()[-1][:300] if log.strip() else "no output"


def read_verdict(result: str | None, log: str | None = None) -> Verdict:
    """Return the verdict for pip-audit's JSON `result` text (None or junk: no result)."""
    verdict = Verdict()
    try:
        document = json.loads(result) if result else None
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("dependencies"), list):
        verdict.error = _first_error(log)
        return verdict
    for dep in document["dependencies"]:
        name = str(dep.get("name", "?"))
        if "skip_reason" in dep:
            verdict.unaudited.append(Unaudited(name, str(dep["skip_reason"])))
            continue
        found = _advisories(dep)
        verdict.advisories.extend(found)
        if not found:
            verdict.audited.append(name)
    return verdict


def main(argv: list[str] | None = None) -> int:
    """Print the audit report for a pip-audit JSON file and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path, help="pip-audit --format json output file")
    parser.add_argument("--strict", action="store_true", help="fail on pins not audited")
    parser.add_argument("--log", type=Path, help="pip-audit's own output (for its error)")
    args = parser.parse_args(argv)
    result = args.result.read_text(encoding="utf-8") if args.result.exists() else None
    log = args.log.read_text(encoding="utf-8", errors="replace") if args.log else None
    verdict = read_verdict(result, log)
    for line in verdict.report(strict=args.strict):
        print(line)
    return 1 if verdict.failed(strict=args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
