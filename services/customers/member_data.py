"""A member's own data (issue 22; R6, D4, PIPL's right to a copy and to deletion).

- `export`: everything the platform holds about the member, as one JSON document, served
  through a signed download link (kind MY_DATA_JSON, `services/downloads.py`): their own
  personal values in full (it is their copy: phone, real name, ID number), bank cards
  masked as everywhere, credit, balances, loans, claims, repayments, contracts, notices,
  messages (without bodies, which may carry codes), verifications and status changes.
  The link works only for its subject while their account is active.
- `request_deletion`: a deletion request is recorded and answered at once with what R6
  lets the platform do. Records of a party to a loan are kept while a loan runs and for
  the retention periods after the last one ends (`services/platform/retention.py`), then
  the retention purge removes them; nothing is deleted earlier. The answer names each
  kind of record and the last day it is kept (none while a loan runs), and that the
  account must be closed (M5.2) before anything can go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from tortoise.transactions import in_transaction

from models.bids import Claim
from models.contracts import Contract, ContractParty
from models.credit import CreditProfile, VerificationSubmission
from models.customers import AccountStatusChange, DataDeletionRequest
from models.loans import Loan
from models.members import User
from models.messaging import Notice, OutgoingMessage
from models.payments import BankCard, ProviderAccount
from models.repayments import Repayment
from services.errors import InvalidInputError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.kit.security import decrypt_pii, lookup_hash
from services.money import ledger
from services.platform import clock, retention
from services.platform.loan_parties import Parties
from services.platform.mailer import email_address

FORMAT_VERSION = 1


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: _plain(value) for key, value in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, bool, float)) or value is None:
        return value
    if isinstance(value, (list, dict)):
        return value
    return str(value)


async def export(*, actor: Actor) -> bytes:
    """The caller's own data as UTF-8 JSON. Raises NotFoundError for a caller who is not a
    member with an account."""
    if actor.user_id is None or not actor.can(Permission.ACCOUNT_USE):
        raise NotFoundError("You have no member data")
    user_id = actor.user_id
    user = await User.get(id=user_id)
    account = await ProviderAccount.get_or_none(owner_code=f"m:{user_id}")
    address = await email_address(user_id)
    lookups = [user.phone_lookup] + ([lookup_hash(address)] if address else [])
    contract_ids = await ContractParty.filter(user_id=user_id).values_list("contract_id", flat=True)
    document = {
        "format": f"lendbridge-member-data/{FORMAT_VERSION}",
        "generated_at": (await clock.now()).isoformat(),
        "profile": {
            "user_id": user.id,
            "display_name": user.display_name,
            "phone": decrypt_pii(user.phone_cipher),
            "status": str(user.status),
            "registered_at": user.created_at.isoformat(),
            "email": address,
            "real_name": decrypt_pii(account.real_name_cipher)
            if account and account.real_name_cipher
            else None,
            "id_number": decrypt_pii(account.id_number_cipher)
            if account and account.id_number_cipher
            else None,
        },
        "balances_fen": await ledger.member_balances(user_id),
        "bank_cards": _rows(
            await BankCard.filter(user_id=user_id).values(
                "id", "card_masked", "bank_name", "status", "created_at"
            )
        ),
        "credit": _rows(
            await CreditProfile.filter(user_id=user_id).values(
                "score", "grade", "limit_fen", "used_fen", "frozen", "updated_at"
            )
        ),
        "verifications": _rows(
            await VerificationSubmission.filter(user_id=user_id).values(
                "id", "kind", "status", "created_at"
            )
        ),
        "loans": _rows(
            await Loan.filter(borrower_id=user_id)
            .order_by("id")
            .values(
                "id",
                "amount_fen",
                "annual_rate",
                "term_months",
                "method",
                "purpose",
                "status",
                "created_at",
            )
        ),
        "claims": _rows(
            await Claim.filter(holder_id=user_id)
            .order_by("id")
            .values("id", "loan_id", "principal_fen", "created_at")
        ),
        "repayments": _rows(
            await Repayment.filter(borrower_id=user_id)
            .order_by("id")
            .values(
                "id",
                "loan_id",
                "kind",
                "status",
                "amount_fen",
                "principal_fen",
                "interest_fen",
                "penalty_fen",
                "created_at",
            )
        ),
        "contracts": _rows(
            await Contract.filter(id__in=contract_ids)
            .order_by("id")
            .values("id", "number", "kind", "title", "status", "amount_fen", "created_at")
        ),
        "notices": _rows(
            await Notice.filter(user_id=user_id)
            .order_by("id")
            .values("kind", "title", "body", "created_at", "read_at")
        ),
        "messages": _rows(
            await OutgoingMessage.filter(recipient_lookup__in=lookups)
            .order_by("id")
            .values("channel", "recipient_masked", "subject", "status", "created_at")
        ),
        "status_changes": _rows(
            await AccountStatusChange.filter(user_id=user_id)
            .order_by("id")
            .values("from_status", "to_status", "reason", "state", "created_at", "decided_at")
        ),
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


@dataclass(frozen=True)
class Retained:
    kind: str  # a retention.RecordKind value
    until: date | None  # the last day it is kept; None while a loan of theirs runs


@dataclass(frozen=True)
class DeletionAnswer:
    request: DataDeletionRequest
    retained: list[Retained]


_KEPT_FOR_LOANS = (
    retention.RecordKind.TRANSACTIONS,
    retention.RecordKind.CONTRACTS,
    retention.RecordKind.INTERACTION_LOGS,
    retention.RecordKind.CREDIT_MATERIALS,
)


async def request_deletion(*, actor: Actor, reason: str) -> DeletionAnswer:
    """Record the caller's deletion request and answer it with what R6 keeps, until when.
    Raises InvalidInputError (reason longer than 500 characters), NotFoundError (not a
    member)."""
    if actor.user_id is None or not actor.can(Permission.ACCOUNT_USE):
        raise NotFoundError("You have no member data")
    why = (reason or "").strip()
    if len(why) > 500:
        raise InvalidInputError("Say why in at most 500 characters", field="reason")
    periods = await retention.periods()
    parties = await Parties.of_user(actor.user_id)
    running = actor.user_id in parties.running
    last_end = parties.last_end.get(actor.user_id)
    retained = []
    if running or last_end is not None:
        for kind in _KEPT_FOR_LOANS:
            until = None if running or last_end is None else periods[kind].ends_after(last_end)
            retained.append(Retained(kind.value, until))
    latest = [row.until for row in retained if row.until is not None]
    if running:
        answer = (
            "A loan of yours is still running: the records the law makes us keep (R6) are "
            "kept while it runs and for the retention periods after it ends."
        )
    elif latest:
        answer = (
            "The records the law makes us keep (R6) are kept until "
            f"{max(latest).isoformat()} and removed by the retention purge after that."
        )
    else:
        answer = (
            "You were never a party to a loan: nothing of yours falls under R6's periods. "
            "Your request is recorded for customer service, who erase your data once your "
            "account is closed."
        )
    user = await User.get(id=actor.user_id)
    if str(user.status) != "closed":
        answer += " Your account must be closed first (customer service, M5.2)."
    async with in_transaction():
        request = await DataDeletionRequest.create(
            user_id=actor.user_id,
            reason=why,
            answer=answer,
            loans_running=running,
            retained_until=max(latest) if latest and not running else None,
            created_at=await clock.now(),
        )
    return DeletionAnswer(request=request, retained=retained)
