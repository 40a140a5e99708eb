"""Listing, changing and the history of platform parameters."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from schema.types.platform import parameters as t
from services.errors import DomainError
from services.platform import parameters


def _parameter(view: parameters.ParameterView) -> t.PlatformParameter:
    return t.PlatformParameter(
        name=view.name,
        description=view.description,
        value=JSON(view.value),
        default_value=JSON(view.default),
        updated_at=view.updated_at,
        updated_by=strawberry.ID(str(view.updated_by)) if view.updated_by else None,
    )


async def platform_parameters(info: Info) -> list[t.PlatformParameter]:
    return [_parameter(view) for view in await parameters.list_values()]


async def parameter_history(info: Info, name: str | None = None) -> list[t.ParameterChange]:
    return [
        t.ParameterChange(
            name=row.name,
            old_value=JSON(row.old_value),
            new_value=JSON(row.new_value),
            actor_id=strawberry.ID(str(row.actor_id)) if row.actor_id else None,
            reason=row.reason,
            created_at=row.created_at,
        )
        for row in await parameters.history(name)
    ]


async def set_platform_parameter(
    info: Info, input: t.SetPlatformParameterInput
) -> t.SetPlatformParameterResult:
    try:
        view = await parameters.set_value(
            await info.context.get_actor(), input.name, input.value, input.reason
        )
    except DomainError as error:
        return t.SetPlatformParameterError.from_domain(error)
    return t.PlatformParameterSet(parameter=_parameter(view))
