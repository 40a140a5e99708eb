"""Issue 20: what the market shows. Two loans (10,000.00 at 12 % over 12 months, 10,000.00
at 18 % over 6), one installment paid on each, three listings at -5 %, +1 % and -2 %:

- each sort (newest, buyer's XIRR, discount, remaining term, loan rate) orders them as
  the figures say, and walking the pages one row at a time by their cursors gives the
  same order, every listing once;
- the filters on the borrower's grade, the installments left and the buyer's XIRR keep
  exactly the listings that match, and count them;
- the seller's realised XIRR equals an independent calculation (a bisection over the
  holder's dated money: what they lent, every receipt, earlier sales, this sale at the
  listing's rate today), before and after a sale of part of the holding;
- through the API: the seller's own listings (`myTransferListings`), every purchase with
  both parties for finance staff (`claimTransfers`), bad grades refused.
"""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from models.bids import Claim
from models.credit import CreditProfile
from models.loans import Loan
from models.repayments import Receipt
from models.transfers import ClaimTransfer, TransferListing, TransferStatus
from services.analytics import returns
from services.platform import clock, outbox
from services.repayments.views import receivables_of
from services.transfers import contracting, market, views
from services.transfers.views import ListingFilter, ListingSort
from tests.factories import create_staff, gql, token_for
from tests.lending import member_actor, ready_lender, repaying_loan
from tests.transfers.test_market import _buy, _expected_quote, _key, _pay_on_due
from tests.transfers.test_pricing import _bisection

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]


async def _list(seller: Any, claim: Claim, principal: int, rate: str) -> TransferListing:
    return await market.list_claim(
        actor=member_actor(seller.id),
        claim_id=claim.id,
        principal_fen=principal,
        rate=Decimal(rate),
        idempotency_key=_key(),
    )


async def _market(app: Any, scripted: Any) -> dict[str, Any]:
    sandbox = app.state.sandbox.sandbox
    long = await repaying_loan(scripted, sandbox, shares=(600_000, 400_000))
    short = await repaying_loan(scripted, sandbox, shares=(500_000, 500_000), rate="0.1800", term=6)
    await _pay_on_due(long, sandbox)
    await _pay_on_due(short, sandbox)
    (a, _), (b, _) = long.lenders
    (c, _), _d = short.lenders
    a_claim = await Claim.get(loan_id=long.loan.id, holder_id=a.id)
    b_claim = await Claim.get(loan_id=long.loan.id, holder_id=b.id)
    c_claim = await Claim.get(loan_id=short.loan.id, holder_id=c.id)
    return {
        "long": long,
        "short": short,
        "a": a,
        "a_claim": a_claim,
        "listings": {
            "a": await _list(a, a_claim, 200_000, "-0.0500"),
            "b": await _list(b, b_claim, 100_000, "0.0100"),
            "c": await _list(c, c_claim, 300_000, "-0.0200"),
        },
    }


async def _walk(where: ListingFilter, sort: ListingSort) -> list[int]:
    """Every page of one row, each after the last one's key."""
    seen: list[int] = []
    after = None
    while True:
        page = await views.open_listings(where, first=1, after=after, sort=sort)
        if not page.rows:
            return seen
        seen.append(page.rows[0].listing.id)
        after = page.rows[0].key
        assert len(seen) <= 10, seen


async def test_sorts_and_filters_keep_what_matches_in_order(app, scripted):
    made = await _market(app, scripted)
    ids = {name: listing.id for name, listing in made["listings"].items()}
    everything = ListingFilter()
    page = await views.open_listings(everything, first=10, after=None)
    shown = {view.listing.id: view for view in page.rows}
    assert [view.listing.id for view in page.rows] == [ids["c"], ids["b"], ids["a"]]  # newest
    xirr = {name: shown[ids[name]].buyer_xirr for name in ids}
    assert None not in xirr.values()
    by_xirr = sorted(ids, key=lambda name: xirr[name], reverse=True)
    expected = {
        ListingSort.NEWEST: [ids["c"], ids["b"], ids["a"]],
        ListingSort.BUYER_XIRR: [ids[name] for name in by_xirr],
        ListingSort.DISCOUNT: [ids["a"], ids["c"], ids["b"]],
        ListingSort.REMAINING_TERM: [ids["c"], ids["a"], ids["b"]],  # 5 left, then 11, 11
        ListingSort.LOAN_RATE: [ids["c"], ids["a"], ids["b"]],  # 18 %, then 12 %, 12 %
    }
    for sort, order in expected.items():
        whole = await views.open_listings(everything, first=10, after=None, sort=sort)
        assert [view.listing.id for view in whole.rows] == order, sort
        assert await _walk(everything, sort) == order, sort
    # The buyer's XIRR at a discount is above the loan's rate, at a premium below it.
    assert xirr["a"] > Decimal("0.12") > xirr["b"]

    grade = await CreditProfile.get(user_id=made["long"].borrower.id).values_list(
        "grade", flat=True
    )
    other = "AA" if grade != "AA" else "A"
    cases = [
        (ListingFilter(grades=(str(grade),)), {ids["a"], ids["b"], ids["c"]}),
        (ListingFilter(grades=(other,)), set()),
        (ListingFilter(max_remaining=6), {ids["c"]}),
        (ListingFilter(min_remaining=10), {ids["a"], ids["b"]}),
        (ListingFilter(min_remaining=6, max_remaining=10), set()),
        (ListingFilter(min_buyer_xirr=xirr["c"]), {ids[n] for n in ids if xirr[n] >= xirr["c"]}),
        (ListingFilter(min_buyer_xirr=Decimal("5")), set()),
        (ListingFilter(min_remaining=10, min_rate=Decimal("0")), {ids["b"]}),
    ]
    for where, kept in cases:
        for sort in (ListingSort.NEWEST, ListingSort.BUYER_XIRR):
            found = await views.open_listings(where, first=10, after=None, sort=sort)
            assert {view.listing.id for view in found.rows} == kept, (where, sort)
            assert found.total == len(kept), (where, sort)


def _four_places(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


async def _seller_flows(claim: Claim, listing: TransferListing, today: date) -> list[Any]:
    """The seller's dated money, computed here from the rows: lent, received, sold."""
    loan = await Loan.get(id=claim.loan_id)
    await claim.refresh_from_db()
    sales = await ClaimTransfer.filter(seller_claim_id=claim.id, status=TransferStatus.DONE)
    assert loan.disbursed_at is not None
    lent = claim.principal_fen + sum(sale.principal_fen for sale in sales)
    flows: list[Any] = [(loan.disbursed_at.date(), -lent)]
    for receipt in await Receipt.filter(claim_id=claim.id, to_reserve=False):
        flows.append((receipt.created_at.date(), receipt.principal_fen + receipt.interest_fen))
    for sale in sales:
        assert sale.decided_at is not None
        flows.append(
            (sale.decided_at.date(), sale.price_fen + sale.accrued_interest_fen - sale.fee_fen)
        )
    had = sum(await Receipt.filter(claim_id=claim.id).values_list("principal_fen", flat=True))
    outstanding = claim.principal_fen - had
    price, accrued, fee = await _expected_quote(listing, outstanding)
    flows.append((today, price + accrued - fee))
    return flows


async def test_the_sellers_realised_xirr_matches_a_bisection(app, scripted):
    made = await _market(app, scripted)
    listing = made["listings"]["a"]
    today = await clock.today()
    (view,) = await views.views_of([listing])
    expected = _four_places(_bisection(await _seller_flows(made["a_claim"], listing, today)))
    assert view.seller_xirr == expected
    assert view.seller_xirr is not None
    assert view.seller_xirr < Decimal("0.12")  # selling at 5 % off after a month earns less

    buyer = await ready_lender(1_000_000, name="Buyer")
    await _buy(buyer, listing.id, 50_000)
    (after,) = await views.views_of([await TransferListing.get(id=listing.id)])
    expected = _four_places(_bisection(await _seller_flows(made["a_claim"], listing, today)))
    assert after.seller_xirr == expected


MY_LISTINGS = """query ($status: TransferListingStatus) { myTransferListings(first: 10,
  status: $status) { totalCount edges { node { id status principal sellerXirr grade } } } }"""
STAFF = """query ($loan: ID) { claimTransfers(first: 10, loanId: $loan) { totalCount edges {
  node { sellerId buyerId principal price accruedInterest fee status automatic
  contractId } } } }"""
BAD_GRADES = """{ transferListings(first: 5, grades: ["Z"]) { totalCount } }"""
SORTED = """{ transferListings(first: 1, sort: DISCOUNT) { edges { cursor node { id rate } } } }"""


async def test_sellers_and_staff_see_their_side_through_the_api(app, client, scripted):
    made = await _market(app, scripted)
    a = made["a"]
    listing = made["listings"]["a"]
    buyer = await ready_lender(1_000_000, name="Buyer")
    done = await _buy(buyer, listing.id, 50_000)
    for _ in range(100):  # its contract, made after the commit (here or by the app)
        if await contracting.contract_ids_of([done.id]):
            break
        await outbox.dispatch_once()
        await asyncio.sleep(0.05)
    (contract_id,) = (await contracting.contract_ids_of([done.id])).values()
    (_lender, a_phone) = made["long"].lenders[0]
    mine = (await gql(client, MY_LISTINGS, token=await token_for(a_phone)))["data"]
    nodes = [edge["node"] for edge in mine["myTransferListings"]["edges"]]
    assert [(n["id"], n["status"], n["principal"]) for n in nodes] == [
        (str(listing.id), "OPEN", "1500.00")
    ]
    assert nodes[0]["sellerXirr"] is not None
    assert nodes[0]["grade"]
    closed = await gql(client, MY_LISTINGS, {"status": "SOLD"}, token=await token_for(a_phone))
    assert closed["data"]["myTransferListings"]["totalCount"] == 0

    _staff, staff_phone = await create_staff("finance")
    seen = await gql(
        client, STAFF, {"loan": str(made["long"].loan.id)}, token=await token_for(staff_phone)
    )
    (record,) = [edge["node"] for edge in seen["data"]["claimTransfers"]["edges"]]
    assert record == {
        "sellerId": str(a.id),
        "buyerId": str(buyer[0].id),
        "principal": "500.00",
        "price": f"{Decimal(done.price_fen) / 100:.2f}",
        "accruedInterest": f"{Decimal(done.accrued_interest_fen) / 100:.2f}",
        "fee": f"{Decimal(done.fee_fen) / 100:.2f}",
        "status": "DONE",
        "automatic": False,
        "contractId": str(contract_id),
    }
    refused = await gql(client, BAD_GRADES)
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    first = (await gql(client, SORTED))["data"]["transferListings"]["edges"][0]
    assert (first["node"]["id"], first["node"]["rate"]) == (str(listing.id), "-0.0500")
    query = SORTED.replace("first: 1,", f'first: 1, after: "{first["cursor"]}",')
    second = (await gql(client, query))["data"]["transferListings"]["edges"][0]
    assert second["node"]["id"] == str(made["listings"]["c"].id)


async def test_receivables_of_seller_and_buyer_add_up_to_the_claim_before_the_sale(app, scripted):
    made = await _market(app, scripted)
    a, claim = made["a"], made["a_claim"]

    async def expected(user_id: int) -> tuple[int, int]:
        rows = [r for r in await receivables_of(user_id) if r.loan.id == claim.loan_id]
        return (
            sum(r.expected_principal_fen for r in rows),
            sum(r.expected_interest_fen for r in rows),
        )

    before = await expected(a.id)
    buyer = await ready_lender(1_000_000, name="Buyer")
    done = await _buy(buyer, made["listings"]["a"].id, 70_000)
    seller_after, buyer_after = await expected(a.id), await expected(buyer[0].id)
    # The sale moves principal and interest to come from the seller to the buyer, to the
    # fen: together they still expect exactly what the claim expected.
    assert buyer_after[0] == done.principal_fen == 70_000
    assert (seller_after[0] + buyer_after[0], seller_after[1] + buyer_after[1]) == before
    bought = await Claim.get(id=done.buyer_claim_id)
    assert buyer_after[1] == bought.interest_share_fen > 0


async def test_returns_count_a_purchase_as_lent_and_a_sale_as_had(app, scripted):
    made = await _market(app, scripted)
    a = made["a"]
    today = await clock.today()
    before = await returns.compute(a.id, today)
    platform_before = await returns.compute(None, today)
    assert before.invested_fen == 600_000  # what A lent
    buyer = await ready_lender(1_000_000, name="Buyer")
    done = await _buy(buyer, made["listings"]["a"].id, 70_000)
    cost = done.price_fen + done.accrued_interest_fen
    seller = await returns.compute(a.id, today)
    bought = await returns.compute(buyer[0].id, today)
    platform = await returns.compute(None, today)
    # The seller still lent 600,000.00 on the loan's day; the sale is money had today and
    # 700.00 of principal left their book. The buyer lent what they paid, today, for
    # 700.00 of principal at par.
    assert (seller.invested_fen, seller.received_fen, seller.outstanding_principal_fen) == (
        600_000,
        before.received_fen + cost - done.fee_fen,
        before.outstanding_principal_fen - 70_000,
    )
    assert (bought.invested_fen, bought.received_fen, bought.outstanding_principal_fen) == (
        cost,
        0,
        70_000,
    )
    # All lenders pooled: the money changed hands among them, the fee left them.
    assert platform.invested_fen - platform_before.invested_fen == cost
    assert platform.received_fen - platform_before.received_fen == cost - done.fee_fen
    assert platform.outstanding_principal_fen == platform_before.outstanding_principal_fen
