"""Signed, expiring download links (issue 17)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.types.money.accounts import TransactionFilterInput


@strawberry.enum(description="What a download link serves.")
class DownloadKind(Enum):
    CONTRACT = strawberry.enum_value(
        "CONTRACT", description="A contract's PDF (its id): its parties, staff with contracts:read."
    )
    MATERIAL = strawberry.enum_value(
        "MATERIAL", description="A verification file (its id): its owner, credit officers."
    )
    COLLATERAL_DOCUMENT = strawberry.enum_value(
        "COLLATERAL_DOCUMENT",
        description="A collateral item's document or valuation report (its id): whoever may "
        "see the loan's collateral (its borrower, the holders of its claims, loan reviewers).",
    )
    SERVICE_CASE_ATTACHMENT = strawberry.enum_value(
        "SERVICE_CASE_ATTACHMENT",
        description="A file of a service case (its attachment id): the case's member and "
        "staff with cases:manage.",
    )
    TRANSACTIONS_CSV = strawberry.enum_value(
        "TRANSACTIONS_CSV",
        description="Your own movements as CSV (no id; an optional filter), as myTransactionsCsv.",
    )
    MY_DATA_JSON = strawberry.enum_value(
        "MY_DATA_JSON",
        description="Everything the platform holds about you, as one JSON file (no id): "
        "members (account:use), while their account is active.",
    )
    PLATFORM_FIGURES_CSV = strawberry.enum_value(
        "PLATFORM_FIGURES_CSV",
        description="platformFigures as CSV, a row per figure (no id; asOf, since): "
        "staff with analytics:read.",
    )
    RISK_FIGURES_CSV = strawberry.enum_value(
        "RISK_FIGURES_CSV",
        description="riskFigures as CSV: aging buckets, totals and vintage curves (no id; "
        "asOf): staff with analytics:read.",
    )
    PLATFORM_RETURNS_CSV = strawberry.enum_value(
        "PLATFORM_RETURNS_CSV",
        description="Every lender's returns as CSV, then the pooled platformReturns (no id; "
        "asOf): staff with analytics:read.",
    )
    OVERDUE_LOANS_CSV = strawberry.enum_value(
        "OVERDUE_LOANS_CSV",
        description="The overdue list (overdueLoans, unfiltered) as CSV at the download "
        "(no id): staff with collection:read.",
    )
    FUND_TRANSACTIONS_CSV = strawberry.enum_value(
        "FUND_TRANSACTIONS_CSV",
        description="fundTransactions as CSV, a row per posting (no id; an optional filter: "
        "journal kinds, from/to business dates): staff with finance:read.",
    )


@strawberry.input(description="Ask for a short-lived link to download something you may read.")
class CreateDownloadLinkInput:
    kind: DownloadKind = strawberry.field(description="What to download.")
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The contract's or file's id; none for the CSV kinds."
    )
    filter: TransactionFilterInput | None = strawberry.field(
        default=None,
        description="TRANSACTIONS_CSV: which movements; FUND_TRANSACTIONS_CSV: which "
        "transactions (kinds: journal kinds; from/to: business dates).",
    )
    as_of: date | None = strawberry.field(
        default=None,
        description="The figures' exports only: the business day (default today), fixed "
        "in the link.",
    )
    since: date | None = strawberry.field(
        default=None,
        description="PLATFORM_FIGURES_CSV only: the period's first day (default the first "
        "of asOf's month).",
    )


@strawberry.type(description="A link anyone holding it can GET until it expires, no token needed.")
class DownloadLinkCreated:
    url: str = strawberry.field(
        description="Absolute URL (on the platform's public base URL): for an <a href> or "
        "a download manager. Signed for you, this object and this expiry: changing any "
        "part makes it fail (403). Served only while you may still read the object."
    )
    path: str = strawberry.field(description="The same link without scheme and host.")
    expires_at: datetime = strawberry.field(
        description="Refused from this instant on (UTC, real time); ask again for a new one."
    )


CreateDownloadLinkErrorCode = error_codes(
    "CreateDownloadLink", ["INVALID", "NOT_FOUND"], "Why no link was made."
)
CreateDownloadLinkError = error_type(
    "CreateDownloadLink", CreateDownloadLinkErrorCode, "No link was made."
)
CreateDownloadLinkResult = Annotated[
    DownloadLinkCreated | CreateDownloadLinkError, strawberry.union("CreateDownloadLinkResult")
]
