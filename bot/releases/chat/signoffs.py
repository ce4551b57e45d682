"""Sign-off by reaction: ✅ on a sign-off message signs it; removing your ✅ withdraws it.

A reaction from someone who may not sign is removed, the person is told why (by DM, or by a
reply in the thread when their DMs are closed) and the denial is audited. Removing that
reaction fires a "reaction removed" event too; it is recognised and ignored, so no bogus
withdrawal is ever recorded. Only the recorded signer's own removal withdraws a sign-off.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.chat.layout import clip
from bot.chat.roles import actor_for
from bot.core.actors import Actor, Source
from bot.core.errors import DomainError, NotAuthorized
from bot.core.ports import MessageRef
from bot.releases.chat.bot import release_bot
from bot.releases.domain.release import Release

log = logging.getLogger(__name__)


async def tell(
    user: discord.User | discord.Member, text: str, thread: discord.abc.Messageable | None
) -> str:
    """Tell `user` `text` by DM, else by a reply mentioning them in `thread`; return how."""
    try:
        await user.send(clip(text, 2000))
        return "dm"
    except discord.HTTPException as error:
        # 50007: the person does not accept DMs from server members; 403 in general.
        log.info("DM to %s failed (%s); replying in the thread instead", user, error)
    if thread is None:
        return "failed"
    try:
        await thread.send(
            clip(f"{user.mention} {text}", 2000),
            allowed_mentions=discord.AllowedMentions(users=[user], roles=False, everyone=False),
        )
        return "thread"
    except discord.HTTPException:
        log.warning("could not tell %s in the thread either: %s", user, text, exc_info=True)
        return "failed"


class SignOffReactions(commands.Cog):
    """Turn reactions on sign-off messages into sign-offs and withdrawals."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = release_bot(bot)
        # (message id, user id) of reactions the bot is removing because they were refused.
        self._removing: set[tuple[int, int]] = set()

    async def _signoff_ref(self, payload: discord.RawReactionActionEvent) -> MessageRef | None:
        if self.bot.user is None or payload.user_id == self.bot.user.id:
            return None
        if payload.guild_id is None or str(payload.emoji) != self.bot.config.signoff_emoji:
            return None
        ref = await self.bot.releases.find_message(payload.message_id)
        return ref if ref is not None and ref.kind == "signoff" else None

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """Sign off for the member who reacted, or remove the reaction and say why."""
        ref = await self._signoff_ref(payload)
        if ref is None or payload.member is None:
            return
        actor = actor_for(payload.member, self.bot.config.role_refs)  # the gate kept it home
        try:
            release = await self.bot.releases.get(ref.release_id)
            given = release.signoffs.get(ref.key)
            if given is not None and given.actor_id == actor.id:
                return  # the signer's own reaction re-added: nothing changes
            async with self.bot.room.serial(ref.release_id):
                await self.bot.releases.sign(ref.release_id, ref.key, actor, Source.REACTION)
        except DomainError as error:
            await self._refuse(payload, payload.member, actor, ref, error)

    async def _refuse(
        self,
        payload: discord.RawReactionActionEvent,
        member: discord.Member,
        actor: Actor,
        ref: MessageRef,
        error: DomainError,
    ) -> None:
        if not isinstance(error, NotAuthorized):
            # The service audits role denials itself; other refusals are audited here.
            await self.bot.releases.record_denial(
                ref.release_id, actor, "sign", ref.key, Source.REACTION, error.message
            )
        channel = self.bot.get_channel(payload.channel_id)
        thread = channel if isinstance(channel, discord.abc.Messageable) else None
        self._removing.add((payload.message_id, member.id))
        try:
            message = self.bot.get_partial_messageable(payload.channel_id).get_partial_message(
                payload.message_id
            )
            await message.remove_reaction(payload.emoji, member)
        except discord.HTTPException as failure:
            self._removing.discard((payload.message_id, member.id))
            log.warning("could not remove %s's refused reaction: %s", member, failure)
        reason = self.bot.reporter.describe(error)[0]
        release = await self.bot.releases.get(ref.release_id)
        spec = release.signoff_spec(ref.key)
        text = (
            f"Your {payload.emoji} on the sign-off “{spec.label or spec.key}” of {release.name} "
            f"was removed. {reason}"
        )
        await tell(member, text, thread)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """Withdraw the sign-off when its recorded signer removes their reaction."""
        ref = await self._signoff_ref(payload)
        if ref is None:
            return
        if (payload.message_id, payload.user_id) in self._removing:
            self._removing.discard((payload.message_id, payload.user_id))
            return  # the bot removed a refused reaction: not a withdrawal
        release = await self.bot.releases.get(ref.release_id)
        given = release.signoffs.get(ref.key)
        if given is None or given.actor_id != str(payload.user_id):
            return
        actor = Actor(id=given.actor_id, name=given.actor_name)
        try:
            async with self.bot.room.serial(ref.release_id):
                await self.bot.releases.withdraw(ref.release_id, ref.key, actor, Source.REACTION)
        except DomainError as error:
            await self._withdrawal_refused(payload, release, error)

    async def _withdrawal_refused(
        self, payload: discord.RawReactionActionEvent, release: Release, error: DomainError
    ) -> None:
        user = self.bot.get_user(payload.user_id) or await self.bot.fetch_user(payload.user_id)
        channel = self.bot.get_channel(payload.channel_id)
        thread = channel if isinstance(channel, discord.abc.Messageable) else None
        text = (
            f"Your sign-off on {release.name} stays: {self.bot.reporter.describe(error)[0]} "
            "(a sign-off can only be withdrawn while its phase is open)"
        )
        await tell(user, text, thread)


async def setup(bot: commands.Bot) -> None:
    """Add the sign-off reaction listeners to `bot`."""
    await bot.add_cog(SignOffReactions(bot))
