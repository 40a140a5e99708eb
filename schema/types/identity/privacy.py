"""Full personal values for staff with `pii:view` (D4)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type


@strawberry.enum(description="Which personal value to show in full.")
class PersonalFieldEnum(Enum):
    PHONE = "PHONE"
    ID_NUMBER = "ID_NUMBER"
    BANK_CARDS = "BANK_CARDS"


@strawberry.input(description="Show a member's full personal value; the view is logged.")
class RevealPersonalDataInput:
    user_id: strawberry.ID = strawberry.field(description="Global ID of the user.")
    field: PersonalFieldEnum = strawberry.field(description="Which value.")
    reason: str = strawberry.field(description="Why it is needed (5 to 255 characters).")


@strawberry.type(description="The full values; this view is now in the reveal log.")
class PersonalDataRevealed:
    values: list[str] = strawberry.field(description="Full values (several for cards).")


RevealPersonalDataErrorCode = error_codes(
    "RevealPersonalData", ["INVALID", "NOT_FOUND"], "Why nothing was shown."
)
RevealPersonalDataError = error_type(
    "RevealPersonalData", RevealPersonalDataErrorCode, "Nothing was shown or logged."
)
RevealPersonalDataResult = Annotated[
    PersonalDataRevealed | RevealPersonalDataError, strawberry.union("RevealPersonalDataResult")
]
