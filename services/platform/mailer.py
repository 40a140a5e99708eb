"""Outgoing e-mail over SMTP, and where a member's e-mail goes.

Shared by contract e-mails (`services.contracts.emails`, M3.5) and member messages
(`services.platform.notifier.send_email`): one mailer from the `SMTP_*` settings, which a test
replaces with `set_mailer`, and one answer to "what is this member's address": their
newest APPROVED `EMAIL` verification, decrypted only to send. It sits below both, so the
notifier, which the contracts code imports, need not import the contracts package.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from models.credit import VerificationStatus, VerificationSubmission
from services.kit.security import decrypt_pii
from services.kit.settings import get_settings


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand the message to the mail server; raise when it is not accepted."""
        ...


class SmtpMailer:
    """A real SMTP client (aiosmtplib): SMTP_HOST, SMTP_PORT, STARTTLS, login."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        use_tls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.use_tls = use_tls
        self.username = username
        self.password = password
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            start_tls=self.use_tls,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
        )


_override: Mailer | None = None


def get_mailer() -> Mailer:
    """The SMTP server of the settings, unless a test installed another."""
    if _override is not None:
        return _override
    settings = get_settings()
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        use_tls=settings.smtp_use_tls,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout_seconds,
    )


def set_mailer(mailer: Mailer | None) -> None:
    """Send through `mailer` from now on (None: back to the settings' SMTP server)."""
    global _override
    _override = mailer


def new_message(*, to: str, subject: str) -> EmailMessage:
    """An e-mail from the platform's sender (SMTP_FROM) to `to`; the caller adds content."""
    message = EmailMessage()
    message["From"] = get_settings().smtp_from
    message["To"] = to
    message["Subject"] = subject
    return message


async def email_address(user_id: int) -> str | None:
    """The member's e-mail from their newest approved EMAIL verification, if any."""
    row = (
        await VerificationSubmission.filter(
            user_id=user_id, kind="EMAIL", status=VerificationStatus.APPROVED
        )
        .order_by("-id")
        .first()
    )
    if row is None:
        return None
    stored = row.field_values.get("email") or {}
    cipher = stored.get("cipher")
    return decrypt_pii(cipher) if cipher else None
