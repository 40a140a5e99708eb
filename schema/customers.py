"""Root fields: customer service (issue 22, M5.1, M5.2): the customer list, a member's
file, account status."""

from __future__ import annotations

import strawberry

from resolvers import customers as r
from schema.directives import auth
from schema.pagination import Connection
from schema.types import customers as t
from services.identity.permissions import Permission


@strawberry.type
class CustomersQuery:
    customers: Connection[t.Customer] = strawberry.field(
        resolver=r.customers,
        extensions=auth(Permission.CUSTOMERS_READ),
        description="Members, newest first: search by phone or ID number (through their "
        "lookup hashes), masked phone or name; filter by status, grade, registration days, "
        "overdue. Numbers are masked (revealPersonalData shows them, logged).",
    )
    customer: t.CustomerFile | None = strawberry.field(
        resolver=r.customer,
        extensions=auth(Permission.CUSTOMERS_READ),
        description="A member's file: profile, credit, balances, loans, claims, contracts, "
        "notices and messages sent, status changes. None for no such member.",
    )
    pending_account_status_changes: Connection[t.AccountStatusChange] = strawberry.field(
        resolver=r.pending_account_status_changes,
        extensions=auth(Permission.CUSTOMERS_MANAGE),
        description="Proposed activations and closures waiting for a second person.",
    )


@strawberry.type
class CustomersMutation:
    set_account_status: t.SetAccountStatusResult = strawberry.mutation(
        resolver=r.set_account_status,
        extensions=auth(Permission.CUSTOMERS_MANAGE),
        description="Lock a member account at once, or propose activating or closing it "
        "(a second person decides). Locked: no sign-in, no money out by the member, open "
        "loans keep repaying. Closing needs zero balances, no open loans or claims, "
        "nothing pending: what blocks it is listed.",
    )
    decide_account_status_change: t.DecideAccountStatusChangeResult = strawberry.mutation(
        resolver=r.decide_account_status_change,
        extensions=auth(Permission.CUSTOMERS_MANAGE),
        description="Apply or reject an activation or closure someone else proposed.",
    )
    request_data_deletion: t.RequestDataDeletionResult = strawberry.mutation(
        resolver=r.request_data_deletion,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Ask for your data to be deleted: recorded, and answered at once with "
        "what the law (R6) makes the platform keep and until when. Your own data as a file: "
        "createDownloadLink with MY_DATA_JSON.",
    )
