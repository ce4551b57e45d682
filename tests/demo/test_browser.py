"""`releasebot demo --serve` in a real headless browser (Debian's chromium), offline.

The demo serves the release room in SimCord's preview; chromium (installed by
.ci/install-chromium.sh; a missing binary fails this test) opens the printed URL. The test
drives it over the Chrome DevTools protocol with aiohttp's websocket client: it waits for the
room to render, clicks Advance as Ann with real mouse events at the button's position, checks
in the database that the release moved to its next phase, and saves a screenshot of the room
under artifacts/ (the path is printed). Nothing is faked but time (virtual, following wall time).
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import shutil
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.demo.mission import Mission
from bot.demo.serve import serve_demo

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "artifacts" / "demo-room.png"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
ADVANCE_BUTTONS = """
[...document.querySelectorAll('button')]
  .filter(b => b.textContent.trim() === 'Advance' && !b.disabled)
"""


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DevTools:
    """A minimal Chrome DevTools protocol client over one page's websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events in between are skipped)."""
        number = next(self.ids)
        await self.ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads((await self.ws.receive(timeout=30)).data)
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its JSON value."""
        found = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return found["result"].get("value")

    async def until(self, expression: str, seconds: float = 30) -> Any:
        """Wait until `expression` is truthy in the page; return its value."""
        for _ in range(int(seconds * 10)):
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"the page never showed: {expression}")

    async def click_at(self, x: float, y: float) -> None:
        """Press and release the left mouse button at (x, y), as a person would."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )


SCROLL = """(() => {{
  const b = ({buttons})[0];
  const r = b.getBoundingClientRect();
  const x = r.x + r.width / 2, y = r.y + r.height / 2;
  const under = document.elementFromPoint(x, y);
  if (r.y > 150 && r.y < 600 && under && under.closest('button') === b) return {{x, y}};
  let e = b.parentElement;
  while (e && !(e.scrollHeight > e.clientHeight
                && /auto|scroll/.test(getComputedStyle(e).overflowY))) e = e.parentElement;
  if (e) e.scrollTop += r.y - 400;
  return null;
}})()"""


async def scroll_to(page: DevTools, buttons: str) -> dict[str, float]:
    """Scroll the timeline until the first of `buttons` is in view; return its centre."""
    for _ in range(150):
        box: dict[str, float] | None = await page.evaluate(SCROLL.format(buttons=buttons))
        if box:
            return box
        await asyncio.sleep(0.2)  # older messages load as the timeline scrolls up
    raise AssertionError("the Advance button never scrolled into view")


async def page_socket(session: aiohttp.ClientSession, port: int) -> str:
    """Return the websocket URL of chromium's first page target."""
    for _ in range(100):
        try:
            async with session.get(f"http://127.0.0.1:{port}/json") as answer:
                targets = await answer.json(content_type=None)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                url: str = pages[0]["webSocketDebuggerUrl"]
                return url
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("chromium's DevTools endpoint never answered")


async def drive(mission: Mission, url: str, chromium: str, profile: Path) -> dict[str, Any]:
    """Open `url` in chromium, click Advance, screenshot; return what was observed."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        chromium,
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--remote-debugging-port={port}",
        url,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    seen: dict[str, Any] = {}
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(await page_socket(session, port), max_msg_size=0) as ws,
        ):
            page = DevTools(ws)
            await page.until(f"({ADVANCE_BUTTONS}).length > 0")
            seen["text"] = await page.evaluate("document.body.innerText")
            releases = mission.team.bot.releases
            seen["before"] = (await releases.get(mission.team.release_id)).phase_index
            # The timeline loads older messages as it scrolls, so the button may move under
            # the pointer on a loaded machine: aim, check what is under the pointer, click,
            # and aim again if the release did not move (a refused click changes nothing).
            for _attempt in range(5):
                box = await scroll_to(page, ADVANCE_BUTTONS)
                await page.click_at(box["x"], box["y"])
                for _ in range(50):
                    seen["after"] = (await releases.get(mission.team.release_id)).phase_index
                    if seen["after"] != seen["before"]:
                        break
                    await asyncio.sleep(0.2)
                if seen["after"] != seen["before"]:
                    break
            seen["after_text"] = await page.evaluate("document.body.innerText")
            seen["box"] = box
            await mission.team.bot.room.updater.wait_idle(5)
            await asyncio.sleep(1.0)  # the page re-renders the edited messages
            shot = await page.send("Page.captureScreenshot", format="png")
            SCREENSHOT.parent.mkdir(exist_ok=True)
            SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    finally:
        process.terminate()
        await process.wait()
    return seen


async def test_a_click_in_the_browser_advances_the_release(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Render the room in chromium, click Advance as Ann: the database shows the next phase."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run `bash .ci/install-chromium.sh`")
    out = io.StringIO()
    seen: dict[str, Any] = {}

    async def ready(mission: Mission, url: str) -> None:
        seen.update(await drive(mission, url, chromium, tmp_path / "profile"))

    code = await asyncio.wait_for(serve_demo(out, ready=ready), timeout=240)

    text = out.getvalue()
    assert code == 0, text
    assert "is served at:\n  http://127.0.0.1:" in text
    assert "Pre-Release Preparation" in seen["text"]
    assert (seen["before"], seen["after"]) == (0, 1), (seen["box"], seen["after_text"][-3000:])
    assert SCREENSHOT.stat().st_size > 10_000
    with capsys.disabled():  # into the CI log, even under -q: the artifact to keep
        print(f"\nscreenshot of the release room: {SCREENSHOT}")
