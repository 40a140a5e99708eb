"""Signed, expiring download links (issue 17)."""

from __future__ import annotations

from datetime import datetime
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
    TRANSACTIONS_CSV = strawberry.enum_value(
        "TRANSACTIONS_CSV",
        description="Your own movements as CSV (no id; an optional filter), as myTransactionsCsv.",
    )


@strawberry.input(description="Ask for a short-lived link to download something you may read.")
class CreateDownloadLinkInput:
    kind: DownloadKind = strawberry.field(description="What to download.")
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The contract's or file's id; none for TRANSACTIONS_CSV."
    )
    filter: TransactionFilterInput | None = strawberry.field(
        default=None, description="TRANSACTIONS_CSV only: which movements."
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
