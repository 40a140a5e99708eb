"""Root fields: platform parameters (M11.3)."""

from __future__ import annotations

import strawberry

from resolvers.platform import parameters as r
from schema.directives import auth
from schema.types.platform import parameters as t
from services.identity.permissions import Permission


@strawberry.type
class ParametersQuery:
    platform_parameters: list[t.PlatformParameter] = strawberry.field(
        resolver=r.platform_parameters,
        extensions=auth(Permission.PARAMETERS_MANAGE),
        description="Every platform parameter with the value in force.",
    )
    parameter_history: list[t.ParameterChange] = strawberry.field(
        resolver=r.parameter_history,
        extensions=auth(Permission.PARAMETERS_MANAGE),
        description="Changes of one parameter (or all), newest first.",
    )


@strawberry.type
class ParametersMutation:
    set_platform_parameter: t.SetPlatformParameterResult = strawberry.mutation(
        resolver=r.set_platform_parameter,
        extensions=auth(Permission.PARAMETERS_MANAGE),
        description="Change a platform parameter; in force in every process at once.",
    )
