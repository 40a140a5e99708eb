"""E-mailing a contract's PDF to its parties (M3.5), over SMTP, with retries.

`email_parties` writes one `contract_emails` row per party with an e-mail address (the
address of their newest APPROVED `EMAIL` verification), and an outbox event for each,
in one transaction; parties without an address are reported as skipped. After commit
the outbox makes the first attempt. A failed attempt is recorded (FAILED, attempts,
last error) and retried by the `contract_emails` job after a backoff: 1, 2, 4, ... minutes
up to an hour between attempts, `MAX_ATTEMPTS` in all; then it stays FAILED with no next
attempt, for staff to see (`list_emails`). An attempt claims its row first (a
conditional update of `next_attempt_at`), so two processes never send the same row at
once, and no lock is held while the SMTP server answers. The SMTP client and the
member's address come from `services.platform.mailer`, which member messages use as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, cast

from tortoise.transactions import in_transaction

from models.contracts import Contract, ContractEmail, ContractParty, EmailStatus
from services.contracts.access import (
    ContractIntegrityError,
    archived_document,
    get_contract,
)
from services.identity.permissions import Actor
from services.kit.security import decrypt_pii, encrypt_pii, mask_email
from services.pages import Page
from services.platform import outbox
from services.platform.clock import system_now
from services.platform.mailer import email_address, get_mailer, new_message

SEND_TOPIC = "contract.email"
MAX_ATTEMPTS = 8
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=1)
# How long a claimed attempt keeps others away: longer than any SMTP timeout.
CLAIM = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: 1, 2, 4, ... minutes, at most an hour."""
    wait: timedelta = FIRST_BACKOFF * (2 ** max(attempts - 1, 0))
    return min(wait, MAX_BACKOFF)


# --- queueing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    emails: list[ContractEmail]
    skipped: list[ContractParty]  # parties with no approved e-mail address


async def email_parties(*, actor: Actor, contract_id: int) -> Queued:
    """Queue the contract's PDF to every party with an e-mail address (sent after commit).

    Raises NotFoundError when the actor may not see the contract.
    """
    contract = await get_contract(actor=actor, contract_id=contract_id)
    parties = await ContractParty.filter(contract_id=contract.id).order_by("position")
    addresses = {party.user_id: await email_address(party.user_id) for party in parties}
    queued: list[ContractEmail] = []
    skipped: list[ContractParty] = []
    now = system_now()
    async with in_transaction():
        for party in parties:
            address = addresses[party.user_id]
            if address is None:
                skipped.append(party)
                continue
            email = await ContractEmail.create(
                contract_id=contract.id,
                user_id=party.user_id,
                recipient_cipher=encrypt_pii(address),
                recipient_masked=mask_email(address),
                next_attempt_at=now,
                requested_by=actor.user_id,
            )
            await outbox.enqueue(SEND_TOPIC, {"email_id": email.id})
            queued.append(email)
    outbox.wake()
    return Queued(emails=queued, skipped=skipped)


# --- sending -----------------------------------------------------------------------------


def _message(contract: Contract, address: str, document: bytes) -> EmailMessage:
    message = new_message(to=address, subject=f"{contract.title} {contract.number}")
    message.set_content(
        f"您好，附件是合同 {contract.number} 的 PDF 文件，可在 LendBridge 平台验证其真伪。\n"  # noqa: RUF001
        f"Attached is the PDF of contract {contract.number} ({contract.title}).\n"
        f"SHA-256: {contract.sha256}\n"
        "Check it at any time with the platform's verifyContract.\n"
    )
    message.add_attachment(
        document, maintype="application", subtype="pdf", filename=f"{contract.number}.pdf"
    )
    return message


async def attempt(email_id: int, *, now: datetime | None = None) -> EmailStatus | None:
    """One delivery attempt of a due e-mail; the outcome is recorded on the row.
    Returns the new status, or None when the row was not due (or already claimed)."""
    now = now or system_now()
    claimed = await ContractEmail.filter(
        id=email_id,
        status__in=[EmailStatus.PENDING, EmailStatus.FAILED],
        next_attempt_at__lte=now,
    ).update(next_attempt_at=now + CLAIM)
    if not claimed:
        return None
    email = await ContractEmail.get(id=email_id)
    contract = await Contract.get(id=email.contract_id)
    retry = True
    try:
        document = await archived_document(contract)
        await get_mailer().send(_message(contract, decrypt_pii(email.recipient_cipher), document))
    except ContractIntegrityError as error:
        failure = f"not sent: {error.message}"
        retry = False  # sending again cannot help
    except Exception as error:  # any SMTP or network failure: recorded, then retried
        failure = f"{type(error).__name__}: {error}"
    else:
        await ContractEmail.filter(id=email.id).update(
            status=EmailStatus.SENT,
            attempts=email.attempts + 1,
            last_error="",
            sent_at=system_now(),
            next_attempt_at=None,
        )
        return EmailStatus.SENT
    attempts = email.attempts + 1
    await ContractEmail.filter(id=email.id).update(
        status=EmailStatus.FAILED,
        attempts=attempts,
        last_error=failure[:500],
        next_attempt_at=(now + backoff(attempts)) if retry and attempts < MAX_ATTEMPTS else None,
    )
    return EmailStatus.FAILED


async def _deliver(payload: dict[str, Any]) -> None:
    await attempt(int(payload["email_id"]))


outbox.register_handler(SEND_TOPIC, _deliver)


async def retry_due(*, now: datetime | None = None, batch: int = 50) -> int:
    """Attempt every failed or pending e-mail whose next attempt is due; returns how many
    were sent."""
    now = now or system_now()
    ids = (
        await ContractEmail.filter(
            status__in=[EmailStatus.PENDING, EmailStatus.FAILED], next_attempt_at__lte=now
        )
        .order_by("next_attempt_at", "id")
        .limit(batch)
        .values_list("id", flat=True)
    )
    sent = 0
    # tortoise types a flat values_list as tuples: these are the ids.
    for email_id in cast(list[int], ids):
        if await attempt(email_id, now=now) == EmailStatus.SENT:
            sent += 1
    return sent


async def list_emails(
    *, status: EmailStatus | None, first: int, before_id: int | None = None
) -> Page[ContractEmail]:
    """Contract e-mails for staff, newest first, optionally in one status."""
    query = ContractEmail.all()
    if status is not None:
        query = query.filter(status=status)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)
