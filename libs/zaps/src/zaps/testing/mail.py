"""Did my automation send that email? A real SMTP server on 127.0.0.1 that keeps every message it is sent.

Tests use it through the `outbox` fixture (zaps.testing.plugin): give the service `outbox.settings` and the real
email action (the same code as in production) delivers to it; then ask `outbox.to("someone@example.com")`.

    async def test_a_big_order_emails_the_owner(make_settings, outbox):
        settings = make_settings(Settings, **outbox.settings)
        async with running(service.create_app(settings)) as client:
            await client.post(...)                      # whatever starts the automation
            (mail,) = await outbox.wait_for(1)
        assert mail.to == ["owner@example.com"] and "A-1" in mail.subject

The server speaks plain SMTP without a login, so the settings turn STARTTLS off: what is tested is what the
automation sends, not the mail server's encryption (zaps' own tests cover that against a TLS server).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

SENDER = "zaps@example.test"


@dataclass(frozen=True)
class SentMail:
    """One message the server accepted: the envelope (who from, who to) and the message itself."""

    sender: str
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def body(self) -> str:
        """The plain-text body, decoded."""
        part = self.message.get_body(("plain",))
        return str(part.get_content()) if part is not None else ""


@dataclass
class Outbox:
    """What the local SMTP server received, in order."""

    port: int = 0
    messages: list[SentMail] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        """The SMTP settings that send to this server: `make_settings(MySettings, **outbox.settings)`."""
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_starttls": False,
            "smtp_username": None,
            "smtp_password": None,
            "smtp_from": SENDER,
        }

    def to(self, address: str) -> list[SentMail]:
        """The messages whose envelope named `address` as a recipient."""
        return [mail for mail in self.messages if address in mail.to]

    async def wait_for(self, count: int, *, timeout: float = 15) -> list[SentMail]:
        """The messages once there are at least `count` (a worker sends them in its own time)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} email(s) in {timeout} s, got {len(self.messages)}")
            await asyncio.sleep(0.05)
        return list(self.messages)

    # aiosmtpd calls this for each message (its "handler" interface).
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        # The modern policy parses into an EmailMessage: headers as text, get_body() for the body.
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(SentMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"
