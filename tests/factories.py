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
