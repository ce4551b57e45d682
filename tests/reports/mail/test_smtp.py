"""The announcement email against a real SMTP server (aiosmtpd) on loopback.

Real parts: aiosmtplib, aiosmtpd (plain, and STARTTLS with AUTH on a throw-away certificate
made with the openssl CLI), the SQLite outbox and its dispatcher. The "crash" is simulated
by making the outbox's mark-sent step fail after the server accepted the mail, which is
exactly what a process dying at that point leaves behind; the restart is a new background
on the same database file.
"""

from __future__ import annotations

import email
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import build_settings
from bot.config.reports import EmailSettings
from bot.core.clock import FakeClock
from bot.reports.domain.announcement import Announcement, ChangelogSection, message_id_for
from bot.reports.mail.smtp import EmailSender
from bot.reports.service.comms import EMAIL_KIND
from bot.runtime.background import Background
from bot.runtime.outbox import DeliveryFailed, OutboxMessage
from bot.store.db import make_session_factory
from bot.store.outbox import SqlOutboxStore
from tests.support.store import backbone

SENDER = "releasebot@nexis.example"
SECTION = ChangelogSection("1.2.3", "2026-01-05", (("added", ("Canary routing",)),))


class Collect:
    """Keep every accepted message; de-duplicate nothing."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept and keep the message."""
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def plain_smtp() -> Iterator[tuple[Collect, int]]:
    """Run a plain SMTP server on loopback."""
    handler, port = Collect(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def payload() -> dict[str, Any]:
    """Return an announcement email payload."""
    ann = Announcement(1, "gw", "v1.2.3", "Ann", "production_deployed", SECTION)
    return {**ann.payload(), "to": ["team@nexis.example"]}


def sender(settings: EmailSettings, seen: list[str], **secrets: Any) -> EmailSender:
    """Return the SMTP sender; `seen` collects the evidence it reports."""

    async def link(release_id: int) -> str | None:
        return f"https://discord.test/thread/{release_id}"

    async def delivered(release_id: int, checks: Any, evidence: str) -> None:
        seen.append(evidence)

    return EmailSender(
        settings, secrets.get("user"), secrets.get("password"), link, delivered,
        ["report.announced"],
    )  # fmt: skip


class CrashAfterSend(SqlOutboxStore):
    """An outbox whose "mark sent" fails once: the mail was accepted, the row never marked."""

    crashed = False

    async def mark_delivered(self, msg_id: int, now: datetime, detail: str | None) -> None:
        """Fail the first time, as a process dying right after the SMTP 250 would."""
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("process died after the SMTP server accepted the mail")
        await super().mark_delivered(msg_id, now, detail)


async def test_a_crash_between_accepted_and_marked_sent_resends_the_same_message_id(
    engine: AsyncEngine, clock: FakeClock, plain_smtp: tuple[Collect, int]
) -> None:
    """At least once with the same Message-ID: the server sees the same mail twice, no more."""
    handler, port = plain_smtp
    settings = EmailSettings(enabled=True, host="127.0.0.1", port=port, security="none",
                             sender=SENDER, to=["team@nexis.example"])  # fmt: skip
    seen: list[str] = []
    first = backbone(engine, clock, wake_on_commit=False)
    crashing = CrashAfterSend(make_session_factory(engine))
    background = Background(first.timers, crashing, clock)
    background.add_sender(EMAIL_KIND, sender(settings, seen))
    async with first.uow() as uow:
        await uow.outbox.enqueue(EMAIL_KIND, payload(), "report.email:1:production_deployed")
        await uow.commit()
    with pytest.raises(RuntimeError, match="process died"):  # the process is gone here
        await background.pump()
    assert len(handler.messages) == 1 and crashing.crashed

    # The restart: a new background on the same file takes the lease back and sends again.
    clock.advance(timedelta(minutes=1))
    second = backbone(engine, clock)
    second.background.add_sender(EMAIL_KIND, sender(settings, seen))
    assert await second.outbox.reclaim(clock.now()) == 1
    await second.pump()
    await second.pump()  # nothing is left: a third copy would show here

    assert len(handler.messages) == 2
    ids = {m["Message-ID"] for m in handler.messages}
    assert ids == {message_id_for("report.email:1:production_deployed", SENDER)}
    bodies = {m.get_payload(decode=True) for m in handler.messages}  # type: ignore[misc]
    assert len(bodies) == 1  # the very same mail, not a new one
    assert all("Canary routing" in b.decode() for b in bodies)  # type: ignore[union-attr]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """Make a throw-away certificate for 127.0.0.1 with the openssl CLI."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    if shutil.which("openssl") is None:  # a missing tool fails the test, never skips it
        pytest.fail("openssl is not installed: run `bash .ci/install-openssl.sh`")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_starttls_and_login_with_credentials_from_the_environment(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """STARTTLS is required by the server and used; the login comes from RELEASEBOT_SMTP_*."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.login == b"bot" and data.password == b"s3cret")

    handler, port = Collect(), free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticator, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        settings = build_settings(
            {"reports": {"email": {
                "enabled": True, "host": "127.0.0.1", "port": port, "security": "starttls",
                "sender": SENDER, "to": ["team@nexis.example"], "ca_file": str(cert),
            }}},
            env={"RELEASEBOT_SMTP_USERNAME": "bot", "RELEASEBOT_SMTP_PASSWORD": "s3cret"},
        )  # fmt: skip
        assert "s3cret" not in repr(settings)  # a secret never prints
        seen: list[str] = []
        smtp = sender(settings.reports.email, seen, user=settings.secrets.smtp_username,
                      password=settings.secrets.smtp_password)  # fmt: skip
        msg = OutboxMessage(1, EMAIL_KIND, payload(), "report.email:1:production_deployed")
        detail = await smtp.send(msg)
    finally:
        controller.stop()
    assert logins == [(b"bot", b"s3cret")]
    assert len(handler.messages) == 1
    assert detail is not None and message_id_for(msg.idempotency_key, SENDER) in detail
    assert seen == [detail]  # the evidence the Communication item is ticked with


async def test_an_unreachable_server_is_retried_and_a_refusal_is_final(
    plain_smtp: tuple[Collect, int],
) -> None:
    """Connection refused: retryable. A 5xx for every recipient: permanent, said plainly."""
    closed = EmailSettings(enabled=True, host="127.0.0.1", port=free_port(), security="none",
                           sender=SENDER, to=["team@nexis.example"], timeout_seconds=5)  # fmt: skip
    msg = OutboxMessage(1, EMAIL_KIND, payload(), "report.email:1:production_deployed")
    with pytest.raises(DeliveryFailed) as unreachable:
        await sender(closed, []).send(msg)
    assert unreachable.value.retryable and "127.0.0.1" in unreachable.value.reason

    class Refuse(Collect):
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            return "550 no such mailbox"

    port = free_port()
    controller = Controller(Refuse(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        refusing = EmailSettings(enabled=True, host="127.0.0.1", port=port, security="none",
                                 sender=SENDER, to=["team@nexis.example"])  # fmt: skip
        with pytest.raises(DeliveryFailed) as refused:
            await sender(refusing, []).send(msg)
    finally:
        controller.stop()
    assert not refused.value.retryable and "refused" in refused.value.reason
