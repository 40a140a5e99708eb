"""Test helpers: create users through the services, call the API like a client."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import httpx

from models.credit import VerificationStatus, VerificationSubmission
from models.members import User
from services import auth, outbox
from services.credit.catalogue import FieldFormat, FieldSpec, get_kind
from services.permissions import ANONYMOUS
from services.security import encrypt_pii

PASSWORD = "Secret123"
_phones = itertools.count(1)


_id_serials = itertools.count(1)


def new_id_number() -> str:
    """A fresh resident ID number with a valid check character (generated, not real)."""
    body = f"110101199001{next(_id_serials):05d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


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
    from services import accounts
    from services.payments.provider import DepositChannel
    from services.permissions import Actor

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

    from services import accounts, notices
    from services.payments.provider import WithdrawSpeed
    from services.permissions import Actor

    actor = Actor(user_id=user_id, kind="member")
    operation = await accounts.withdraw(
        actor=actor,
        amount=amount,
        speed=WithdrawSpeed(speed),
        card_id=card_id,
        idempotency_key=f"withdraw-{uuid.uuid4().hex[:12]}",
    )
    body = (await notices.latest_messages(limit=1))[0].body
    found = re.search(r"\b(\d{6})\b", body)
    assert found is not None, body
    await accounts.confirm_operation(actor=actor, operation_id=str(operation.id), code=found[1])


# --- credit -----------------------------------------------------------------------------

CLEAN_REPORTS: dict[str, dict[str, Any]] = {
    "credit_bureau": {
        "overdue_items": [],
        "outstanding_debt_fen": 0,
        "monthly_debt_payment_fen": 0,
    },
    "court": {"cases": []},
    "reputation": {"negative_hits": []},
    "industry_sharing": {"platforms": [], "total_outstanding_fen": 0},
}


def _sample_value(spec: FieldSpec, id_number: str) -> str:
    match spec.format:
        case FieldFormat.NAME:
            return "Zhou Xiaoming"
        case FieldFormat.ID_NUMBER:
            return id_number
        case FieldFormat.PHONE:
            return new_phone()
        case FieldFormat.EMAIL:
            return "member@example.com"
        case FieldFormat.NUMBER:
            return "AB12345678"
        case FieldFormat.DATE:
            return "2030-01-01"
        case FieldFormat.CONSENT:
            return "yes"
        case _ if spec.format.value == "MONEY":
            return "12000.00"
        case _:
            return "sample text"


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
    for kind in kinds:
        values = {}
        spec = get_kind(kind)
        assert spec is not None, kind
        for field_spec, value in zip(
            spec.fields, sample_fields(kind, id_number).values(), strict=True
        ):
            if field_spec.personal:
                values[field_spec.name] = {"cipher": encrypt_pii(value), "masked": "***"}
            else:
                values[field_spec.name] = {"value": value}
        await VerificationSubmission.create(
            user_id=user_id, kind=kind, status=VerificationStatus.APPROVED, field_values=values
        )
    return id_number


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
