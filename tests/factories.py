"""Test helpers: create users through the services, call the API like a client."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from models.members import User
from services import auth, outbox
from services.permissions import ANONYMOUS

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
