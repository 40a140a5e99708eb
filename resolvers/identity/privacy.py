"""Showing a full personal value to permitted staff (D4)."""

from __future__ import annotations

from strawberry.types import Info

from resolvers.identity.access import decode_user_id
from schema.types.identity import privacy as t
from services import privacy
from services.errors import DomainError


async def reveal_personal_data(
    info: Info, input: t.RevealPersonalDataInput
) -> t.RevealPersonalDataResult:
    try:
        values = await privacy.reveal(
            actor=await info.context.get_actor(),
            user_id=decode_user_id(input.user_id),
            field=privacy.PersonalField(input.field.value),
            reason=input.reason,
            client_ip=info.context.client_ip,
        )
    except DomainError as error:
        return t.RevealPersonalDataError.from_domain(error)
    return t.PersonalDataRevealed(values=values)
