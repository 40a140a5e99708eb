"""Root fields: the overdue list, collectors, collection records and overdue events for
staff (M9.3, M9.4, E)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers.repayments import collection as r
from schema.directives import auth
from schema.pagination import Connection
from schema.types.repayments import collection as t
from services.identity.permissions import Permission


@strawberry.type
class CollectionQuery:
    overdue_loans: Connection[t.OverdueLoan] = strawberry.field(
        resolver=r.overdue_loans,
        extensions=auth(Permission.COLLECTION_READ),
        description="Loans with an overdue installment, by loan id, filtered by bucket, "
        "overdue amount and collector.",
    )
    collection_records: list[t.CollectionRecord] = strawberry.field(
        resolver=r.collection_records,
        extensions=auth(Permission.COLLECTION_READ),
        description="A loan's collection records, newest first.",
    )


@strawberry.type
class CollectionMutation:
    add_collection_record: t.AddCollectionRecordResult = strawberry.mutation(
        resolver=r.add_collection_record,
        extensions=auth(Permission.COLLECTION_WRITE),
        description="Record a call, visit, message or promise to pay on an overdue loan.",
    )
    assign_collector: t.AssignCollectorResult = strawberry.mutation(
        resolver=r.assign_collector,
        extensions=auth(Permission.COLLECTION_WRITE),
        description="Give an overdue loan to a collector.",
    )


@strawberry.type
class CollectionSubscription:
    @strawberry.subscription(
        extensions=auth(Permission.COLLECTION_READ),
        description="Overdue installments raised, paid, or moved to the next aging bucket.",
    )
    async def overdue_events(self, info: strawberry.Info) -> AsyncGenerator[t.OverdueEvent, None]:
        async for event in r.overdue_events(info):
            yield event
