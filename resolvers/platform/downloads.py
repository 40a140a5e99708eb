"""Signed, expiring download links (issue 17)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from schema.types.money.accounts import TransactionFilterInput
from schema.types.platform import downloads as t
from services import downloads
from services.errors import DomainError, NotFoundError
from services.money.statements import TransactionFilter

_KINDS = {
    t.DownloadKind.CONTRACT: downloads.DownloadKind.CONTRACT,
    t.DownloadKind.MATERIAL: downloads.DownloadKind.MATERIAL,
    t.DownloadKind.COLLATERAL_DOCUMENT: downloads.DownloadKind.COLLATERAL_DOCUMENT,
    t.DownloadKind.SERVICE_CASE_ATTACHMENT: downloads.DownloadKind.SERVICE_CASE_ATTACHMENT,
    t.DownloadKind.TRANSACTIONS_CSV: downloads.DownloadKind.TRANSACTIONS,
    t.DownloadKind.MY_DATA_JSON: downloads.DownloadKind.MY_DATA,
    t.DownloadKind.PLATFORM_FIGURES_CSV: downloads.DownloadKind.PLATFORM_FIGURES,
    t.DownloadKind.RISK_FIGURES_CSV: downloads.DownloadKind.RISK_FIGURES,
    t.DownloadKind.PLATFORM_RETURNS_CSV: downloads.DownloadKind.PLATFORM_RETURNS,
    t.DownloadKind.OVERDUE_LOANS_CSV: downloads.DownloadKind.OVERDUE_LOANS,
    t.DownloadKind.FUND_TRANSACTIONS_CSV: downloads.DownloadKind.FUND_TRANSACTIONS,
}


def _object_id(value: strawberry.ID | None) -> int | None:
    if value is None:
        return None
    text = str(value)
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise NotFoundError("No such object", field="id")
    return int(text)


def _filter(where: TransactionFilterInput | None) -> TransactionFilter | None:
    if where is None:
        return None
    return TransactionFilter(
        kinds=tuple(where.kinds or ()), date_from=where.date_from, date_to=where.date_to
    )


async def create_download_link(
    info: Info, input: t.CreateDownloadLinkInput
) -> t.CreateDownloadLinkResult:
    try:
        link = await downloads.create_link(
            actor=await info.context.get_actor(),
            kind=_KINDS[input.kind],
            object_id=_object_id(input.id),
            where=_filter(input.filter),
            as_of=input.as_of,
            since=input.since,
        )
    except DomainError as error:
        return t.CreateDownloadLinkError.from_domain(error)
    return t.DownloadLinkCreated(
        url=info.context.settings.public_base_url + link.path,
        path=link.path,
        expires_at=link.expires_at,
    )
