"""Issue 21, M8.1-M8.2: collateral items and their valuations.

A listed loan of 10,000.00 with a flat pledged: valued 16,000.00 (LTV 0.6250), then
9,000.00 (1.1111: above the 0.8000 warning ratio, one LTV_WARNING event), then 8,000.00
(1.2500: still above, no second event). After disbursement the LTV is the outstanding
principal over the value, falling as installments are paid. Who sees it (the borrower,
a holder, reviewers; anyone else: not found), and the bad inputs, each refused with its
code and nothing written. Then the same through the API.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from models.bids import Claim
from models.collateral import CollateralItem, CollateralKind, CollateralStatus, CollateralValuation
from models.loans import Loan, LoanStatus
from models.messaging import OutboxEvent
from services.collateral import items
from services.errors import DomainError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.platform import clock
from tests.factories import create_member, create_staff, gql, token_for
from tests.lending import (
    listed_loan,
    member_actor,
    repaying_loan,
    settle_everything,
    verified_borrower,
)
from tests.transfers.test_market import _pay_on_due

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

REVIEWER = Actor(user_id=10**9 + 11, kind="staff", permissions=frozenset({Permission.LOAN_REVIEW}))


async def _flat(loan_id: int) -> CollateralItem:
    return await items.add_item(
        actor=REVIEWER,
        loan_id=loan_id,
        kind=CollateralKind.PROPERTY,
        description="A flat, 80 m2, Chaoyang district",
        registration_number="JING-2026-000123",
        registration_authority="Beijing Real Estate Registration Centre",
        lien_rank=1,
    )


async def _value(item: CollateralItem, value_fen: int, **extra: Any) -> items.Valued:
    return await items.add_valuation(
        actor=REVIEWER,
        item_id=item.id,
        appraiser=extra.get("appraiser", "Appraiser Co"),
        method=extra.get("method", "MARKET"),
        value_fen=value_fen,
        valued_on=extra.get("valued_on", await clock.today()),
        report_ref="VAL-1",
    )


async def _warnings(loan_id: int) -> list[dict[str, Any]]:
    rows = await OutboxEvent.filter(topic=items.EVENTS_CHANNEL).order_by("id")
    return [row.payload for row in rows if row.payload["loan_id"] == loan_id]


async def test_valuations_set_the_ltv_and_a_crossing_warns_once(app, scripted):
    borrower, _phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000)
    flat = await _flat(loan.id)
    assert (flat.owner_id, flat.status) == (borrower.id, CollateralStatus.PLEDGED)

    first = await _value(flat, 1_600_000)
    assert (first.ltv, first.warned) == (Decimal("0.6250"), False)
    second = await _value(flat, 900_000)
    assert (second.ltv, second.warned) == (Decimal("1.1111"), True)
    third = await _value(flat, 800_000)
    assert (third.ltv, third.warned) == (Decimal("1.2500"), False)
    (warning,) = await _warnings(loan.id)
    assert (warning["kind"], warning["item_id"], warning["ltv"], warning["ratio"]) == (
        "LTV_WARNING",
        flat.id,
        "1.1111",
        "0.8000",
    )

    seen = await items.collateral_of(actor=member_actor(borrower.id), loan_id=loan.id)
    assert seen.ltv == Decimal("1.2500")
    assert seen.outstanding_principal_fen == 1_000_000
    (view,) = seen.items
    assert [v.value_fen for v in view.valuations] == [800_000, 900_000, 1_600_000]
    assert view.value_fen == 800_000

    # A second item: the LTV is over both items' latest values.
    car = await items.add_item(
        actor=REVIEWER,
        loan_id=loan.id,
        kind=CollateralKind.VEHICLE,
        description="A car",
        registration_number="JING-A-12345",
        registration_authority="Vehicle Administration",
        lien_rank=2,
    )
    both = await _value(car, 450_000)
    assert both.ltv == Decimal("0.8000")  # 10,000.00 / 12,500.00
    # A released item no longer secures the loan, and takes no valuation.
    await CollateralItem.filter(id=car.id).update(status=CollateralStatus.RELEASED)
    assert (await items.collateral_of(actor=REVIEWER, loan_id=loan.id)).ltv == Decimal("1.2500")
    before = await CollateralValuation.all().count()
    with pytest.raises(DomainError) as released:
        await _value(car, 500_000)
    assert released.value.code == "ITEM_NOT_PLEDGED"
    assert await CollateralValuation.all().count() == before


async def test_the_ltv_follows_the_outstanding_principal(app, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(600_000, 400_000))
    flat = await _flat(made.loan.id)
    await _value(flat, 2_000_000)
    assert (await items.collateral_of(actor=REVIEWER, loan_id=made.loan.id)).ltv == Decimal(
        "0.5000"
    )
    await _pay_on_due(made, sandbox)
    await settle_everything(sandbox)
    found = await items.collateral_of(actor=REVIEWER, loan_id=made.loan.id)
    rows = await made.loan.installments.all()  # type: ignore[attr-defined]
    outstanding = sum(row.principal_fen - row.paid_principal_fen for row in rows)
    assert outstanding < 1_000_000
    assert found.outstanding_principal_fen == outstanding
    assert found.ltv == (Decimal(outstanding) / Decimal(2_000_000)).quantize(Decimal("0.0001"))
    # A holder of the loan's claims sees it; another member does not.
    (lender, _phone), _other = made.lenders
    assert (await items.collateral_of(actor=member_actor(lender.id), loan_id=made.loan.id)).items
    stranger, _ = await create_member()
    with pytest.raises(NotFoundError):
        await items.collateral_of(actor=member_actor(stranger.id), loan_id=made.loan.id)
    assert await Claim.filter(loan_id=made.loan.id, holder_id=lender.id).exists()


async def test_bad_input_is_refused_and_writes_nothing(app, scripted):
    borrower, _phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000)
    flat = await _flat(loan.id)
    today = await clock.today()
    counts = (await CollateralItem.all().count(), await CollateralValuation.all().count())
    refusals = [
        (_value(flat, 0), "INVALID", "value"),
        (_value(flat, 100, valued_on=today + timedelta(days=1)), "INVALID", "valuedOn"),
        (_value(flat, 100, method="GUESS"), "INVALID", "method"),
        (_value(flat, 100, appraiser=" "), "INVALID", "appraiser"),
        (
            items.add_item(
                actor=REVIEWER,
                loan_id=loan.id,
                kind=CollateralKind.EQUITY,
                description="Shares",
                registration_number="X",
                registration_authority="Y",
                lien_rank=0,
            ),
            "INVALID",
            "lienRank",
        ),
        (
            items.add_item(
                actor=REVIEWER,
                loan_id=10**9,
                kind=CollateralKind.EQUITY,
                description="Shares",
                registration_number="X",
                registration_authority="Y",
                lien_rank=1,
            ),
            "NOT_FOUND",
            "loanId",
        ),
        (
            items.add_item(
                actor=REVIEWER,
                loan_id=loan.id,
                kind=CollateralKind.EQUITY,
                description="x" * 501,
                registration_number="X",
                registration_authority="Y",
                lien_rank=1,
            ),
            "INVALID",
            "description",
        ),
    ]
    for call, code, field in refusals:
        with pytest.raises(DomainError) as refused:
            await call
        assert (refused.value.code, refused.value.field) == (code, field)
    await Loan.filter(id=loan.id).update(status=LoanStatus.CANCELLED)
    with pytest.raises(DomainError) as closed:
        await _flat(loan.id)
    assert closed.value.code == "LOAN_CLOSED"
    assert (await CollateralItem.all().count(), await CollateralValuation.all().count()) == counts


COLLATERAL = """query ($loan: ID!) { collateralItems(loanId: $loan) { outstandingPrincipal
  loanToValue items { kind status value lienRank valuations { value method } } } }"""
ADD_ITEM = """mutation ($loan: ID!) { addCollateralItem(input: {loanId: $loan, kind: PROPERTY,
  description: "A flat", registrationNumber: "R-9", registrationAuthority: "Registry",
  lienRank: 1}) { __typename ... on CollateralItemAdded { item { id status } }
  ... on AddCollateralItemError { code field } } }"""
ADD_VALUATION = """mutation ($item: ID!, $value: Money!) { addCollateralValuation(input: {
  itemId: $item, appraiser: "Appraiser Co", method: "MARKET", value: $value,
  valuedOn: "2026-12-01"}) { __typename ... on CollateralValued { loanToValue warned }
  ... on AddCollateralValuationError { code field } } }"""


async def test_reviewers_record_and_the_borrower_reads_through_the_api(app, client, scripted):
    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000)
    _staff, staff_phone = await create_staff("risk_l1")
    staff = await token_for(staff_phone)
    added = (await gql(client, ADD_ITEM, {"loan": str(loan.id)}, token=staff))["data"]
    item_id = added["addCollateralItem"]["item"]["id"]
    valued = await gql(client, ADD_VALUATION, {"item": item_id, "value": "12500.00"}, token=staff)
    assert valued["data"]["addCollateralValuation"] == {
        "__typename": "CollateralValued",
        "loanToValue": "0.8000",
        "warned": False,
    }
    refused = await gql(client, ADD_VALUATION, {"item": item_id, "value": "0.00"}, token=staff)
    assert refused["data"]["addCollateralValuation"]["code"] == "INVALID"
    mine = await gql(
        client, COLLATERAL, {"loan": str(loan.id)}, token=await token_for(borrower_phone)
    )
    assert mine["data"]["collateralItems"] == {
        "outstandingPrincipal": "10000.00",
        "loanToValue": "0.8000",
        "items": [
            {
                "kind": "PROPERTY",
                "status": "PLEDGED",
                "value": "12500.00",
                "lienRank": 1,
                "valuations": [{"value": "12500.00", "method": "MARKET"}],
            }
        ],
    }
    _member, member_phone = await create_member()
    hidden = await gql(
        client, COLLATERAL, {"loan": str(loan.id)}, token=await token_for(member_phone)
    )
    assert hidden["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # A member may not record collateral.
    denied = await gql(
        client, ADD_ITEM, {"loan": str(loan.id)}, token=await token_for(borrower_phone)
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
