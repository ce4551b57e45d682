"""Shared fixtures for the configuration tests: writing TOML files and the example config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "releasebot.example.toml"

# A service that satisfies the built-in conditions (Prometheus URL + production Deployment).
SERVICE = """
[[services]]
name = "nexis-gateway"
prometheus_url = "http://127.0.0.1:9090"
[services.kubernetes.production]
namespace = "production"
deployment = "nexis-gateway"
"""

WriteConfig = Callable[[str], Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Return a function that writes TOML text to a fresh config file and returns its path."""

    def write(text: str) -> Path:
        path = tmp_path / "releasebot.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
