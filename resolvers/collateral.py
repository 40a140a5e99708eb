"""Collateral (issue 21): a loan's items, valuations and documents, recording them."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.collateral import (
    CollateralDocument,
    CollateralKind,
    CollateralValuation,
)
from resolvers.ids import number_of
from resolvers.uploads import read_upload
from schema.errors import BadUserInputError
from schema.scalars import Money, SignedRate
from schema.types import collateral as t
from services.collateral import documents, items
from services.errors import DomainError


def _id(value: strawberry.ID, field: str) -> int:
    return number_of(value, field)


def _document(row: CollateralDocument) -> t.CollateralDocument:
    async def check() -> bool:
        return await documents.check(row) is None

    return t.CollateralDocument(
        id=strawberry.ID(str(row.id)),
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        uploaded_at=row.created_at,
        check=check,
    )


def _valuation(
    row: CollateralValuation, report: CollateralDocument | None
) -> t.CollateralValuation:
    return t.CollateralValuation(
        id=strawberry.ID(str(row.id)),
        appraiser=row.appraiser,
        method=row.method,
        value=Money(row.value_fen),
        valued_on=row.valued_on,
        report_ref=row.report_ref,
        report=_document(report) if report is not None else None,
        recorded_at=row.created_at,
    )


def _item(view: items.ItemView) -> t.CollateralItem:
    item, valuations = view.item, view.valuations
    return t.CollateralItem(
        id=strawberry.ID(str(item.id)),
        loan_id=strawberry.ID(str(item.loan_id)),
        kind=t.CollateralKind(str(item.kind)),
        description=item.description,
        registration_number=item.registration_number,
        registration_authority=item.registration_authority,
        lien_rank=item.lien_rank,
        status=t.CollateralStatus(str(item.status)),
        value=Money(valuations[0].value_fen) if valuations else None,
        valuations=[_valuation(row, view.reports.get(row.id)) for row in valuations],
        documents=[_document(row) for row in view.documents],
        created_at=item.created_at,
    )


async def collateral_items(info: Info, loan_id: strawberry.ID) -> t.LoanCollateral:
    try:
        found = await items.collateral_of(
            actor=await info.context.get_actor(), loan_id=_id(loan_id, "loanId")
        )
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    return t.LoanCollateral(
        loan_id=strawberry.ID(str(found.loan_id)),
        outstanding_principal=Money(found.outstanding_principal_fen),
        loan_to_value=SignedRate(found.ltv) if found.ltv is not None else None,
        items=[_item(view) for view in found.items],
    )


async def add_collateral_item(
    info: Info, input: t.AddCollateralItemInput
) -> t.AddCollateralItemResult:
    try:
        item = await items.add_item(
            actor=await info.context.get_actor(),
            loan_id=_id(input.loan_id, "loanId"),
            kind=CollateralKind(input.kind.value),
            description=input.description,
            registration_number=input.registration_number,
            registration_authority=input.registration_authority,
            lien_rank=input.lien_rank,
            owner_id=_id(input.owner_id, "ownerId") if input.owner_id is not None else None,
            files=[await read_upload(upload) for upload in input.documents or ()],
        )
    except DomainError as error:
        return t.AddCollateralItemError.from_domain(error)
    filed = await documents.of_item(item.id)
    return t.CollateralItemAdded(item=_item(items.ItemView(item, [], documents=filed)))


async def add_collateral_valuation(
    info: Info, input: t.AddCollateralValuationInput
) -> t.AddCollateralValuationResult:
    try:
        valued = await items.add_valuation(
            actor=await info.context.get_actor(),
            item_id=_id(input.item_id, "itemId"),
            appraiser=input.appraiser,
            method=input.method,
            value_fen=input.value,
            valued_on=input.valued_on,
            report_ref=input.report_ref,
            report=await read_upload(input.report) if input.report is not None else None,
        )
    except DomainError as error:
        return t.AddCollateralValuationError.from_domain(error)
    return t.CollateralValued(
        valuation=_valuation(valued.valuation, valued.report),
        loan_to_value=SignedRate(valued.ltv) if valued.ltv is not None else None,
        warned=valued.warned,
    )
