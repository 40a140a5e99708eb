"""Personal data shown in full (D4): only to staff holding `pii:view`, with a reason,
and every view recorded (who, whose, which value, why, from where, when).

Everywhere else the platform answers with masked values only.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise.transactions import in_transaction

from models.members import User
from models.payments import BankCard, ProviderAccount
from models.system import PersonalDataReveal
from services.errors import InvalidInputError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.kit.security import decrypt_pii


class PersonalField(StrEnum):
    PHONE = "PHONE"
    ID_NUMBER = "ID_NUMBER"
    BANK_CARDS = "BANK_CARDS"


async def reveal(
    *, actor: Actor, user_id: int, field: PersonalField, reason: str, client_ip: str
) -> list[str]:
    """The full values of one personal field of a user, logged before they are returned.

    Raises InvalidInputError (reason shorter than 5 characters), NotFoundError (no such
    user, or nothing stored for that field).
    """
    if not actor.can(Permission.PII_VIEW):  # gate 1 checks it too: defence in depth
        raise NotFoundError("No such user", field="userId")
    why = (reason or "").strip()
    if not 5 <= len(why) <= 255:
        raise InvalidInputError(
            "Say why you need the full value (5 to 255 characters)", field="reason"
        )
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFoundError("No such user", field="userId")
    if field == PersonalField.PHONE:
        values = [decrypt_pii(user.phone_cipher)]
    elif field == PersonalField.ID_NUMBER:
        account = await ProviderAccount.get_or_none(owner_code=f"m:{user_id}")
        values = (
            [decrypt_pii(account.id_number_cipher)] if account and account.id_number_cipher else []
        )
    else:
        cards = await BankCard.filter(user_id=user_id).exclude(status="failed").order_by("id")
        values = [decrypt_pii(card.card_cipher) for card in cards]
    if not values:
        raise NotFoundError("Nothing of that kind is stored for this user", field="field")
    assert actor.user_id is not None
    async with in_transaction():
        await PersonalDataReveal.create(
            actor_id=actor.user_id,
            subject_user_id=user_id,
            field_name=str(field),
            reason=why,
            client_ip=client_ip[:64],
        )
    return values
