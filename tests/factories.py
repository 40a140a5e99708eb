"""Test helpers: create users through the services, call the API like a client."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import httpx
from tortoise import Tortoise, connections

from models.credit import VerificationStatus, VerificationSubmission
from models.members import User
from services.credit.catalogue import FieldFormat, FieldSpec, get_kind
from services.identity import auth
from services.identity.permissions import ANONYMOUS
from services.kit.security import encrypt_pii
from services.platform import outbox
from simulation.people import CLEAN_REPORTS as CLEAN_REPORTS
from simulation.people import approve, sample_value

PASSWORD = "Secret123"
_phones = itertools.count(1)


_id_serials = itertools.count(1)


def new_id_number() -> str:
    """A fresh resident ID number with a valid check character (generated, not real)."""
    body = f"110101199001{next(_id_serials):05d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


async def dump_all_tables() -> str:
    """Every row of every table, raw (in a stable order): what to search for personal
    data that must never be stored in clear."""
    connection = connections.get("default")
    rows = []
    for model in Tortoise.apps["models"].values():
        rows += await connection.execute_query_dict(
            f"SELECT * FROM {model._meta.db_table} ORDER BY 1"
        )
    return "\n".join(repr(row) for row in rows)


def new_phone() -> str:
    """A fresh, valid mainland mobile number (generated, never a real person's)."""
    return f"1770000{next(_phones):04d}"


async def create_member(
    *, phone: str | None = None, password: str = PASSWORD, name: str = "Test Member"
) -> tuple[User, str]:
    phone = phone or new_phone()
    user = await auth.create_member_without_code(phone=phone, password=password, display_name=name)
    await outbox.dispatch_once()
    return user, phone


async def create_staff(
    *roles: str, phone: str | None = None, password: str = PASSWORD
) -> tuple[User, str]:
    phone = phone or new_phone()
    user = await auth.create_staff_user(
        actor=ANONYMOUS,
        phone=phone,
        password=password,
        display_name=f"Staff {'/'.join(roles)}",
        roles=list(roles),
    )
    await outbox.dispatch_once()
    return user, phone


async def token_for(user_phone: str, password: str = PASSWORD) -> str:
    pair = await auth.login(phone=user_phone, password=password)
    return pair.access_token


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    expect_status: int = 200,
) -> dict[str, Any]:
    """POST a GraphQL request; assert the HTTP status (never 500) and return the JSON."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == expect_status, response.text
    body = response.json()
    assert "INTERNAL_SERVER_ERROR" not in error_codes(body), body
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


FUNDED_CARD = "6222020200112233446"  # Luhn-valid, generated


async def create_funded_member(
    amount: int = 0, *, name: str = "Funded Member"
) -> tuple[User, str, int]:
    """A member with an open custody account, a bound card and `amount` fen deposited by
    auto-debit, all through the services and the provider (needs the `app` fixture, which
    starts the sandbox provider). Returns the user, their phone and the card id."""
    from services.identity.permissions import Actor
    from services.money import accounts
    from services.payments.provider import DepositChannel

    user, phone = await create_member(name=name)
    actor = Actor(user_id=user.id, kind="member")
    custody = await accounts.open_account(actor=actor, real_name=name, id_number=new_id_number())
    assert custody.status == "open", custody.status
    card = await accounts.bind_card(actor=actor, card_number=FUNDED_CARD)
    assert card.status == "bound", card.failure_reason
    if amount:
        deposit = await accounts.deposit(
            actor=actor,
            amount=amount,
            channel=DepositChannel.AUTO_DEBIT,
            card_id=card.id,
            idempotency_key=f"funding-{user.id}-0001",
        )
        assert deposit.status == "PAID", deposit.status
    return user, phone, card.id


async def withdraw_confirmed(user_id: int, card_id: int, amount: int, speed: str = "T0") -> None:
    """Ask for a withdrawal and confirm it with the SMS code just sent, through the
    services (needs the `app` fixture)."""
    import re
    import uuid

    from services.identity.permissions import Actor
    from services.money import withdrawals
    from services.operations import confirmation
    from services.payments.provider import WithdrawSpeed
    from services.platform import notices

    actor = Actor(user_id=user_id, kind="member")
    operation = await withdrawals.withdraw(
        actor=actor,
        amount=amount,
        speed=WithdrawSpeed(speed),
        card_id=card_id,
        idempotency_key=f"withdraw-{uuid.uuid4().hex[:12]}",
    )
    body = (await notices.latest_messages(limit=1))[0].body
    found = re.search(r"\b(\d{6})\b", body)
    assert found is not None, body
    await confirmation.confirm_operation(actor=actor, operation_id=str(operation.id), code=found[1])


# --- credit -----------------------------------------------------------------------------


def _sample_value(spec: FieldSpec, id_number: str) -> str:
    """The simulation's sample values, with a real-looking name and a fresh phone."""
    match spec.format:
        case FieldFormat.NAME:
            return "Zhou Xiaoming"
        case FieldFormat.PHONE:
            return new_phone()
        case _:
            return sample_value(spec, id_number)


def sample_fields(kind: str, id_number: str) -> dict[str, str]:
    """Valid values for every field of a verification kind."""
    spec = get_kind(kind)
    assert spec is not None, kind
    return {field.name: _sample_value(field, id_number) for field in spec.fields}


def sample_files(kind: str) -> list[tuple[str, bytes, str]]:
    """The fewest files the kind accepts, with the right magic bytes: (name, bytes, type)."""
    spec = get_kind(kind)
    assert spec is not None, kind
    if "image/png" in spec.file_types:
        made = ("page.png", b"\x89PNG\r\n\x1a\n" + kind.encode() * 40, "image/png")
    else:
        made = ("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + kind.encode() * 40, "video/mp4")
    return [made] * spec.min_files


async def approve_verifications(
    user_id: int, kinds: Iterable[str], *, id_number: str | None = None
) -> str:
    """Approved submissions of `kinds` written straight to the database (for service tests
    that need a verified member; the review path has its own API tests). Returns the ID
    number on the member's ID card."""
    id_number = id_number or new_id_number()
    await approve(user_id, kinds, id_number, sample=_sample_value)
    return id_number


def lending_kinds() -> list[str]:
    """The verification kinds the catalogue requires for lending, read when called (so a
    test that changes the catalogue sees its change): give them to any test lender with
    `approve_verifications`."""
    from services.credit import eligibility

    return [kind.code for kind in eligibility.required_for_lending()]


class ScriptedSources:
    """The local outside sources, with reports scripted per ID number at any time:
    `scripted[id_number][source] = report`; everyone else gets the generated report."""

    name = "local"

    def __init__(self) -> None:
        self.scripted: dict[str, dict[str, Any]] = {}

    async def fetch(self, source: Any, subject: Any, as_of: Any) -> dict[str, Any]:
        from services.credit.external import LocalExternalSources

        adapter = LocalExternalSources(overrides=self.scripted)
        return await adapter.fetch(source, subject, as_of)


# --- contracts ----------------------------------------------------------------------------

LENDER_AMOUNTS = (333_333, 333_333, 333_334)  # ¥3,333.33 + ¥3,333.33 + ¥3,333.34
LENDER_NAMES = ("王*", "李**", "赵**")
BORROWER_NAME = "周**"


def _masked_id() -> str:
    number = new_id_number()
    return f"{number[:3]}***********{number[-4:]}"


async def full_loan_data(
    *, loan_id: int = 1, start: Any = None, borrower: User | None = None
) -> Any:
    """A full loan of ¥10,000.00 at 12 % over 12 months, equal installments, from three
    lenders (members created here) to `borrower` (a new member unless given), with its
    real schedule. Returns LoanContractData."""
    from datetime import date
    from decimal import Decimal

    from models.contracts import PartyRole
    from services.contracts import ContractParty, LoanContractData, schedule_lines
    from services.loans.schedule import LoanTerms, RepaymentMethod, build_schedule

    start = start or date(2026, 11, 29)
    if borrower is None:
        borrower, _phone = await create_member(name="Borrower")
    lenders = []
    for name, amount in zip(LENDER_NAMES, LENDER_AMOUNTS, strict=True):
        user, _phone = await create_member(name="Lender")
        lenders.append(ContractParty(PartyRole.LENDER, user.id, name, _masked_id(), amount))
    terms = LoanTerms(1_000_000, Decimal("0.12"), 12, RepaymentMethod.EQUAL_INSTALLMENT)
    return LoanContractData(
        loan_ref=f"L{loan_id:08d}",
        loan_id=loan_id,
        amount_fen=1_000_000,
        annual_rate=Decimal("0.12"),
        term_months=12,
        method="EQUAL_INSTALLMENT",
        purpose="经营周转 working capital",
        borrower=ContractParty(PartyRole.BORROWER, borrower.id, BORROWER_NAME, _masked_id()),
        lenders=lenders,
        schedule=schedule_lines(build_schedule(terms, start)),
        fees="无 none",
        start_date=start,
    )


def pdf_text(document: bytes) -> str:
    """The text of every page, as a PDF reader extracts it."""
    import io

    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)


class CapturingSmtpHandler:
    """An aiosmtpd handler keeping every message it accepts; it answers 451 (try again
    later) to the first `refuse` messages."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.messages: list[Any] = []  # email.message.EmailMessage

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import email
        import email.policy

        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    """A real local SMTP server (aiosmtpd) on a free port, for the duration of a `with`,
    with the platform's mailer pointed at it."""

    def __init__(self, refuse: int = 0) -> None:
        self.handler = CapturingSmtpHandler(refuse)
        self.port = free_port()

    def __enter__(self) -> CapturingSmtpHandler:
        from aiosmtpd.controller import Controller

        from services.platform import mailer

        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        mailer.set_mailer(mailer.SmtpMailer(host="127.0.0.1", port=self.port, timeout=5))
        return self.handler

    def __exit__(self, *exc: object) -> None:
        from services.platform import mailer

        mailer.set_mailer(None)
        self.controller.stop()


async def approve_email(user_id: int, address: str) -> None:
    """An approved EMAIL verification with this address (written straight to the DB)."""
    await VerificationSubmission.create(
        user_id=user_id,
        kind="EMAIL",
        status=VerificationStatus.APPROVED,
        field_values={"email": {"cipher": encrypt_pii(address), "masked": "***"}},
    )
