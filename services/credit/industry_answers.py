"""Answers to other platforms' industry credit-sharing queries (R1, M2.1, M2.7, D4).

The reverse of `external.Source.INDUSTRY_SHARING`: there LendBridge asks other platforms
what a borrower owes them; here a partner platform asks LendBridge the same about the
person with an ID number, to apply its own cross-platform cap (R1: ¥1,000,000 for a
person across platforms). The answer holds only figures: whether the number belongs to
a member here, the principal they still owe as borrower, on how many loans, and whether
any of it is overdue, by how much and for how long. Never a name, a phone number or the
ID number itself.

The person is found by the keyed lookup hash of the number on their custody account
(`ProviderAccount.id_number_lookup`, migration 0026), never by decrypting rows. A custody
account the provider refused (`failed`) does not make the number known: the provider
never accepted that name and number together.

Every answered query is an entry of the operation log (hash-chained, M11.2) before the
answer leaves: the partner's label, the lookup hash (never the number), the stated
purpose and whether the number was known (D4: who asked about whom, and why). A query
refused for bad input or a missing permission records nothing and answers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tortoise.expressions import F, Q
from tortoise.functions import Min, Sum

from models.loans import LoanStatus
from models.payments import ProviderAccount
from models.repayments import InstallmentStatus, LoanInstallment
from services.errors import InvalidInputError, PermissionDeniedError
from services.identity.permissions import Actor, Permission
from services.kit.security import lookup_hash
from services.money.accounts import validate_id_number
from services.platform import clock, oplog

PLATFORM_NAME = "LendBridge"
PURPOSE_MAX = 64
# What the operation log names these entries (the GraphQL field partners call).
OPERATION = "industryCreditQuery"
# Loans paid out and not yet repaid in full: what a borrower still owes on.
OWING = (LoanStatus.DISBURSED, LoanStatus.REPAYING, LoanStatus.OVERDUE)


@dataclass(frozen=True)
class IndustryAnswer:
    """What LendBridge tells a partner about one ID number, as of `as_of`.

    `outstanding_principal_fen` is the principal not yet repaid on the
    `outstanding_loans` (disbursed, not settled) the person borrowed. `overdue_amount_fen`
    is what their OVERDUE installments still owe (principal, interest, fee and the
    penalty accrued so far) and `days_overdue` the days since the oldest of those fell
    due, as the staff's overdue list counts both. All zero when the number is not known.
    """

    platform: str
    as_of: datetime
    known: bool
    outstanding_principal_fen: int
    outstanding_loans: int
    overdue: bool
    overdue_amount_fen: int
    days_overdue: int


@dataclass(frozen=True)
class QueryOrigin:
    """Where a query came from, for its operation-log entry."""

    client_ip: str = ""
    user_agent: str = ""
    trace_id: str = ""


async def answer_industry_query(
    *, actor: Actor, id_number: str, purpose: str, origin: QueryOrigin | None = None
) -> IndustryAnswer:
    """What the person with `id_number` owes on LendBridge as borrower, for a partner.

    Only a partner's key holding `partner:query` may ask. `purpose` says why (1-64 printable
    characters, e.g. "loan application review"). The query is recorded in the operation
    log before the answer is returned: if it cannot be recorded, nothing is answered.
    Amounts are sums of integer fen, no rounding.

    Raises PermissionDeniedError (FORBIDDEN) and InvalidInputError (INVALID, field
    `idNumber`: not an 18-character resident ID with a valid check character; field
    `purpose`); neither records anything.
    """
    # A partner's key, not a login holding the partner role: keys are what limit a
    # partner to its reviewed operations, its rate and its quota (docs/partners.md).
    if not actor.can(Permission.PARTNER_QUERY) or actor.partner_id is None:
        raise PermissionDeniedError("Only partner platforms may ask this, with their key")
    number = validate_id_number(id_number)
    why = _purpose(purpose)
    lookup = lookup_hash(number)
    as_of = await clock.now()
    answer = await _answer(lookup, as_of)
    where = origin or QueryOrigin()
    await oplog.append(
        actor=actor,
        operation=OPERATION,
        # Key names the log's redaction leaves alone: it would blank "idNumber...".
        arguments={"subjectLookup": lookup, "purpose": why},
        client_ip=where.client_ip,
        user_agent=where.user_agent,
        result="KNOWN" if answer.known else "UNKNOWN",
        trace_id=where.trace_id,
    )
    return answer


def _purpose(raw: str) -> str:
    why = (raw or "").strip()
    if not 1 <= len(why) <= PURPOSE_MAX or not why.isprintable():
        raise InvalidInputError(
            f"Say why you ask (1 to {PURPOSE_MAX} printable characters)", field="purpose"
        )
    return why


async def _answer(lookup: str, as_of: datetime) -> IndustryAnswer:
    members = await (
        ProviderAccount.filter(id_number_lookup=lookup, user_id__isnull=False)
        .exclude(status="failed")
        .values_list("user_id", flat=True)
    )
    if not members:
        return IndustryAnswer(PLATFORM_NAME, as_of, False, 0, 0, False, 0, 0)
    loans = await _owing_by_loan(list(members))
    overdue_since = [row["oldest_overdue"] for row in loans if row["oldest_overdue"]]
    oldest = min((_day(value) for value in overdue_since), default=None)
    return IndustryAnswer(
        platform=PLATFORM_NAME,
        as_of=as_of,
        known=True,
        outstanding_principal_fen=sum(int(row["principal"] or 0) for row in loans),
        outstanding_loans=len(loans),
        overdue=oldest is not None,
        overdue_amount_fen=sum(int(row["overdue_owed"] or 0) for row in loans),
        days_overdue=max(0, (as_of.date() - oldest).days) if oldest else 0,
    )


def _still_owed() -> Any:
    """What an installment still owes: principal, interest, fee and accrued penalty (the
    overdue list's figure, services.repayments.collection, which credit may not import)."""
    return (
        F("principal_fen")
        - F("paid_principal_fen")
        + F("interest_fen")
        - F("paid_interest_fen")
        + F("fee_fen")
        - F("paid_fee_fen")
        + F("penalty_accrued_fen")
        - F("penalty_paid_fen")
    )


async def _owing_by_loan(members: list[Any]) -> list[dict[str, Any]]:
    """One row per owing loan of these borrowers, summed by the database (one statement
    whatever the number of installments): unpaid principal, what the OVERDUE
    installments still owe and the oldest of their due dates (null when none is)."""
    overdue = Q(status=InstallmentStatus.OVERDUE)
    return await (
        LoanInstallment.filter(loan__borrower_id__in=members, loan__status__in=OWING)
        .annotate(
            principal=Sum(F("principal_fen") - F("paid_principal_fen")),
            overdue_owed=Sum(_still_owed(), _filter=overdue),
            oldest_overdue=Min("due_date", _filter=overdue),
        )
        .group_by("loan_id")
        .values("loan_id", "principal", "overdue_owed", "oldest_overdue")
    )


def _day(value: date | str) -> date:
    # SQLite answers an aggregate of a date column as its ISO text.
    return value if isinstance(value, date) else date.fromisoformat(value)
