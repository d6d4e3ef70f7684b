"""Email over SMTP with STARTTLS. The Message-ID is derived from the ledger key, so a mail server or a mailbox that
deduplicates by Message-ID sees a resend as the same message."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from zaps import sending
from zaps.retry import PermanentError, RetryableError, UnsureError


class SmtpEmail:
    def __init__(
        self,
        *,
        host: str | None,
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        sender: str | None = None,
        starttls: bool = True,
        timeout_s: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.username, self.password = host, port, username, password
        self.sender, self.starttls, self.timeout_s = sender, starttls, timeout_s
        self.tls_context = tls_context or ssl.create_default_context()

    async def send(self, *, to: list[str], subject: str, body: str, idempotency_key: str) -> dict[str, Any]:
        if not self.host or not self.sender:
            raise PermanentError("no SMTP server configured (SMTP_HOST, SMTP_FROM)")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{digest}@zaps>"
        message.set_content(body)
        sending.not_sent()
        await asyncio.to_thread(self._deliver, message)  # the thread sees this step's `sending` (a copied context)
        return {"message_id": message["Message-ID"], "to": to}

    def _deliver(self, message: EmailMessage) -> None:
        try:
            step = sending.current()
            smtp = smtplib.SMTP(self.host or "", self.port, timeout=step.timeout_s if step else self.timeout_s)
        except (OSError, smtplib.SMTPException) as error:
            raise RetryableError(f"SMTP server unreachable: {type(error).__name__}") from None
        with smtp:
            try:
                if self.starttls:
                    smtp.starttls(context=self.tls_context)
                if self.username and self.password:
                    smtp.login(self.username, self.password)
            except smtplib.SMTPAuthenticationError:
                raise PermanentError("SMTP server refused the credentials") from None
            except smtplib.SMTPResponseException as error:
                raise _refused(error) from None
            except (OSError, smtplib.SMTPException) as error:  # nothing of the message was sent yet
                raise RetryableError(f"SMTP server unreachable: {type(error).__name__}") from None
            sending.sent()  # past here the message may be taken; raises if the step has given up already
            try:
                smtp.send_message(message)
            except smtplib.SMTPRecipientsRefused:
                raise PermanentError("SMTP server refused every recipient") from None
            except smtplib.SMTPResponseException as error:  # the server answered: it did not take the message
                raise _refused(error) from None
            except (OSError, smtplib.SMTPException) as error:
                # The message may have been taken: the connection died or timed out before the server's answer.
                raise UnsureError(
                    f"SMTP server did not answer after the message was sent: {type(error).__name__}"
                ) from None


def _refused(error: smtplib.SMTPResponseException) -> Exception:
    if 400 <= error.smtp_code < 500:  # 4xx is SMTP's "try again later"
        return RetryableError(f"SMTP server answered {error.smtp_code}")
    return PermanentError(f"SMTP server answered {error.smtp_code}")
