"""A partner platform's industry credit query (R1, M2.7, D4): what the person with an ID
number owes on LendBridge as borrower, to the fen, to partners only, every query in the
operation log with a keyed hash of the number and never the number itself."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.requests import Request

from models.loans import Loan, LoanStatus
from models.members import User
from models.payments import ProviderAccount
from models.repayments import InstallmentStatus, LoanInstallment
from models.system import OperationLogEntry
from schema.build import build_schema
from schema.context import Context
from services.credit.industry_answers import (
    IndustryAnswer,
    QueryOrigin,
    answer_industry_query,
)
from services.errors import InvalidInputError, PermissionDeniedError
from services.identity import permissions
from services.identity.permissions import Actor, Permission
from services.kit.security import encrypt_pii, lookup_hash
from services.kit.settings import ROOT, get_settings
from services.money import accounts
from services.platform import clock, oplog
from tests.factories import (
    create_member,
    create_staff,
    dump_all_tables,
    error_codes,
    gql,
    new_id_number,
    token_for,
)
from tests.own_database import run_on_own_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

PARTNER = Actor(
    kind="partner",
    roles=frozenset({"partner"}),
    permissions=frozenset({Permission.PARTNER_QUERY}),
    label="partner:test",
    partner_id=1,
)

PURPOSE = "loan application review"
OVERDUE_DAYS = 17
DOCUMENT = (ROOT / "persisted" / "credit-sharing" / "IndustryCredit.graphql").read_text(
    encoding="utf-8"
)


# --- the book --------------------------------------------------------------------------------


@dataclass
class Book:
    borrower: User
    id_number: str
    other_id_number: str
    today: date


async def _custody(user: User, id_number: str, *, status: str = "open") -> None:
    """The member's custody account as `accounts.open_account` writes it (without the
    provider: the account opening has its own test below)."""
    await ProviderAccount.create(
        owner_code=f"m:{user.id}",
        user_id=user.id,
        provider_account_id=f"VA-{user.id}" if status == "open" else None,
        real_name_masked="T*",
        real_name_cipher=encrypt_pii("Test Member"),
        id_number_cipher=encrypt_pii(id_number),
        id_number_lookup=lookup_hash(id_number),
        id_number_masked=accounts.mask_id_number(id_number),
        status=status,
    )


async def _loan(borrower: User, status: LoanStatus, installments: list[dict[str, Any]]) -> Loan:
    now = await clock.now()
    amount = sum(row["principal_fen"] for row in installments) or 1_000_000
    paid_out = status in (
        LoanStatus.DISBURSED,
        LoanStatus.REPAYING,
        LoanStatus.OVERDUE,
        LoanStatus.SETTLED,
    )
    loan = await Loan.create(
        borrower_id=borrower.id,
        amount_fen=amount,
        annual_rate=Decimal("0.12"),
        term_months=max(len(installments), 1),
        method="EQUAL_PRINCIPAL",
        day_count="MONTHLY_30_360",
        purpose="Working capital",
        bid_window_days=10,
        min_bid_fen=5_000,
        max_bid_fen=amount,
        status=status,
        funded_fen=amount if paid_out else 0,
        all_in_cost=Decimal("0.15"),
        created_at=now,
        disbursed_at=now if paid_out else None,
    )
    for number, row in enumerate(installments, 1):
        await LoanInstallment.create(loan_id=loan.id, number=number, **row)
    return loan


def _paid(due: date, principal: int, interest: int, fee: int) -> dict[str, Any]:
    return {
        "due_date": due,
        "principal_fen": principal,
        "interest_fen": interest,
        "fee_fen": fee,
        "paid_principal_fen": principal,
        "paid_interest_fen": interest,
        "paid_fee_fen": fee,
        "status": InstallmentStatus.PAID,
        "paid_on": due,
    }


def _pending(due: date, principal: int, interest: int, fee: int) -> dict[str, Any]:
    return {
        "due_date": due,
        "principal_fen": principal,
        "interest_fen": interest,
        "fee_fen": fee,
        "status": InstallmentStatus.PENDING,
    }


@pytest_asyncio.fixture(loop_scope="session")
async def book() -> Book:
    """One borrower with two loans paid out and running (one installment overdue by
    OVERDUE_DAYS days, partly paid), one settled loan and one still listed; and another
    borrower with a loan of their own, overdue too."""
    today = await clock.today()
    borrower, _phone = await create_member(name="Borrower One")
    id_number = new_id_number()
    await _custody(borrower, id_number)
    # Loan 1, repaying: installment 1 paid, 666,667 fen of principal to come.
    await _loan(
        borrower,
        LoanStatus.REPAYING,
        [
            _paid(today - timedelta(days=20), 333_333, 10_000, 3_000),
            _pending(today + timedelta(days=10), 333_333, 6_667, 3_000),
            _pending(today + timedelta(days=40), 333_334, 3_333, 3_000),
        ],
    )
    # Loan 2, overdue: installment 1 fell due OVERDUE_DAYS days ago, 100,000 of its
    # principal and all its interest paid since; it still owes 150,001 principal, 1,250
    # fee and 638 penalty = 151,889. Principal outstanding 150,001 + 249,999 = 400,000.
    await _loan(
        borrower,
        LoanStatus.OVERDUE,
        [
            {
                **_pending(today - timedelta(days=OVERDUE_DAYS), 250_001, 7_503, 1_250),
                "status": InstallmentStatus.OVERDUE,
                "paid_principal_fen": 100_000,
                "paid_interest_fen": 7_503,
                "penalty_accrued_fen": 638,
                "penalty_accrued_micro_fen": 638_000_000,
                "penalty_accrued_through": today,
                "overdue_since": today - timedelta(days=OVERDUE_DAYS - 1),
            },
            _pending(today + timedelta(days=13), 249_999, 2_500, 1_250),
        ],
    )
    # Loan 3, settled; loan 4, listed (never paid out): neither is owed.
    await _loan(
        borrower,
        LoanStatus.SETTLED,
        [_paid(today - timedelta(days=90), 500_000, 5_000, 1_500)],
    )
    await _loan(borrower, LoanStatus.LISTED, [])
    other, _phone = await create_member(name="Borrower Two")
    other_id_number = new_id_number()
    await _custody(other, other_id_number)
    await _loan(
        other,
        LoanStatus.OVERDUE,
        [
            {
                **_pending(today - timedelta(days=60), 700_000, 7_000, 2_100),
                "status": InstallmentStatus.OVERDUE,
                "penalty_accrued_fen": 9_999,
            }
        ],
    )
    return Book(borrower, id_number, other_id_number, today)


async def _ask(id_number: str, actor: Actor = PARTNER, purpose: str = PURPOSE) -> IndustryAnswer:
    return await answer_industry_query(actor=actor, id_number=id_number, purpose=purpose)


async def _entries() -> list[OperationLogEntry]:
    return await OperationLogEntry.all().order_by("id")


# --- the service ----------------------------------------------------------------------------


async def test_the_borrower_owes_the_principal_of_the_running_loans_to_the_fen(book: Book):
    before = await clock.now()
    answer = await _ask(book.id_number)
    after = await clock.now()

    assert before <= answer.as_of <= after
    assert answer == IndustryAnswer(
        platform="LendBridge",
        as_of=answer.as_of,
        known=True,
        outstanding_principal_fen=666_667 + 400_000,
        outstanding_loans=2,
        overdue=True,
        overdue_amount_fen=151_889,
        days_overdue=OVERDUE_DAYS,
    )


async def test_the_other_borrower_is_answered_with_their_own_loan_only(book: Book):
    answer = await _ask(book.other_id_number)

    assert (
        answer.known,
        answer.outstanding_principal_fen,
        answer.outstanding_loans,
        answer.overdue,
        answer.overdue_amount_fen,
        answer.days_overdue,
    ) == (True, 700_000, 1, True, 700_000 + 7_000 + 2_100 + 9_999, 60)


async def test_days_overdue_are_the_oldest_overdue_installments_and_amounts_add_up(book: Book):
    await _loan(
        book.borrower,
        LoanStatus.OVERDUE,
        [
            {
                **_pending(book.today - timedelta(days=3), 10_000, 100, 30),
                "status": InstallmentStatus.OVERDUE,
            }
        ],
    )

    answer = await _ask(book.id_number)

    assert answer.outstanding_principal_fen == 666_667 + 400_000 + 10_000
    assert answer.outstanding_loans == 3
    assert answer.overdue_amount_fen == 151_889 + 10_130
    assert answer.days_overdue == OVERDUE_DAYS


async def test_a_borrower_with_nothing_overdue_is_not_overdue(book: Book):
    member, _phone = await create_member()
    id_number = new_id_number()
    await _custody(member, id_number)
    await _loan(
        member,
        LoanStatus.REPAYING,
        [_pending(book.today, 120_000, 1_200, 360)],  # due today: not late yet
    )

    answer = await _ask(id_number)

    assert (answer.known, answer.outstanding_principal_fen, answer.outstanding_loans) == (
        True,
        120_000,
        1,
    )
    assert (answer.overdue, answer.overdue_amount_fen, answer.days_overdue) == (False, 0, 0)


async def test_an_unknown_number_is_not_known_and_owes_nothing(book: Book):
    stranger = new_id_number()

    answer = await _ask(stranger)

    assert answer == IndustryAnswer("LendBridge", answer.as_of, False, 0, 0, False, 0, 0)
    [entry] = await _entries()
    assert entry.result == "UNKNOWN"
    assert entry.arguments == {"subjectLookup": lookup_hash(stranger), "purpose": PURPOSE}


async def test_a_custody_account_the_provider_refused_does_not_make_the_number_known():
    member, _phone = await create_member()
    id_number = new_id_number()
    await _custody(member, id_number, status="failed")

    answer = await _ask(id_number)

    assert answer.known is False


async def test_a_member_with_no_loans_is_known_and_owes_nothing():
    member, _phone = await create_member()
    id_number = new_id_number()
    await _custody(member, id_number)

    answer = await _ask(id_number)

    assert answer == IndustryAnswer("LendBridge", answer.as_of, True, 0, 0, False, 0, 0)


def _with_check_x() -> str:
    """A generated resident ID number whose check character is X."""
    while not (number := new_id_number()).endswith("X"):
        pass
    return number


async def test_the_number_is_read_as_the_account_opening_reads_it():
    member, _phone = await create_member()
    id_number = _with_check_x()
    await _custody(member, id_number)
    await _loan(member, LoanStatus.REPAYING, [_pending(await clock.today(), 50_000, 500, 150)])

    answer = await _ask(f"  {id_number[:-1]}x ")

    assert (answer.known, answer.outstanding_principal_fen) == (True, 50_000)


async def test_the_query_is_recorded_with_the_hash_and_purpose_never_the_number(book: Book):
    origin = QueryOrigin(client_ip="203.0.113.7", user_agent="partner-client/1.0", trace_id="t1")

    await answer_industry_query(
        actor=PARTNER, id_number=book.id_number, purpose=PURPOSE, origin=origin
    )

    [entry] = await _entries()
    assert (entry.actor_id, entry.actor_label, entry.operation, entry.result) == (
        None,
        "partner:test",
        "industryCreditQuery",
        "KNOWN",
    )
    assert entry.arguments == {"subjectLookup": lookup_hash(book.id_number), "purpose": PURPOSE}
    assert (entry.client_ip, entry.user_agent, entry.trace_id) == (
        "203.0.113.7",
        "partner-client/1.0",
        "t1",
    )
    await oplog.seal_all()
    assert (await OperationLogEntry.get(id=entry.id)).seq == 1  # chained like a mutation's
    assert (await oplog.verify()).valid
    assert book.id_number not in await dump_all_tables()


@pytest.mark.parametrize(
    ("id_number", "message"),
    [
        ("", "Enter the 18-character resident ID number"),
        ("11010119900101", "Enter the 18-character resident ID number"),
        ("11010119900101001Y", "Enter the 18-character resident ID number"),
        ("110101199001010010", "This ID number's check character is wrong"),
    ],
)
async def test_a_malformed_number_is_refused_and_nothing_is_recorded(
    book: Book, id_number: str, message: str
):
    with pytest.raises(InvalidInputError) as refused:
        await _ask(id_number)

    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "INVALID",
        "idNumber",
        message,
    )
    assert await _entries() == []


@pytest.mark.parametrize("purpose", ["", "   ", "x" * 65, "review\nof the application"])
async def test_a_missing_or_unreadable_purpose_is_refused_and_nothing_is_recorded(
    book: Book, purpose: str
):
    with pytest.raises(InvalidInputError) as refused:
        await _ask(book.id_number, purpose=purpose)

    assert (refused.value.code, refused.value.field) == ("INVALID", "purpose")
    assert await _entries() == []


async def test_a_purpose_of_64_characters_is_taken(book: Book):
    await _ask(book.id_number, purpose="p" * 64)

    [entry] = await _entries()
    assert entry.arguments["purpose"] == "p" * 64


async def _never_revoked(_token_id: str) -> bool:
    return False


@pytest.mark.parametrize("role", ["member", "admin", "credit", "auditor", "partner"])
async def test_members_and_staff_may_not_ask(book: Book, role: str):
    """Not even the staff who may see ID numbers in full (credit: pii:view), nor a login
    holding the partner role: only a partner's key asks (its allow-list, rate, quota)."""
    if role == "member":
        user, _phone = await create_member()
    else:
        user, _phone = await create_staff(role)
    actor = await permissions.load_actor(user.id, is_revoked=_never_revoked)
    assert actor is not None

    with pytest.raises(PermissionDeniedError) as refused:
        await _ask(book.id_number, actor=actor)

    assert refused.value.code == "FORBIDDEN"
    assert await _entries() == []


# --- the account opening writes the lookup ------------------------------------------------


async def test_opening_a_custody_account_keeps_the_lookup_of_the_id_number(app: object):
    member, _phone = await create_member()
    id_number = _with_check_x()

    account = await accounts.open_account(
        actor=Actor(user_id=member.id, kind="member"),
        real_name="Test Member",
        id_number=id_number[:-1] + "x",
    )

    assert account.status == "open"
    assert account.id_number_lookup == lookup_hash(id_number)
    answer = await _ask(id_number)
    assert (answer.known, answer.outstanding_loans) == (True, 0)


# --- GraphQL --------------------------------------------------------------------------------


def _context(actor: Actor | None) -> Context:
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [(b"user-agent", b"partner-client/1.0")],
            "client": ("203.0.113.9", 40000),
        }
    )
    context = Context(request=request, response=None, settings=get_settings())
    if actor is not None:
        context.use_actor(actor)
    return context


async def _execute(actor: Actor | None, variables: dict[str, Any]) -> Any:
    schema = build_schema(get_settings())
    return await schema.execute(
        DOCUMENT,
        variable_values=variables,
        context_value=_context(actor),
        operation_name="IndustryCredit",
    )


def _partner_on_the_wire() -> Actor:
    """The partner as a key authenticates it (services/partners): no user, a partner id."""
    return Actor(
        kind="partner",
        roles=frozenset({"partner"}),
        permissions=frozenset({Permission.PARTNER_QUERY}),
        label="partner:test",
        partner_id=1,
    )


async def test_the_persisted_document_answers_a_partner_in_money_strings(book: Book):
    result = await _execute(
        _partner_on_the_wire(), {"idNumber": book.id_number, "purpose": PURPOSE}
    )

    assert result.errors is None
    answer = result.data["industryCreditQuery"]
    as_of = datetime.fromisoformat(answer.pop("asOf"))
    assert as_of.date() == book.today
    assert answer == {
        "platform": "LendBridge",
        "known": True,
        "outstandingPrincipal": "10666.67",
        "outstandingLoans": 2,
        "overdue": True,
        "overdueAmount": "1518.89",
        "daysOverdue": OVERDUE_DAYS,
    }
    [entry] = await _entries()
    assert (entry.actor_label, entry.client_ip, entry.user_agent) == (
        "partner:test",
        "203.0.113.9",
        "partner-client/1.0",
    )
    assert entry.arguments == {"subjectLookup": lookup_hash(book.id_number), "purpose": PURPOSE}
    assert book.id_number not in json.dumps(result.data)


async def test_bad_input_through_the_schema_is_bad_user_input_and_records_nothing(book: Book):
    result = await _execute(
        _partner_on_the_wire(), {"idNumber": book.id_number[:-1] + "?", "purpose": PURPOSE}
    )

    assert result.data is None
    [error] = result.errors
    assert error.extensions["code"] == "BAD_USER_INPUT"
    assert error.extensions["field"] == "idNumber"
    assert await _entries() == []


async def test_without_a_caller_the_schema_answers_unauthenticated(book: Book):
    result = await _execute(None, {"idNumber": book.id_number, "purpose": PURPOSE})

    assert result.data is None
    assert [error.extensions["code"] for error in result.errors] == ["UNAUTHENTICATED"]
    assert await _entries() == []


@pytest.mark.parametrize("role", ["member", "admin", "credit"])
async def test_members_and_staff_are_forbidden_over_http(
    client: httpx.AsyncClient, book: Book, role: str
):
    if role == "member":
        _user, phone = await create_member()
    else:
        _user, phone = await create_staff(role)

    body = await gql(
        client,
        DOCUMENT,
        {"idNumber": book.id_number, "purpose": PURPOSE},
        token=await token_for(phone),
    )

    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]
    assert await _entries() == []


# --- migration 0026 -------------------------------------------------------------------------


async def test_accounts_opened_before_0026_get_the_lookup_of_their_number(tmp_path: Path):
    """On a database of its own, migrated in a process of its own: accounts written before
    the column get the lookup of their decrypted number, the platform's own none."""
    numbers = [new_id_number(), _with_check_x()]
    found = await run_on_own_database(
        "tests.credit.id_lookups_before_0026", "0026", tmp_path, *numbers
    )
    assert found == {
        "p:fee": None,
        "m:1": lookup_hash(numbers[0]),
        "m:2": lookup_hash(numbers[1]),
    }
