"""M1.1 through HTTP: register → login → me → refresh → logout, and what goes wrong."""

from __future__ import annotations

import re

import pytest

from models.access import RefreshToken
from models.members import User
from models.messaging import OutgoingMessage, SmsCode
from tests.factories import PASSWORD, create_member, error_codes, gql, new_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")

REQUEST_CODE = """
mutation ($phone: String!, $purpose: SmsCodePurpose!) {
  requestSmsCode(input: {phone: $phone, purpose: $purpose}) {
    __typename
    ... on SmsCodeSent { phoneMasked expiresAt }
    ... on RequestSmsCodeError { code field message }
  }
}"""
REGISTER = """
mutation ($input: RegisterInput!) {
  register(input: $input) {
    __typename
    ... on AuthPayload { accessToken refreshToken user { id displayName phoneMasked kind } }
    ... on RegisterError { code field message }
  }
}"""
LOGIN = """
mutation ($phone: String!, $password: String!) {
  login(input: {phone: $phone, password: $password}) {
    __typename
    ... on AuthPayload { accessToken refreshToken }
    ... on LoginError { code message }
  }
}"""
REFRESH = """
mutation ($token: String!) {
  refreshToken(input: {refreshToken: $token}) {
    __typename
    ... on AuthPayload { accessToken refreshToken }
    ... on RefreshTokenError { code }
  }
}"""
ME = "{ me { roles permissions user { phoneMasked displayName kind status } } }"
LOGOUT = "mutation ($r: String) { logout(input: {refreshToken: $r}) { ok } }"
DEV_OUTBOX = "{ devOutbox(first: 5) { channel recipientMasked body } }"


async def _code_from_outbox(client, phone: str) -> str:
    body = await gql(client, DEV_OUTBOX)
    masked = f"{phone[:3]}****{phone[-4:]}"
    for message in body["data"]["devOutbox"]:
        if message["recipientMasked"] == masked:
            return re.search(r"\b(\d{6})\b", message["body"]).group(1)
    raise AssertionError("no SMS for this phone")


async def test_register_login_me_refresh_logout(client):
    phone = new_phone()
    sent = await gql(client, REQUEST_CODE, {"phone": phone, "purpose": "REGISTER"})
    assert sent["data"]["requestSmsCode"]["__typename"] == "SmsCodeSent"
    assert sent["data"]["requestSmsCode"]["phoneMasked"] == f"{phone[:3]}****{phone[-4:]}"
    code = await _code_from_outbox(client, phone)

    registered = await gql(
        client,
        REGISTER,
        {"input": {"phone": phone, "password": PASSWORD, "smsCode": code, "displayName": "Li Lei"}},
    )
    payload = registered["data"]["register"]
    assert payload["__typename"] == "AuthPayload", payload
    assert payload["user"]["displayName"] == "Li Lei"
    assert payload["user"]["kind"] == "MEMBER"
    assert phone not in str(registered)  # the full number is never sent back

    logged_in = (await gql(client, LOGIN, {"phone": phone, "password": PASSWORD}))["data"]["login"]
    assert logged_in["__typename"] == "AuthPayload"

    me = await gql(client, ME, token=logged_in["accessToken"])
    assert me["data"]["me"]["roles"] == ["member"]
    assert "account:use" in me["data"]["me"]["permissions"]
    assert me["data"]["me"]["user"]["phoneMasked"] == f"{phone[:3]}****{phone[-4:]}"

    rotated = (await gql(client, REFRESH, {"token": logged_in["refreshToken"]}))["data"][
        "refreshToken"
    ]
    assert rotated["__typename"] == "AuthPayload"
    assert rotated["refreshToken"] != logged_in["refreshToken"]
    me_again = await gql(client, ME, token=rotated["accessToken"])
    assert me_again["data"]["me"]["user"]["displayName"] == "Li Lei"

    out = await gql(client, LOGOUT, {"r": rotated["refreshToken"]}, token=rotated["accessToken"])
    assert out["data"]["logout"]["ok"] is True
    after = await gql(client, ME, token=rotated["accessToken"])
    assert error_codes(after) == ["UNAUTHENTICATED"]
    again = (await gql(client, REFRESH, {"token": rotated["refreshToken"]}))["data"]["refreshToken"]
    assert again == {"__typename": "RefreshTokenError", "code": "INVALID_TOKEN"}


async def test_reusing_a_refresh_token_revokes_the_whole_family(client):
    _user, phone = await create_member()
    first = (await gql(client, LOGIN, {"phone": phone, "password": PASSWORD}))["data"]["login"]
    second = (await gql(client, REFRESH, {"token": first["refreshToken"]}))["data"]["refreshToken"]
    assert second["__typename"] == "AuthPayload"

    replay = (await gql(client, REFRESH, {"token": first["refreshToken"]}))["data"]["refreshToken"]
    assert replay == {"__typename": "RefreshTokenError", "code": "TOKEN_REUSED"}
    # The legitimate newest token is revoked too: the family is gone.
    newest = (await gql(client, REFRESH, {"token": second["refreshToken"]}))["data"]["refreshToken"]
    assert newest == {"__typename": "RefreshTokenError", "code": "INVALID_TOKEN"}
    assert await RefreshToken.filter(revoked_at__isnull=True).count() == 0


async def test_five_wrong_passwords_lock_login(client):
    _user, phone = await create_member()
    for _ in range(5):
        wrong = (await gql(client, LOGIN, {"phone": phone, "password": "Wrong1234"}))["data"][
            "login"
        ]
        assert wrong["code"] == "INVALID_CREDENTIALS"
    locked = (await gql(client, LOGIN, {"phone": phone, "password": PASSWORD}))["data"]["login"]
    assert locked == {
        "__typename": "LoginError",
        "code": "LOCKED_OUT",
        "message": locked["message"],
    }


async def test_unknown_phone_and_wrong_password_look_the_same(client):
    _user, phone = await create_member()
    unknown = (await gql(client, LOGIN, {"phone": new_phone(), "password": PASSWORD}))["data"][
        "login"
    ]
    wrong = (await gql(client, LOGIN, {"phone": phone, "password": "Wrong1234"}))["data"]["login"]
    assert unknown == wrong


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("phone", "12345", "INVALID"),
        ("phone", "+1 555 0100", "INVALID"),
        ("password", "short1", "INVALID"),
        ("password", "onlyletters", "INVALID"),
        ("smsCode", "000000", "CODE_INVALID"),
    ],
)
async def test_bad_registration_input_is_a_typed_error_and_writes_nothing(
    client, field, value, code
):
    phone = new_phone()
    await gql(client, REQUEST_CODE, {"phone": phone, "purpose": "REGISTER"})
    real_code = await _code_from_outbox(client, phone)
    data = {"phone": phone, "password": PASSWORD, "smsCode": real_code}
    if value == "000000" and real_code == "000000":
        value = "111111"
    data[field] = value
    users_before = await User.all().count()

    result = (await gql(client, REGISTER, {"input": data}))["data"]["register"]

    assert result["__typename"] == "RegisterError"
    assert result["code"] == code
    assert result["field"] == field
    assert await User.all().count() == users_before


async def test_sms_code_is_single_use_and_limited_to_five_attempts(client):
    phone = new_phone()
    await gql(client, REQUEST_CODE, {"phone": phone, "purpose": "REGISTER"})
    code = await _code_from_outbox(client, phone)
    wrong = "000000" if code != "000000" else "111111"
    register = {"phone": phone, "password": PASSWORD}
    for attempt in range(5):
        result = (await gql(client, REGISTER, {"input": {**register, "smsCode": wrong}}))["data"][
            "register"
        ]
        assert result["code"] == "CODE_INVALID", attempt
    sixth = (await gql(client, REGISTER, {"input": {**register, "smsCode": code}}))["data"][
        "register"
    ]
    assert sixth["code"] == "CODE_ATTEMPTS_EXCEEDED"
    assert not await User.exists()


async def test_expired_code_is_refused(client):
    phone = new_phone()
    await gql(client, REQUEST_CODE, {"phone": phone, "purpose": "REGISTER"})
    code = await _code_from_outbox(client, phone)
    row = await SmsCode.get()
    # Five minutes and one second later.
    from datetime import timedelta

    row.expires_at = row.expires_at - timedelta(minutes=5, seconds=1)
    await row.save(update_fields=["expires_at"])
    result = await gql(
        client, REGISTER, {"input": {"phone": phone, "password": PASSWORD, "smsCode": code}}
    )
    assert result["data"]["register"]["code"] == "CODE_EXPIRED"
    assert not await User.exists()


async def test_code_for_a_registered_phone_is_refused(client):
    _user, phone = await create_member()
    result = (await gql(client, REQUEST_CODE, {"phone": phone, "purpose": "REGISTER"}))["data"]
    assert result["requestSmsCode"]["code"] == "PHONE_TAKEN"
    assert not await OutgoingMessage.filter(body__contains="code").exists()
