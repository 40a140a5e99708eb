"""Transfer of rights and disposal over the API (issue 21, M8.3-M8.4): who may ask and
approve, the typed refusals that change nothing, and a sale whose proceeds arrive and pay
the loan off (the amounts to the fen are proven in test_disposal.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.collateral import CollateralDisposal, CollateralItem, CollateralTransfer
from models.loans import Loan
from models.payments import PaymentInstruction
from models.repayments import LoanInstallment
from services.money import ledger
from services.platform import clock
from services.repayments import overdue
from tests.collateral.test_items import _flat, _value
from tests.factories import create_staff, gql, token_for
from tests.lending import move_clock_to, repaying_loan, settle_everything

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

TRANSFER = """mutation($input: RequestCollateralTransferInput!) {
  requestCollateralTransfer(input: $input) {
    __typename
    ... on CollateralTransferDone { transfer { id status to } }
    ... on CollateralTransferError { code field }
  } }"""
APPROVE = """mutation($id: ID!) { approveCollateralTransfer(transferId: $id) {
    __typename
    ... on CollateralTransferDone { transfer { id status approvedAt } }
    ... on CollateralTransferError { code }
  } }"""
DISPOSE = """mutation($input: RecordCollateralDisposalInput!) {
  recordCollateralDisposal(input: $input) {
    __typename
    ... on CollateralDisposalRecorded { disposal { id status net payUrl } }
    ... on RecordCollateralDisposalError { code field }
  } }"""


async def test_transfer_and_disposal_over_the_api(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(600_000, 400_000), term=3)
    flat = await _flat(made.loan.id)
    await _value(flat, 2_000_000)
    _user, l1_phone = await create_staff("risk_l1")
    _user, l3_phone = await create_staff("risk_l3")
    l1, l3 = await token_for(l1_phone), await token_for(l3_phone)
    member = await token_for(made.borrower_phone)
    ask = {"itemId": str(flat.id), "to": "HOLDERS", "reason": "In default"}

    # A member may not ask; staff may not before the loan is in default (90 days).
    body = await gql(client, TRANSFER, {"input": ask}, token=member)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(client, TRANSFER, {"input": ask}, token=l1)
    assert body["data"]["requestCollateralTransfer"] == {
        "__typename": "CollateralTransferError",
        "code": "LOAN_NOT_IN_DEFAULT",
        "field": None,
    }
    assert not await CollateralTransfer.exists()

    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    today = await move_clock_to(first.due_date + timedelta(days=91))
    await overdue.run_daily(today)
    asked = (await gql(client, TRANSFER, {"input": ask}, token=l1))["data"][
        "requestCollateralTransfer"
    ]
    assert asked["transfer"]["status"] == "REQUESTED"
    transfer_id = asked["transfer"]["id"]
    # Asking again while one waits; approving one's own (a level-1 may not at all).
    again = (await gql(client, TRANSFER, {"input": ask}, token=l1))["data"]
    assert again["requestCollateralTransfer"]["code"] == "TRANSFER_PENDING"
    body = await gql(client, APPROVE, {"id": transfer_id}, token=l1)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    approved = (await gql(client, APPROVE, {"id": transfer_id}, token=l3))["data"]
    assert approved["approveCollateralTransfer"]["transfer"]["status"] == "APPROVED"
    assert (await CollateralItem.get(id=flat.id)).status == "TRANSFERRED"

    sale = {
        "itemId": str(flat.id),
        "buyer": "Auction buyer",
        "price": "15000.00",
        "costs": "15000.00",
        "soldOn": (await clock.today()).isoformat(),
        "channel": "GATEWAY",
        "idempotencyKey": "api-sale-0001",
    }
    refused = (await gql(client, DISPOSE, {"input": sale}, token=l1))["data"]
    assert refused["recordCollateralDisposal"] == {
        "__typename": "RecordCollateralDisposalError",
        "code": "COSTS_EXCEED_PRICE",
        "field": "costs",
    }
    assert not await CollateralDisposal.exists()
    owner_before = await ledger.balance(ledger.available(made.borrower.id))
    sale = {**sale, "costs": "300.00", "idempotencyKey": "api-sale-0002"}
    recorded = (await gql(client, DISPOSE, {"input": sale}, token=l1))["data"][
        "recordCollateralDisposal"
    ]
    assert recorded["disposal"]["status"] == "RECORDED"
    assert recorded["disposal"]["net"] == "14700.00"
    assert recorded["disposal"]["payUrl"]
    # The same key again: the same disposal, nothing more.
    replay = (await gql(client, DISPOSE, {"input": sale}, token=l1))["data"]
    assert replay["recordCollateralDisposal"]["disposal"]["id"] == recorded["disposal"]["id"]
    disposal_id = int(recorded["disposal"]["id"])
    instruction = await PaymentInstruction.get(business_ref=f"disposal:{disposal_id}")
    await sandbox.bank_pay(instruction.request_id)
    await settle_everything(sandbox)
    row = await CollateralDisposal.get(id=disposal_id)
    assert row.status == "DISTRIBUTED"
    assert row.applied_fen + row.surplus_fen == 1_470_000
    assert row.surplus_fen > 0
    assert (await Loan.get(id=made.loan.id)).status == "SETTLED"
    assert await ledger.balance(ledger.available(made.borrower.id)) == (
        owner_before + row.surplus_fen
    )
    again = (
        await gql(client, DISPOSE, {"input": {**sale, "idempotencyKey": "api-sale-0003"}}, token=l1)
    )["data"]
    assert again["recordCollateralDisposal"]["code"] == "PROCEEDS_ALREADY_DISTRIBUTED"
    assert await CollateralDisposal.all().count() == 1
    assert (await ledger.check()).ok
