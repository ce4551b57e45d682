"""githubkit is loaded on first use only: building (and starting) a bot does not import it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from bot.app import create_bot
from bot.config import build_settings
settings = build_settings({"github": {"enabled": True}, "services": [{
    "name": "gw", "prometheus_url": "http://127.0.0.1:9090",
    "kubernetes": {"production": {"namespace": "p", "deployment": "gw"}},
    "github": {"repository": "nexis/nexis", "assets": ["a-{version}.tgz"]}}]}, env={})
create_bot(settings)
print("githubkit" in sys.modules)
from bot.evidence.service import EvidenceService
bot_service = EvidenceService
"""


def test_building_a_bot_with_github_on_does_not_import_githubkit() -> None:
    """Start-up time and memory are measured (issue 14): githubkit waits for the first check."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_first_read_imports_it() -> None:
    """The client's first use loads githubkit (so the lazy path is the one that runs)."""
    script = (
        "import sys\n"
        "from bot.core.clock import SystemClock\n"
        "from bot.evidence.github import GitHubClient\n"
        "client = GitHubClient(SystemClock(), base_url='http://127.0.0.1:9')\n"
        "before = 'githubkit' in sys.modules\n"
        "client.rest\n"
        "print(before, 'githubkit' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False True"
