"""One-time SMS codes: single use, 5-minute expiry, 5 attempts (M1.1, M4.8).

A code may be bound to one operation (`binding`, e.g. an operation id with its amount
and counterparty), and then confirms only that operation.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import timedelta

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.members import User
from models.messaging import SmsCode, SmsPurpose
from services.errors import DomainError, InvalidInputError
from services.kit.security import lookup_hash
from services.kit.settings import get_settings
from services.platform import notifier, outbox
from services.platform.clock import system_now

_PHONE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str, *, field: str = "phone") -> str:
    """A mainland mobile number: 11 digits starting 13-19; "+86", spaces and dashes allowed.

    Raises InvalidInputError(field=phone).
    """
    phone = re.sub(r"[\s-]", "", raw or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    if not _PHONE.match(phone):
        raise InvalidInputError("Enter an 11-digit mainland mobile number", field=field)
    return phone


def _code_hash(code_id: int, code: str) -> str:
    return lookup_hash(f"sms:{code_id}:{code}")


async def issue(
    *,
    phone: str,
    purpose: SmsPurpose,
    binding: str = "",
    text: str | None = None,
    keep_attempts: bool = False,
) -> SmsCode:
    """Create a code and queue the SMS. At most one code a minute per phone, purpose and
    binding (two operations started within a minute each get their code). The new code
    voids the earlier live codes of the same phone, purpose and binding: only the newest
    works.

    With `keep_attempts` the new code starts with the wrong attempts already made on the
    code it replaces, so a new code buys no extra guesses: an operation's attempts are
    the operation's, however many codes it was sent (not for sign-in codes, whose
    earlier attempts must not lock the phone out of a fresh code).

    Raises DomainError(TOO_SOON), and for REGISTER DomainError(PHONE_TAKEN).
    """
    settings = get_settings()
    lookup = lookup_hash(phone)
    now = system_now()
    registered = await User.exists(phone_lookup=lookup)
    if purpose == SmsPurpose.REGISTER and registered:
        raise DomainError(
            "This phone number is already registered", code="PHONE_TAKEN", field="phone"
        )
    if purpose != SmsPurpose.REGISTER and not registered:
        # Answer as if sent, so the endpoint does not tell which numbers have accounts.
        return SmsCode(
            phone_lookup=lookup,
            purpose=purpose,
            binding=binding,
            expires_at=now + timedelta(minutes=settings.sms_code_minutes),
        )
    recent = await SmsCode.filter(
        phone_lookup=lookup,
        purpose=purpose,
        binding=binding,
        created_at__gt=now - timedelta(seconds=settings.sms_code_resend_seconds),
    ).exists()
    if recent:
        raise DomainError("A code was sent less than a minute ago", code="TOO_SOON")
    async with in_transaction():
        # The newest code of this phone, purpose and binding: the one `verify` checks,
        # which carries the wrong attempts of any code it replaced.
        previous = (
            await SmsCode.filter(phone_lookup=lookup, purpose=purpose, binding=binding)
            .order_by("-id")
            .first()
        )
        code = _new_code(previous)
        attempts = previous.attempts if keep_attempts and previous is not None else 0
        # Older codes for the same purpose and binding stop working.
        await SmsCode.filter(
            phone_lookup=lookup, purpose=purpose, binding=binding, consumed_at__isnull=True
        ).update(consumed_at=now)
        row = await SmsCode.create(
            phone_lookup=lookup,
            purpose=purpose,
            binding=binding,
            code_hash="",
            attempts=attempts,
            expires_at=now + timedelta(minutes=settings.sms_code_minutes),
        )
        row.code_hash = _code_hash(row.id, code)
        await row.save(update_fields=["code_hash"])
        minutes = settings.sms_code_minutes
        body = text or f"[LendBridge] Your code is {code}. It expires in {minutes} minutes."
        await notifier.send_sms(phone=phone, text=body.replace("{code}", code))
    outbox.wake()
    return row


def _new_code(previous: SmsCode | None) -> str:
    """Six random digits, never those of the code it replaces: a member typing the old
    code after a resend is refused, whatever the draw."""
    while True:
        code = f"{secrets.randbelow(10**6):06d}"
        if previous is None or not hmac.compare_digest(
            _code_hash(previous.id, code), previous.code_hash
        ):
            return code


async def verify(
    *, phone: str, purpose: SmsPurpose, code: str, binding: str = "", field: str = "smsCode"
) -> None:
    """Check and consume the newest live code. Runs in its own transaction, so a wrong
    attempt is counted even when the caller's work then rolls back.

    Raises DomainError with code CODE_INVALID, CODE_EXPIRED or CODE_ATTEMPTS_EXCEEDED.
    """
    settings = get_settings()
    lookup = lookup_hash(phone)
    now = system_now()
    async with in_transaction():
        row = (
            await SmsCode.filter(
                phone_lookup=lookup, purpose=purpose, binding=binding, consumed_at__isnull=True
            )
            .order_by("-id")
            .select_for_update()
            .first()
        )
        if row is None:
            raise DomainError("No valid code: request a new one", code="CODE_INVALID", field=field)
        if row.expires_at <= now:
            raise DomainError(
                "The code has expired: request a new one", code="CODE_EXPIRED", field=field
            )
        if row.attempts >= settings.sms_code_max_attempts:
            raise DomainError(
                "Too many attempts: request a new code", code="CODE_ATTEMPTS_EXCEEDED", field=field
            )
        if not hmac.compare_digest(row.code_hash, _code_hash(row.id, (code or "").strip())):
            await SmsCode.filter(id=row.id).update(attempts=F("attempts") + 1)
            left = max(settings.sms_code_max_attempts - row.attempts - 1, 0)
            failure = DomainError(
                f"Wrong code ({left} attempts left)", code="CODE_INVALID", field=field
            )
        else:
            await SmsCode.filter(id=row.id).update(consumed_at=now)
            return
    # Raised after the commit so the attempt counter is kept.
    raise failure
