"""Passwords and personal data at rest; SMS codes are single use."""

from __future__ import annotations

import pytest
from tortoise import connections

from models.messaging import OutgoingMessage, SmsPurpose
from services import sms_codes
from services.errors import DomainError
from services.security import decrypt_pii
from tests.factories import create_member, new_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _last_code() -> str:
    body = (await OutgoingMessage.all().order_by("-id").first()).body
    return next(
        word for word in body.replace(".", " ").split() if word.isdigit() and len(word) == 6
    )


async def test_passwords_are_argon2id_at_owasp_minimum_and_phones_are_not_stored_in_clear():
    user, phone = await create_member(password="Secret123")
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    rows = await connections.get("default").execute_query_dict("SELECT * FROM users")
    assert phone not in str(rows)
    assert "Secret123" not in str(rows)
    assert decrypt_pii(user.phone_cipher) == phone
    assert user.phone_masked == f"{phone[:3]}****{phone[-4:]}"


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
