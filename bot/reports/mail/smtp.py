"""Send the announcement email through SMTP with aiosmtplib (STARTTLS, implicit TLS or none).

Delivery guarantee: at least once, with the same Message-ID. The Message-ID is derived from
the outbox key, so a crash after the server accepted the mail and before the outbox marked
it sent re-sends an identical message (same Message-ID, same body) after the restart; mail
clients and list servers treat it as the same message. Nothing is silently dropped here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from email.utils import format_datetime

from pydantic import SecretStr

from bot.config.reports import EmailSettings
from bot.reports.domain.announcement import Announcement, message_id_for
from bot.runtime.outbox import DeliveryFailed, OutboxMessage

log = logging.getLogger(__name__)

ThreadLink = Callable[[int], Awaitable[str | None]]
Delivered = Callable[[int, Sequence[str], str], Awaitable[None]]


def build_email(
    msg: OutboxMessage, settings: EmailSettings, thread_url: str | None
) -> EmailMessage:
    """Return the email for an announcement outbox message (identical on every retry)."""
    announcement = Announcement.from_payload(msg.payload)
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = ", ".join(str(a) for a in msg.payload.get("to", settings.to))
    email["Subject"] = f"[release] {announcement.subject}"
    email["Message-ID"] = message_id_for(msg.idempotency_key, settings.sender)
    if msg.created_at is not None:
        email["Date"] = format_datetime(msg.created_at)
    email["X-Releasebot-Release"] = str(announcement.release_id)
    email.set_content("\n".join(announcement.body_lines(thread_url)) + "\n")
    return email


class EmailSender:
    """Deliver `report.email` outbox messages through the configured SMTP relay."""

    def __init__(
        self,
        settings: EmailSettings,
        username: SecretStr | None,
        password: SecretStr | None,
        thread_link: ThreadLink,
        delivered: Delivered,
        checks: Sequence[str],
    ) -> None:
        self.settings = settings
        self._username = username
        self._password = password
        self.thread_link = thread_link
        self.delivered = delivered
        self.checks = tuple(checks)

    async def send(self, msg: OutboxMessage) -> str | None:
        """Send the email; a refused or unreachable server is retried, a bad address is not."""
        release_id = int(msg.payload["release_id"])
        email = build_email(msg, self.settings, await self.thread_link(release_id))
        s = self.settings
        import aiosmtplib  # on the first email: a bot that sends none never loads it

        try:
            refused, answer = await aiosmtplib.send(
                email,
                hostname=s.host,
                port=s.port,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",
                username=self._username.get_secret_value() if self._username else None,
                password=self._password.get_secret_value() if self._password else None,
                timeout=s.timeout_seconds,
                cert_bundle=str(s.ca_file) if s.ca_file else None,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise DeliveryFailed(False, f"every recipient was refused: {error}") from error
        except aiosmtplib.SMTPResponseException as error:
            # 4xx: try again later; 5xx: the server refuses this message for good.
            raise DeliveryFailed(error.code < 500, f"SMTP {error.code}: {error.message}") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(True, f"SMTP {s.host}:{s.port}: {error}") from error
        message_id = str(email["Message-ID"])
        accepted = len(msg.payload.get("to", s.to)) - len(refused)
        detail = f"email Message-ID {message_id} accepted by {s.host} for {accepted} recipient(s)"
        if refused:
            detail += f" (refused: {', '.join(sorted(refused))})"
        log.info("%s (%s)", detail, answer)
        if msg.payload.get("kind") == "production_deployed":  # the item is about that one
            await self.delivered(release_id, self.checks, detail)
        return detail
