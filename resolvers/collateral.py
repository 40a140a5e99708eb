"""Collateral (issue 21): a loan's items and valuations, recording them."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.collateral import CollateralItem, CollateralKind, CollateralValuation
from resolvers.ids import number_of
from schema.errors import BadUserInputError
from schema.scalars import Money, SignedRate
from schema.types import collateral as t
from services.collateral import items
from services.errors import DomainError


def _id(value: strawberry.ID, field: str) -> int:
    return number_of(value, field)


def _valuation(row: CollateralValuation) -> t.CollateralValuation:
    return t.CollateralValuation(
        id=strawberry.ID(str(row.id)),
        appraiser=row.appraiser,
        method=row.method,
        value=Money(row.value_fen),
        valued_on=row.valued_on,
        report_ref=row.report_ref,
        recorded_at=row.created_at,
    )


def _item(item: CollateralItem, valuations: list[CollateralValuation]) -> t.CollateralItem:
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
        valuations=[_valuation(row) for row in valuations],
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
        items=[_item(view.item, view.valuations) for view in found.items],
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
        )
    except DomainError as error:
        return t.AddCollateralItemError.from_domain(error)
    return t.CollateralItemAdded(item=_item(item, []))


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
        )
    except DomainError as error:
        return t.AddCollateralValuationError.from_domain(error)
    return t.CollateralValued(
        valuation=_valuation(valued.valuation),
        loan_to_value=SignedRate(valued.ltv) if valued.ltv is not None else None,
        warned=valued.warned,
    )
