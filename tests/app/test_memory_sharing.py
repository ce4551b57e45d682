"""What many releases have in common is held once (issue 14: RSS with 100 active releases).

The room keeps every spec it rendered; equal select options of different messages and
releases are one object, and releases of one checklist text share one parsed template.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.chat.layout import MessageSpec, OptionSpec, SelectSpec

if TYPE_CHECKING:
    from tests.support.world import World


def _options(specs: list[MessageSpec]) -> list[OptionSpec]:
    return [
        option
        for spec in specs
        for row in spec.rows
        for part in row
        if isinstance(part, SelectSpec)
        for option in part.options
    ]


async def test_two_releases_of_one_template_share_their_options_and_template(
    world: World,
) -> None:
    """Rendered for two releases, the Tick options of the same item are the same object, and
    so is the parsed checklist both releases follow."""
    await world.start(version="v1.2.3")
    await world.start(version="v1.2.4")
    first, second = await world.release(1), await world.release(2)
    assert first.phases is second.phases or first.phases[0] is second.phases[0]

    one = _options([spec for _, spec in await world.bot.room.wanted(1)])
    two = _options([spec for _, spec in await world.bot.room.wanted(2)])

    assert len(one) == len(two) > 10
    assert one == two
    assert all(a is b for a, b in zip(one, two, strict=True))
