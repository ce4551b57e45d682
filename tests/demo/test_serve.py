"""`releasebot demo --serve` without SimCord's preview installed: a clear message, exit 2."""

from __future__ import annotations

import io

import pytest

from bot.demo import serve


async def test_serve_without_the_preview_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Name the missing modules and the dependency group; start nothing."""
    monkeypatch.setattr(serve, "missing_preview", lambda: ["av", "regex"])
    out = io.StringIO()

    code = await serve.serve_demo(out)

    assert code == 2
    assert out.getvalue() == (
        "releasebot demo --serve needs SimCord's preview (av, regex missing): run "
        "`uv sync --group demo-ui` (or `pip install 'simcord[preview]'`)\n"
    )


def test_the_preview_modules_are_installed_here() -> None:
    """The test environment has the demo-ui group (scripts/setup.sh --test syncs it)."""
    assert serve.missing_preview() == []
