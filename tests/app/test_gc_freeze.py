"""The heap built at start-up is frozen out of the garbage collector's reach (issue 14).

Full collections otherwise rescan every module, engine and extension object on each pass, a
pause of tens of milliseconds landing on whichever click allocated at that moment. Run in a
fresh interpreter: the test process's own bots froze its heap long ago.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from bot.chat.client import freeze_start_up_heap

ROOT = Path(__file__).resolve().parents[2]

STARTED = """
import asyncio, gc, tempfile
from datetime import UTC, datetime
from pathlib import Path
import simcord
from bench.bot_settings import release_settings
from bot.app import create_bot
from bot.core.clock import FakeClock
class Marker: pass
async def main():
    with tempfile.TemporaryDirectory() as folder:
        bot = create_bot(release_settings(Path(folder) / "bot.db"),
                         clock=FakeClock(datetime(2026, 1, 5, 9, tzinfo=UTC)))
        before = Marker()
        frozen_before = gc.get_freeze_count()
        async with simcord.run(bot):
            after = Marker()
            frozen = gc.get_freeze_count()
            tracked = {id(o) for o in gc.get_objects() if isinstance(o, Marker)}
            await bot.close()
    print(frozen_before, frozen > 0, id(before) in tracked, id(after) in tracked)
asyncio.run(main())
"""


def test_what_start_up_built_is_frozen_and_later_objects_are_not() -> None:
    """Once the bot has started, an object made before start is in the permanent generation
    (in no collected generation); one made afterwards is collected as usual."""
    done = subprocess.run(
        [sys.executable, "-c", STARTED], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True", "False", "True"]


class Marker:
    """An object tracked by the collector."""


def test_the_heap_is_frozen_once_per_process() -> None:
    """A second start (another client in the same process) freezes nothing more."""
    gc.unfreeze()
    try:
        freeze_start_up_heap()
        frozen = gc.get_freeze_count()
        late = Marker()
        freeze_start_up_heap()
        assert frozen > 0
        assert gc.get_freeze_count() == frozen
        assert any(o is late for o in gc.get_objects())
    finally:
        gc.freeze()  # leave the process as its bots left it
