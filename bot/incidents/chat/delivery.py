"""Discord delivery of outbox messages of kinds "channel" and "dm", and the member directory.

Payloads name an incident and carry the mentions decided when the change happened; the embed
is rendered from the incident's current state at delivery. A DM refused by Discord (DMs
closed, error 50007) is a non-retryable failure, so the dispatcher's fallback turns it into a
mention in the release thread (or the alerts channel), and that fallback is recorded in the
incident's timeline.

Role holders are read from the guild's member cache (`MemberDirectory`), at the moment a page
is decided. On real Discord that cache is complete only with the Server Members intent; without
it, a role page still mentions the role in the channel, which notifies its holders.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.config import Settings
from bot.core.errors import UnknownTarget
from bot.incidents.chat.render import incident_spec
from bot.incidents.chat.view import message_kwargs
from bot.incidents.domain.ports import IncidentMessage
from bot.incidents.service.use_cases import IncidentService
from bot.runtime.outbox import DeliveryFailed, Fallback, OutboxMessage, dm_to_channel_mention

if TYPE_CHECKING:
    from bot.releases.chat.bot import ReleaseBot

log = logging.getLogger(__name__)

_WITH_EMBED = frozenset(
    {"page", "repage", "announce", "sla_reminder", "sla_breach", "release_aborted"}
)
CANNOT_DM = 50007


def _failure(error: discord.HTTPException, what: str) -> DeliveryFailed:
    """Map a Discord error: 5xx retry; 403/404 and other 4xx will not get better."""
    retryable = error.status >= 500 or error.status == 429
    return DeliveryFailed(retryable, f"{what}: Discord {error.status} ({error.code}): {error.text}")


class GuildDirectory:
    """Answer who holds a role, and who a configured name is, from the guild's member cache."""

    def __init__(self, role_refs: Mapping[str, str], guild_id: int | None) -> None:
        self.role_refs = dict(role_refs)
        self.guild_id = guild_id
        self.client: discord.Client | None = None

    def bind(self, client: discord.Client) -> None:
        """Read members through `client` from now on."""
        self.client = client

    def guilds(self) -> Sequence[discord.Guild]:
        """Return the guilds the bot serves (the configured one, when set)."""
        if self.client is None:
            return ()
        if self.guild_id is not None:
            guild = self.client.get_guild(self.guild_id)
            return (guild,) if guild is not None else ()
        return self.client.guilds

    def role(self, guild: discord.Guild, role_key: str) -> discord.Role | None:
        """Return the Discord role configured for `role_key` in `guild`."""
        ref = self.role_refs.get(role_key, "").strip()
        if not ref:
            return None
        if ref.isdigit():
            return guild.get_role(int(ref))
        return next((r for r in guild.roles if r.name.casefold() == ref.casefold()), None)

    async def _complete(self, guild: discord.Guild) -> discord.Guild:
        # Right after a start-up the member cache may not be filled yet, and overdue pages
        # fire exactly then: ask for the member list once (needs the Server Members intent).
        if self.client is not None and self.client.intents.members and not guild.chunked:
            try:
                await guild.chunk()
            except (discord.ClientException, discord.HTTPException) as error:
                log.warning("could not load the members of %s: %s", guild.name, error)
        return guild

    async def role_members(self, role_key: str) -> Sequence[str]:
        """Return the ids of the (human) members holding the role mapped from `role_key`."""
        found: list[str] = []
        for guild in self.guilds():
            await self._complete(guild)
            role = self.role(guild, role_key)
            if role is not None:
                found += [str(m.id) for m in role.members if not m.bot]
        return tuple(dict.fromkeys(found))

    async def user_id(self, ref: str) -> str | None:
        """Return the id of a member named `ref` (user name or display name)."""
        if ref.isdigit():
            return ref
        for guild in self.guilds():
            await self._complete(guild)
            member = guild.get_member_named(ref.lstrip("@"))
            if member is not None:
                return str(member.id)
        return None


def discord_nonce(idempotency_key: str) -> str:
    """Return the message nonce for an outbox key: stable, at most Discord's 25 characters.

    Delivery is at-least-once; a resent message carries the same nonce. discord.py 2.7 has no
    `enforce_nonce`, so Discord echoes the nonce rather than dropping the repeat itself.
    """
    return str(int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:8], "big"))


def incident_dm_fallback(alerts_channel: str) -> Fallback:
    """Return the DM fallback: the dispatcher's channel mention, placed in the incident's room."""
    base = dm_to_channel_mention(alerts_channel)

    def fallback(msg: OutboxMessage, error: DeliveryFailed) -> tuple[str, dict[str, Any]] | None:
        replacement = base(msg, error)
        if replacement is None or "incident_id" not in msg.payload:
            return replacement
        kind, payload = replacement
        where = {"incident_id": msg.payload["incident_id"], "where": "release"}
        return kind, {**payload, **where, "fallback_alerts": True}

    return fallback


class DiscordDelivery:
    """Deliver "channel" and "dm" outbox messages through the bot."""

    def __init__(
        self,
        bot: ReleaseBot,
        incidents: IncidentService,
        settings: Settings,
        directory: GuildDirectory,
    ) -> None:
        self.bot = bot
        self.incidents = incidents
        self.settings = settings
        self.directory = directory
        self.names = {key: bot.config.role_name(key) for key in bot.config.role_refs}
        self.channel = ChannelSender(self)
        self.dm = DmSender(self)

    def alerts_channel(self) -> discord.abc.Messageable:
        """Return the configured alerts channel, or raise DeliveryFailed naming it."""
        ref = self.settings.discord.alerts_channel.strip()
        for guild in self.directory.guilds():
            for channel in guild.text_channels:
                if (ref.isdigit() and channel.id == int(ref)) or channel.name == ref.lstrip("#"):
                    return channel
        raise DeliveryFailed(False, f"the alerts channel {ref!r} does not exist in the server")

    async def place(self, payload: Mapping[str, Any]) -> discord.abc.Messageable | None:
        """Return where a channel payload goes (None: nowhere to post, e.g. no release thread)."""
        where = payload.get("where")
        if where == "release":
            incident = await self.incidents.get(int(payload["incident_id"]))
            if incident.release_id is not None:
                thread_id = await self.bot.room.thread_id(incident.release_id)
                if thread_id is not None:
                    channel = self.bot.get_channel(thread_id)
                    if isinstance(channel, discord.abc.Messageable):
                        return channel
                    return self.bot.get_partial_messageable(thread_id)
            return self.alerts_channel() if payload.get("fallback_alerts") else None
        if where == "alerts" or "channel_id" not in payload:
            return self.alerts_channel()
        ref = str(payload["channel_id"])
        if ref.isdigit():
            return self.bot.get_partial_messageable(int(ref))
        return self.alerts_channel()

    def mentions(self, payload: Mapping[str, Any]) -> tuple[str, discord.AllowedMentions]:
        """Return the mention text and what it may ping: users, mapped roles, @everyone."""
        parts: list[str] = []
        roles: list[discord.Object] = []
        everyone = False
        for key in payload.get("mention_roles", []):
            if key == "everyone":
                parts.append("@everyone")
                everyone = True
                continue
            role = next(
                (r for g in self.directory.guilds() if (r := self.directory.role(g, key))), None
            )
            if role is not None:
                parts.append(role.mention)
                roles.append(discord.Object(role.id))
            else:
                parts.append(f"@{self.names.get(key, key)}")
        users = [str(u) for u in payload.get("mention_user_ids", [])]
        parts += [f"<@{u}>" for u in users]
        allowed = discord.AllowedMentions(
            everyone=everyone, roles=roles, users=[discord.Object(int(u)) for u in users]
        )
        return " ".join(parts), allowed

    async def spec_kwargs(self, incident_id: int, content: str) -> dict[str, Any]:
        """Return send/edit arguments showing the incident as it is now, under `content`."""
        incident = await self.incidents.get(incident_id)
        release = await self.incidents.release_of(incident)
        spec = incident_spec(incident, release, self.bot.clock.now(), self.names, content)
        return message_kwargs(spec)


class ChannelSender:
    """Post incident notices (and plain mentions) in the release thread or alerts channel."""

    def __init__(self, delivery: DiscordDelivery) -> None:
        self.delivery = delivery

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver one channel message; raise DeliveryFailed when Discord refuses."""
        payload = msg.payload
        try:
            if payload.get("refresh"):
                return await self._refresh(int(payload["incident_id"]))
            place = await self.delivery.place(payload)
            if place is None:
                return "skipped: the release has no thread"
            sent = await self._post(place, payload, discord_nonce(msg.idempotency_key))
        except UnknownTarget as missing:
            raise DeliveryFailed(False, missing.message) from None
        except discord.HTTPException as error:
            raise _failure(error, "channel message") from error
        if payload.get("fallback_for") is not None and "incident_id" in payload:
            await self._note_fallback(payload)
        return f"message {sent.id}"

    async def _note_fallback(self, payload: Mapping[str, Any]) -> None:
        users = ", ".join(f"<@{u}>" for u in payload.get("mention_user_ids", []))
        note = payload.get("fallback_note") or (
            f"DM to {users} failed; mentioned in the channel instead "
            f"(outbox #{payload['fallback_for']})"
        )
        try:
            await self.delivery.incidents.record_delivery(
                int(payload["incident_id"]),
                str(payload.get("fallback_what", "incident_dm_fallback")),
                str(note),
            )
        except Exception:  # the mention is posted: failing here must not post it again
            log.exception("could not record the DM fallback of incident %s", payload["incident_id"])

    async def _post(
        self, place: discord.abc.Messageable, payload: Mapping[str, Any], nonce: str
    ) -> discord.Message:
        mentions, allowed = self.delivery.mentions(payload)
        if "notice" not in payload:  # a plain mention, e.g. the DM fallback
            text = str(payload.get("content", ""))
            body = text if text.startswith("<@") else f"{mentions} {text}".strip()
            return await place.send(body[:2000], allowed_mentions=allowed, nonce=nonce)
        content = f"{mentions}\n{payload['text']}".strip()[:2000]
        incident_id = int(payload["incident_id"])
        if payload["notice"] not in _WITH_EMBED:
            return await place.send(content, allowed_mentions=allowed, nonce=nonce)
        kwargs = await self.delivery.spec_kwargs(incident_id, content)
        sent = await place.send(**{**kwargs, "allowed_mentions": allowed, "nonce": nonce})
        try:
            await self.delivery.incidents.remember_message(
                IncidentMessage(
                    incident_id, f"{sent.channel.id}:{sent.id}", sent.channel.id, sent.id
                )
            )
        except Exception:  # posted already: a retry would post the page twice
            log.exception("could not remember incident %s message %s", incident_id, sent.id)
        return sent

    async def _refresh(self, incident_id: int) -> str:
        edited = 0
        for ref in await self.delivery.incidents.messages(incident_id):
            kwargs = await self.delivery.spec_kwargs(incident_id, "")
            kwargs.pop("content", None)  # keep the original mentions as they were
            message = self.delivery.bot.get_partial_messageable(ref.channel_id)
            try:
                await message.get_partial_message(ref.message_id).edit(**kwargs)
            except discord.NotFound:
                log.info("incident #%s message %s is gone", incident_id, ref.message_id)
                continue
            edited += 1
        return f"edited {edited}"


class DmSender:
    """DM a paged person; closed DMs fail for good so the fallback mentions them instead."""

    def __init__(self, delivery: DiscordDelivery) -> None:
        self.delivery = delivery

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver one DM; raise DeliveryFailed (non-retryable when DMs are closed)."""
        payload = msg.payload
        user_id = int(payload["user_id"])
        bot = self.delivery.bot
        try:
            user = bot.get_user(user_id) or await bot.fetch_user(user_id)
            content = str(payload.get("content", ""))[:2000]
            if "incident_id" in payload:
                kwargs = await self.delivery.spec_kwargs(int(payload["incident_id"]), content)
                sent = await user.send(**kwargs, nonce=discord_nonce(msg.idempotency_key))
            else:
                sent = await user.send(content, nonce=discord_nonce(msg.idempotency_key))
        except UnknownTarget as missing:
            raise DeliveryFailed(False, missing.message) from None
        except discord.Forbidden as refused:
            reason = "DMs are closed" if refused.code == CANNOT_DM else "DM refused"
            raise DeliveryFailed(
                False, f"{reason} for <@{user_id}> (Discord {refused.code})"
            ) from refused
        except discord.HTTPException as error:
            raise _failure(error, f"DM to <@{user_id}>") from error
        return f"dm {sent.id}"
