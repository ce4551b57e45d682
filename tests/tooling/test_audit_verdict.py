"""The dependency audit's policy, judged on recorded pip-audit JSON results.

`pip-audit-unreachable.json` is pip-audit 2.10.1's real `--format json` output on this network
(its vulnerability service cannot be reached, so every pin is skipped), cut to six pins.
`pip-audit-vulnerable.json` is written in the same shape (pip_audit/_format/json.py) because no
vulnerability service answers here: it carries a real advisory (Jinja2 3.1.2,
GHSA-h5c8-rqwp-cp95 / CVE-2024-22195, fixed in 3.1.3), a clean pin and a skipped one.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "audit_verdict.py"
FIXTURES = Path(__file__).parent / "fixtures"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_verdict", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_verdict"] = module
    spec.loader.exec_module(module)
    return module


verdicts = _module()


def _run(fixture: str | Path, *flags: str) -> subprocess.CompletedProcess[str]:
    path = fixture if isinstance(fixture, Path) else FIXTURES / fixture
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path), *flags],
        capture_output=True,
        text=True,
        check=False,
    )


def test_known_advisory_fails_naming_package_advisory_and_fix():
    """Fail on a pinned version with a known advisory and name package, id, alias and fix."""
    done = _run("pip-audit-vulnerable.json")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "VULNERABLE jinja2==3.1.2: GHSA-h5c8-rqwp-cp95 (CVE-2024-22195); fixed in 3.1.3"
    )
    assert lines[-1].startswith("audit FAILED (known advisories): 1 pins audited clean")


def test_unaudited_pins_are_reported_one_line_each_and_pass():
    """Pass when pins could not be audited, printing one 'could not audit' line per pin."""
    done = _run("pip-audit-unreachable.json")
    assert done.returncode == 0
    unaudited = [line for line in done.stdout.splitlines() if line.startswith("could not audit")]
    assert len(unaudited) == 6
    assert unaudited[0] == (
        "could not audit aiohappyeyeballs: Dependency not found on PyPI and could not be "
        "audited: aiohappyeyeballs (2.7.1)"
    )
    assert "audit passed" in done.stdout.splitlines()[-1]
    assert "6 could not be audited" in done.stdout.splitlines()[-1]


def test_strict_fails_on_pins_that_could_not_be_audited():
    """With --strict, a pin that could not be audited fails the run."""
    done = _run("pip-audit-unreachable.json", "--strict")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("audit FAILED (--strict")


def test_no_result_at_all_is_could_not_audit(tmp_path: Path):
    """A missing result file (pip-audit could not run) is reported with its error, not failed."""
    log = tmp_path / "pip-audit.log"
    log.write_text("Traceback ...\nConnectionError: could not reach the service\n")
    done = _run(tmp_path / "missing.json", "--log", str(log))
    assert done.returncode == 0
    assert "could not audit: pip-audit gave no result (ConnectionError" in done.stdout
    assert done.stdout.splitlines()[-1].endswith(
        "no pin could be audited (pip-audit gave no result)"
    )
    strict = _run(tmp_path / "missing.json", "--log", str(log), "--strict")
    assert strict.returncode == 1


@pytest.mark.parametrize("junk", ["", "not json", "[]", '{"dependencies": 3}'])
def test_unusable_result_text_is_no_result(junk: str):
    """Junk where the JSON should be is 'no result', never a crash or a silent pass."""
    verdict = verdicts.read_verdict(junk, "error: boom")
    assert verdict.error == "error: boom"
    assert verdict.failed(strict=True)
    assert not verdict.failed(strict=False)


def test_clean_result_passes_even_strict():
    """A result with only clean pins passes in both modes."""
    clean = '{"dependencies": [{"name": "a", "version": "1", "vulns": []}]}'
    verdict = verdicts.read_verdict(clean)
    assert verdict.audited == ["a"]
    assert not verdict.failed(strict=True)
    assert verdict.summary(strict=True) == (
        "audit passed: 1 pins audited clean, 0 known advisories, 0 could not be audited"
    )


def test_no_hand_written_file_names_a_registry_host():
    """No tracked file but the generated lock names a package registry's host."""
    hosts = ["pypi" + ".org", "pythonhosted" + ".org", "registry" + ".npmjs", "deb" + ".debian.org"]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in tracked:
        if name == "uv.lock":
            continue
        path = ROOT / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        offenders += [f"{name}: {host}" for host in hosts if host in text]
    assert offenders == []
