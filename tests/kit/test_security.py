"""Passwords and personal data at rest; SMS codes are single use, only the newest of a
phone, purpose and binding works, and at most one is sent a minute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tortoise import connections

from models.messaging import OutgoingMessage, SmsCode, SmsPurpose
from services.errors import DomainError
from services.identity import sms_codes
from services.kit import security
from services.kit.security import decrypt_pii
from services.kit.settings import Environment, Settings, get_settings
from services.platform.clock import system_now
from tests.factories import create_member, new_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _last_code() -> str:
    body = (await OutgoingMessage.all().order_by("-id").first()).body
    return next(
        word for word in body.replace(".", " ").split() if word.isdigit() and len(word) == 6
    )


async def test_passwords_are_argon2id_at_owasp_minimum_and_phones_are_not_stored_in_clear(
    monkeypatch,
):
    # The platform's own cost (the suite runs at the "test" cost: conftest.py).
    owasp = get_settings().model_copy(update={"password_hash_cost": "owasp"})
    monkeypatch.setattr(security, "get_settings", lambda: owasp)
    user, phone = await create_member(password="Secret123")
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await security.verify_password("Secret123", user.password_hash)
    assert not await security.verify_password("Secret124", user.password_hash)
    assert not security.password_needs_rehash(user.password_hash)
    # A hash made at the test cost is upgraded at the next login under the OWASP cost.
    monkeypatch.setattr(
        security, "get_settings", lambda: owasp.model_copy(update={"password_hash_cost": "test"})
    )
    cheap = await security.hash_password("Secret123")
    assert cheap.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    monkeypatch.setattr(security, "get_settings", lambda: owasp)
    assert security.password_needs_rehash(cheap)
    rows = await connections.get("default").execute_query_dict("SELECT * FROM users")
    assert phone not in str(rows)
    assert "Secret123" not in str(rows)
    assert decrypt_pii(user.phone_cipher) == phone
    assert user.phone_masked == f"{phone[:3]}****{phone[-4:]}"


async def test_the_test_cost_applies_in_the_test_environment_only():
    # (prod refuses the development secrets, so its case is the same property on a copy)
    dev = Settings(app_env=Environment.DEV, password_hash_cost="test")
    assert dev.hash_cost == "owasp"
    prod = dev.model_copy(update={"app_env": Environment.PROD})
    assert prod.hash_cost == "owasp"
    assert Settings(app_env=Environment.TEST, password_hash_cost="test").hash_cost == "test"
    assert Settings.model_fields["password_hash_cost"].default == "owasp"


async def test_an_sms_code_works_once():
    phone = new_phone()
    await sms_codes.issue(phone=phone, purpose=SmsPurpose.REGISTER)
    body = (await OutgoingMessage.all().order_by("-id").first()).body
    code = next(
        word for word in body.replace(".", " ").split() if word.isdigit() and len(word) == 6
    )

    await sms_codes.verify(phone=phone, purpose=SmsPurpose.REGISTER, code=code)
    with pytest.raises(DomainError) as second:
        await sms_codes.verify(phone=phone, purpose=SmsPurpose.REGISTER, code=code)
    assert second.value.code == "CODE_INVALID"


async def test_a_code_bound_to_one_operation_does_not_confirm_another():
    _user, phone = await create_member()
    await sms_codes.issue(phone=phone, purpose=SmsPurpose.CONFIRM_OPERATION, binding="op:1:100.00")
    body = (await OutgoingMessage.all().order_by("-id").first()).body
    code = next(
        word for word in body.replace(".", " ").split() if word.isdigit() and len(word) == 6
    )
    with pytest.raises(DomainError) as wrong:
        await sms_codes.verify(
            phone=phone, purpose=SmsPurpose.CONFIRM_OPERATION, code=code, binding="op:2:100.00"
        )
    assert wrong.value.code == "CODE_INVALID"
    await sms_codes.verify(
        phone=phone, purpose=SmsPurpose.CONFIRM_OPERATION, code=code, binding="op:1:100.00"
    )


async def _a_minute_passes() -> None:
    """Every code was sent 61 seconds ago: the resend throttle lets the next one go."""
    await SmsCode.all().update(created_at=system_now() - timedelta(seconds=61))


async def _verify(phone: str, code: str, binding: str) -> None:
    await sms_codes.verify(
        phone=phone, purpose=SmsPurpose.CONFIRM_OPERATION, code=code, binding=binding
    )


async def _refused(phone: str, code: str, binding: str) -> DomainError:
    with pytest.raises(DomainError) as refused:
        await _verify(phone, code, binding)
    return refused.value


@pytest.mark.usefixtures("resend_throttle")
async def test_a_new_code_voids_the_older_one_and_comes_once_a_minute():
    _user, phone = await create_member()
    confirm = SmsPurpose.CONFIRM_OPERATION
    await sms_codes.issue(phone=phone, purpose=confirm, binding="op:1:100.00")
    old = await _last_code()
    with pytest.raises(DomainError) as too_soon:
        await sms_codes.issue(phone=phone, purpose=confirm, binding="op:1:100.00")
    assert too_soon.value.code == "TOO_SOON"
    assert await OutgoingMessage.all().count() == 1
    # Another binding (another operation) is not held back by this one's code.
    await sms_codes.issue(phone=phone, purpose=confirm, binding="op:2:100.00")
    other = await _last_code()

    await _a_minute_passes()
    await sms_codes.issue(phone=phone, purpose=confirm, binding="op:1:100.00")
    new = await _last_code()

    assert (await _refused(phone, old, "op:1:100.00")).code == "CODE_INVALID"
    await _verify(phone, new, "op:1:100.00")
    await _verify(phone, other, "op:2:100.00")
    assert not await SmsCode.filter(consumed_at__isnull=True).exists()


@pytest.mark.usefixtures("resend_throttle")
async def test_a_replacing_code_keeps_the_wrong_attempts_only_when_asked_to():
    _user, phone = await create_member()
    binding = "op:1:100.00"
    await sms_codes.issue(phone=phone, purpose=SmsPurpose.CONFIRM_OPERATION, binding=binding)
    wrong = "000000" if await _last_code() != "000000" else "111111"
    for _attempt in range(4):
        await _refused(phone, wrong, binding)
    await _a_minute_passes()
    await sms_codes.issue(
        phone=phone, purpose=SmsPurpose.CONFIRM_OPERATION, binding=binding, keep_attempts=True
    )
    new = await _last_code()
    last = await _refused(phone, "000000" if new != "000000" else "111111", binding)
    assert last.message == "Wrong code (0 attempts left)"
    assert (await _refused(phone, new, binding)).code == "CODE_ATTEMPTS_EXCEEDED"

    # A sign-in code starts afresh: earlier wrong attempts do not lock the phone out.
    fresh = new_phone()
    await sms_codes.issue(phone=fresh, purpose=SmsPurpose.REGISTER)
    for _attempt in range(5):
        with pytest.raises(DomainError):
            await sms_codes.verify(phone=fresh, purpose=SmsPurpose.REGISTER, code=wrong)
    await _a_minute_passes()
    await sms_codes.issue(phone=fresh, purpose=SmsPurpose.REGISTER)
    await sms_codes.verify(phone=fresh, purpose=SmsPurpose.REGISTER, code=await _last_code())


async def test_a_new_code_is_never_the_one_it_replaces(monkeypatch):
    """Even when the draw repeats the old code, the new one differs: typing the old code
    after a resend is always refused."""
    _user, phone = await create_member()
    draws = iter([123456, 123456, 654321])
    monkeypatch.setattr(sms_codes.secrets, "randbelow", lambda _n: next(draws))
    first = await sms_codes.issue(phone=phone, purpose=SmsPurpose.LOGIN)
    await SmsCode.filter(id=first.id).update(created_at=system_now() - timedelta(minutes=2))
    second = await sms_codes.issue(phone=phone, purpose=SmsPurpose.LOGIN)
    assert second.id != first.id
    with pytest.raises(DomainError):
        await sms_codes.verify(phone=phone, purpose=SmsPurpose.LOGIN, code="123456")
    await sms_codes.verify(phone=phone, purpose=SmsPurpose.LOGIN, code="654321")
