"""Root fields: operation log, clock, notices, and the dev/test tools."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry import relay

from resolvers import nodes
from resolvers.platform import system as r
from schema.directives import auth, public
from schema.pagination import Connection
from schema.types.platform import system as t
from services.identity.permissions import Permission


@strawberry.type
class SystemQuery:
    node: relay.Node | None = strawberry.field(
        resolver=nodes.node,
        extensions=auth(Permission.PROFILE_READ),
        description="Any object by its global ID; null when it does not exist or is not yours.",
    )
    operation_log: Connection[t.OperationLogEntryType] = strawberry.field(
        resolver=r.operation_log,
        extensions=auth(Permission.OPLOG_READ),
        description="Logged mutations, newest first.",
    )
    verify_operation_log: t.OperationLogVerification = strawberry.field(
        resolver=r.verify_operation_log,
        extensions=auth(Permission.OPLOG_VERIFY),
        description="Recompute the hash chain: finds any altered or removed entry.",
    )
    business_clock: t.BusinessClock = strawberry.field(
        resolver=r.business_clock,
        extensions=public(),
        description="What the platform takes as now and today.",
    )
    my_notices: Connection[t.NoticeType] = strawberry.field(
        resolver=r.my_notices,
        extensions=auth(Permission.NOTICES_READ),
        description="The caller's in-app notices, newest first.",
    )


@strawberry.type
class DevQuery:
    dev_outbox: list[t.DevMessage] = strawberry.field(
        resolver=r.dev_outbox,
        extensions=public(),
        description="Dev and test only: the newest SMS and e-mails, codes included.",
    )


@strawberry.type
class DevMutation:
    dev_advance_clock: t.DevAdvanceClockResult = strawberry.mutation(
        resolver=r.dev_advance_clock,
        extensions=auth(Permission.CLOCK_ADVANCE),
        description="Dev and test only: move business time forward by whole days.",
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        extensions=auth(Permission.NOTICES_READ),
        description="The caller's new in-app notices as they happen.",
    )
    async def notifications(self, info: strawberry.Info) -> AsyncGenerator[t.NoticeType, None]:
        async for notice in r.notifications(info):
            yield notice
