"""Platform parameters (M11.3): values changed at run time, with history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from schema.errors import error_codes, error_type


@strawberry.type(description="A platform parameter and the value in force.")
class PlatformParameter:
    name: str = strawberry.field(description="Dotted name, e.g. `credit.grades`.")
    description: str = strawberry.field(description="What it controls and its units.")
    value: JSON = strawberry.field(
        description="The value in force (JSON). Money in integer fen (names end in Fen), "
        'rates as decimal strings ("0.3600").'
    )
    default_value: JSON = strawberry.field(description="The value when none is stored.")
    updated_at: datetime | None = strawberry.field(description="Last changed (null: default).")
    updated_by: strawberry.ID | None = strawberry.field(description="Staff user id who changed it.")


@strawberry.type(description="One change of a platform parameter.")
class ParameterChange:
    name: str = strawberry.field(description="The parameter.")
    old_value: JSON = strawberry.field(description="Before.")
    new_value: JSON = strawberry.field(description="After.")
    actor_id: strawberry.ID | None = strawberry.field(description="Who changed it.")
    reason: str = strawberry.field(description="Why.")
    created_at: datetime = strawberry.field(description="When (business time, UTC).")


@strawberry.input(description="A new value for a parameter; checked against its type.")
class SetPlatformParameterInput:
    name: str = strawberry.field(description="The parameter's name.")
    value: JSON = strawberry.field(description="The whole new value, as JSON.")
    reason: str = strawberry.field(description="Why (5 to 255 characters), kept in history.")


@strawberry.type(description="The value is in force in every process from the next read.")
class PlatformParameterSet:
    parameter: PlatformParameter = strawberry.field(description="The parameter, as now.")


SetPlatformParameterErrorCode = error_codes(
    "SetPlatformParameter", ["INVALID", "NOT_FOUND"], "Why the value was not stored."
)
SetPlatformParameterError = error_type(
    "SetPlatformParameter", SetPlatformParameterErrorCode, "Nothing was changed."
)
SetPlatformParameterResult = Annotated[
    PlatformParameterSet | SetPlatformParameterError,
    strawberry.union("SetPlatformParameterResult"),
]
