"""`node(id:)`: any object by global ID, if the caller may see it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from strawberry import relay
from strawberry.types import Info

from schema.errors import BadUserInputError
from schema.types.identity.members import UserNode
from services.errors import NotFoundError
from services.identity import auth
from services.identity.permissions import Actor


async def _user(actor: Actor, node_id: str) -> relay.Node:
    return UserNode.from_model(await auth.get_user(actor=actor, user_id=int(node_id)))


# Global ID type name → loader applying the same visibility rules as the type's own query.
LOADERS: dict[str, Callable[[Actor, str], Awaitable[relay.Node]]] = {"User": _user}


async def node(info: Info, id: strawberry.ID) -> relay.Node | None:
    actor = await info.context.get_actor()
    try:
        global_id = relay.GlobalID.from_id(id)
    except (ValueError, TypeError) as error:
        raise BadUserInputError("Not a global ID", field="id") from error
    loader = LOADERS.get(global_id.type_name)
    if loader is None:
        return None
    try:
        return await loader(actor, global_id.node_id)
    except (NotFoundError, ValueError):
        return None
