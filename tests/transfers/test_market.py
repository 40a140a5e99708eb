"""Issue 20: claims sold on the secondary market, through the services.

A loan of 10,000.00 at 12 % over 12 months held 3,000 / 3,000 / 4,000 by lenders A, B
and C. Between installments 3 and 4, A sells 1,500.00 of their claim in three pieces to
two buyers (D, E, D); after an early partial repayment (two installments ahead) A sells
500.00 more to E. Every holder's receipts are checked to the fen: each holding's
principal exactly; B's and C's interest exactly their largest-remainder share, as if
nothing was sold; A's line (A, D, E) exactly A's share between them, and each buyer's
interest within a fen per payment of an independent exact calculation (their part of
the loan's outstanding principal at each payment). Each purchase's price, accrued
interest and fee to the fen; ledger balanced and equal to the provider. Then the bad
inputs: each refused with its code, nothing changed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from models.bids import Claim
from models.loans import Loan
from models.repayments import LoanInstallment, Receipt
from models.transfers import ClaimTransfer, ListingStatus, TransferListing, TransferStatus
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.money import ledger
from services.money.money import allocate
from services.operations import confirmation
from services.platform import clock
from services.repayments import service as repayments_service
from services.repayments.due import RepayMode
from services.transfers import ending, market, views
from simulation import holding_checks
from tests.conftest import BACKEND
from tests.lending import (
    assert_ledger_matches_provider,
    code_for,
    deposit_by_card,
    member_actor,
    move_clock_to,
    ready_lender,
    repay_confirmed,
    repaying_loan,
    settle_everything,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SHARES = (300_000, 300_000, 400_000)
RATE = Decimal("-0.0200")
FEE_RATE = Fraction(5, 1000)  # transfers.rules' default fee


def _key() -> str:
    return uuid.uuid4().hex[:16]


def _half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2)


async def _rows(loan_id: int) -> list[LoanInstallment]:
    return await LoanInstallment.filter(loan_id=loan_id).order_by("number")


async def _expected_quote(listing: TransferListing, principal: int) -> tuple[int, int, int]:
    """Price, accrued interest and fee, computed here from the schedule."""
    rows = await _rows(listing.loan_id)
    loan = await Loan.get(id=listing.loan_id)
    following = next(row for row in rows if row.status != "PAID")
    start = max(row.due_date for row in rows if row.number < following.number)
    outstanding = loan.amount_fen - sum(row.paid_principal_fen for row in rows)
    today = await clock.today()
    length = (following.due_date - start).days
    # Installments repaid ahead: the period starts in the future and nothing accrued yet.
    elapsed = Fraction(min(max((today - start).days, 0), length), length)
    accrued = _half_up(Fraction(following.interest_fen * principal, outstanding) * elapsed)
    price = _half_up(Fraction(principal) * (1 + Fraction(listing.rate)))
    return price, accrued, _half_up(price * FEE_RATE)


async def _buy(buyer: tuple[Any, str], listing_id: int, principal: int) -> ClaimTransfer:
    user, phone = buyer
    listing = await TransferListing.get(id=listing_id)
    asked = await market.buy(
        actor=member_actor(user.id),
        listing_id=listing_id,
        principal_fen=principal,
        version=listing.version,
        idempotency_key=_key(),
    )
    await confirmation.confirm_operation(
        actor=member_actor(user.id),
        operation_id=str(asked.operation_id),
        code=await code_for(phone),
    )
    return await ClaimTransfer.get(id=asked.id)


async def _list(seller: Any, claim_id: int, principal: int) -> TransferListing:
    return await market.list_claim(
        actor=member_actor(seller.id),
        claim_id=claim_id,
        principal_fen=principal,
        rate=RATE,
        idempotency_key=_key(),
    )


async def _sell(seller: Any, claim_id: int, pieces: list[tuple[tuple[Any, str], int]]) -> None:
    """List the pieces' total, sell each piece; check each purchase's money to the fen."""
    listing = await _list(seller, claim_id, sum(principal for _buyer, principal in pieces))
    for buyer, principal in pieces:
        price, accrued, fee = await _expected_quote(
            await TransferListing.get(id=listing.id), principal
        )
        buyer_before = (await ledger.member_balances(buyer[0].id))["available"]
        seller_before = (await ledger.member_balances(seller.id))["available"]
        fees_before = await ledger.balance(ledger.FEE)
        done = await _buy(buyer, listing.id, principal)
        assert done.status == TransferStatus.DONE
        assert (done.principal_fen, done.price_fen, done.accrued_interest_fen, done.fee_fen) == (
            principal,
            price,
            accrued,
            fee,
        )
        assert (await ledger.member_balances(buyer[0].id))[
            "available"
        ] == buyer_before - price - accrued
        assert (await ledger.member_balances(seller.id))["available"] == (
            seller_before + price + accrued - fee
        )
        assert await ledger.balance(ledger.FEE) == fees_before + fee
    listing = await TransferListing.get(id=listing.id)
    assert (listing.status, listing.principal_fen) == (ListingStatus.SOLD, 0)


async def _pay_on_due(
    made: Any, sandbox: Any, *, mode: RepayMode = RepayMode.NEXT, count: int | None = None
) -> None:
    following = next(row for row in await _rows(made.loan.id) if row.status != "PAID")
    await move_clock_to(following.due_date)
    await deposit_by_card(made.borrower.id, 200_000)
    await repay_confirmed(made.borrower.id, made.borrower_phone, made.loan.id, mode, count)
    await settle_everything(sandbox)


async def test_a_claim_sold_in_pieces_pays_every_holder_to_the_fen(app, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (a, _), (b, _), (c, _) = made.lenders
    a_claim = await Claim.get(loan_id=made.loan.id, holder_id=a.id)
    d, e = (
        await ready_lender(2_000_000, name="Buyer D"),
        await ready_lender(2_000_000, name="Buyer E"),
    )
    for _ in range(3):
        await _pay_on_due(made, sandbox)
    await move_clock_to(await clock.today() + timedelta(days=10))
    await _sell(a, a_claim.id, [(d, 70_000), (e, 60_000), (d, 20_000)])
    await _pay_on_due(made, sandbox)
    # An early partial repayment: the next two installments, five days after one was due.
    await move_clock_to(await clock.today() + timedelta(days=5))
    await deposit_by_card(made.borrower.id, 300_000)
    await repay_confirmed(made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.COUNT, 2)
    await settle_everything(sandbox)
    await move_clock_to(await clock.today() + timedelta(days=3))
    await _sell(a, a_claim.id, [(e, 50_000)])
    while any(row.status != "PAID" for row in await _rows(made.loan.id)):
        await _pay_on_due(made, sandbox)

    holdings = await Claim.filter(loan_id=made.loan.id).order_by("id")
    assert [(h.holder_id, h.principal_fen) for h in holdings] == [
        (a.id, 100_000),
        (b.id, 300_000),
        (c.id, 400_000),
        (d[0].id, 70_000),
        (e[0].id, 60_000),
        (d[0].id, 20_000),
        (e[0].id, 50_000),
    ]
    receipts = await Receipt.filter(loan_id=made.loan.id).order_by("id")
    by_claim: dict[int, list[Receipt]] = {}
    for receipt in receipts:
        by_claim.setdefault(receipt.claim_id, []).append(receipt)
    for holding in holdings:  # every holding exactly its principal
        assert sum(r.principal_fen for r in by_claim[holding.id]) == holding.principal_fen
    interest = sum(r.interest_fen for r in receipts)
    expected = allocate(interest, list(SHARES))
    got = {h.id: sum(r.interest_fen for r in by_claim[h.id]) for h in holdings}
    line = [h.id for h in holdings if (h.line_id or h.id) == a_claim.id]
    assert got[holdings[1].id] == expected[1]  # B, as if nothing was sold
    assert got[holdings[2].id] == expected[2]  # C
    assert sum(got[i] for i in line) == expected[0]  # A's line between A, D and E
    # Each bought holding's interest against an exact calculation: at each payment of
    # interest, its part of the loan's outstanding principal at that moment.
    payments = sorted({r.repayment_id for r in receipts})
    for holding in holdings[3:]:
        exact = Fraction(0)
        held = holding.principal_fen
        for repayment_id in payments:
            part = [r for r in receipts if r.repayment_id == repayment_id]
            if holding.id not in {r.claim_id for r in part}:
                continue
            loan_outstanding = made.loan.amount_fen - sum(
                r.principal_fen for r in receipts if r.repayment_id < repayment_id
            )
            exact += Fraction(sum(r.interest_fen for r in part) * held, loan_outstanding)
            held -= sum(r.principal_fen for r in part if r.claim_id == holding.id)
        assert abs(got[holding.id] - exact) <= 2 * len(payments), (
            holding.id,
            got[holding.id],
            exact,
        )
    members = [made.borrower.id, a.id, b.id, c.id, d[0].id, e[0].id]
    await assert_ledger_matches_provider(sandbox, members)


async def test_bad_listings_and_purchases_are_refused_and_change_nothing(app, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (a, a_phone), (b, _), _c = made.lenders
    a_claim = await Claim.get(loan_id=made.loan.id, holder_id=a.id)
    buyer = await ready_lender(2_000_000, name="Buyer")

    with pytest.raises(DomainError) as held:  # not held 30 days yet
        await _list(a, a_claim.id, 100_000)
    assert held.value.code == "HELD_TOO_SHORT"
    await _pay_on_due(made, sandbox)
    await move_clock_to(await clock.today() + timedelta(days=1))
    refusals = [
        (a, a_claim.id, 400_000, RATE, "MORE_THAN_AVAILABLE"),
        (a, a_claim.id, 5_000, RATE, "BELOW_MINIMUM_UNIT"),
        (a, a_claim.id, 100_000, Decimal("-0.5"), "INVALID"),
        (a, a_claim.id, 100_000, Decimal("0.06"), "INVALID"),
        (b, a_claim.id, 100_000, RATE, "NOT_FOUND"),  # not B's claim
    ]
    for seller, claim_id, principal, rate, code in refusals:
        with pytest.raises((DomainError, InvalidInputError, NotFoundError)) as refused:
            await market.list_claim(
                actor=member_actor(seller.id),
                claim_id=claim_id,
                principal_fen=principal,
                rate=rate,
                idempotency_key=_key(),
            )
        assert refused.value.code == code, (principal, rate, refused.value.code)
    assert not await TransferListing.exists()

    listing = await _list(a, a_claim.id, 100_000)
    with pytest.raises(DomainError) as twice:  # the rest of A's outstanding is less
        await _list(a, a_claim.id, a_claim.principal_fen)
    assert twice.value.code == "MORE_THAN_AVAILABLE"
    before = await ledger.member_balances(buyer[0].id)
    for who, principal, version, code in [
        (a, 50_000, listing.version, "OWN_LISTING"),
        (made.borrower, 50_000, listing.version, "OWN_LOAN"),
        (buyer[0], 150_000, listing.version, "MORE_THAN_AVAILABLE"),
        (buyer[0], 5_000, listing.version, "BELOW_MINIMUM_UNIT"),
        (buyer[0], 50_000, listing.version + 1, "LISTING_CHANGED"),
    ]:
        with pytest.raises(DomainError) as refused:
            await market.buy(
                actor=member_actor(who.id),
                listing_id=listing.id,
                principal_fen=principal,
                version=version,
                idempotency_key=_key(),
            )
        assert refused.value.code == code
    assert not await ClaimTransfer.exists()
    assert await ledger.member_balances(buyer[0].id) == before

    # Bought by another between the ask and the code: the loser is told, nothing moves.
    first = await market.buy(
        actor=member_actor(buyer[0].id),
        listing_id=listing.id,
        principal_fen=100_000,
        version=listing.version,
        idempotency_key=_key(),
    )
    other = await ready_lender(2_000_000, name="Other buyer")
    await _buy(other, listing.id, 100_000)
    with pytest.raises(DomainError) as late:
        await confirmation.confirm_operation(
            actor=member_actor(buyer[0].id),
            operation_id=str(first.operation_id),
            code=await code_for(buyer[1]),
        )
    assert late.value.code == "LISTING_NOT_OPEN"
    assert (await ClaimTransfer.get(id=first.id)).status == TransferStatus.REFUSED
    assert await ledger.member_balances(buyer[0].id) == before

    second = await _list(a, a_claim.id, 50_000)
    cancelled = await market.cancel_listing(actor=member_actor(a.id), listing_id=second.id)
    assert cancelled.status == ListingStatus.CANCELLED
    with pytest.raises(DomainError) as gone:
        await market.cancel_listing(actor=member_actor(a.id), listing_id=second.id)
    assert gone.value.code == "LISTING_NOT_OPEN"
    del a_phone
    await assert_ledger_matches_provider(sandbox, [a.id, buyer[0].id, other[0].id])


BUYERS = 50 if BACKEND == "postgres" else 12


async def test_concurrent_buyers_never_take_more_than_listed(app, scripted):
    # 50 buyers (PostgreSQL: the listing's row lock does the work) confirm at once for
    # 100.00 each of a listing of 1,000.00: ten are served, the others told why and
    # charged nothing; the ledger balances and equals the provider.
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (a, _), _b, _c = made.lenders
    a_claim = await Claim.get(loan_id=made.loan.id, holder_id=a.id)
    await _pay_on_due(made, sandbox)
    listing = await _list(a, a_claim.id, 100_000)
    buyers = [await ready_lender(50_000, name=f"Buyer {n:02d}") for n in range(BUYERS)]
    asked = [
        await market.buy(
            actor=member_actor(user.id),
            listing_id=listing.id,
            principal_fen=10_000,
            version=listing.version,
            idempotency_key=_key(),
        )
        for user, _phone in buyers
    ]
    codes = [await code_for(phone) for _user, phone in buyers]

    async def confirm(transfer: ClaimTransfer, code: str) -> str:
        try:
            await confirmation.confirm_operation(
                actor=member_actor(transfer.buyer_id),
                operation_id=str(transfer.operation_id),
                code=code,
            )
        except DomainError as error:
            return error.code
        return "DONE"

    outcomes = await asyncio.gather(
        *(confirm(transfer, code) for transfer, code in zip(asked, codes, strict=True))
    )
    assert outcomes.count("DONE") == 10
    assert set(outcomes) <= {"DONE", "MORE_THAN_AVAILABLE", "LISTING_NOT_OPEN"}, set(outcomes)
    listing = await TransferListing.get(id=listing.id)
    assert (listing.status, listing.principal_fen, listing.sold_fen) == (
        ListingStatus.SOLD,
        0,
        100_000,
    )
    bought = await Claim.filter(loan_id=made.loan.id, line_id=a_claim.id)
    assert sum(claim.principal_fen for claim in bought) == 100_000
    for (user, _phone), outcome in zip(buyers, outcomes, strict=True):
        if outcome != "DONE":
            assert (await ledger.member_balances(user.id))["available"] == 50_000
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [a.id, *(user.id for user, _ in buyers)])


async def test_an_installment_paid_while_listed_lowers_what_can_be_bought(app, scripted):
    # A lists all they have outstanding; the next installment repays some of it: the
    # listing offers only what A still has, and buying more is refused, not a crash.
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (a, _), _b, _c = made.lenders
    a_claim = await Claim.get(loan_id=made.loan.id, holder_id=a.id)
    await _pay_on_due(made, sandbox)
    following = next(row for row in await _rows(made.loan.id) if row.status != "PAID")
    await move_clock_to(following.due_date - timedelta(days=3))  # listed 30 days: still open
    had = sum(await Receipt.filter(claim_id=a_claim.id).values_list("principal_fen", flat=True))
    listing = await _list(a, a_claim.id, a_claim.principal_fen - had)
    await _pay_on_due(made, sandbox)
    now_had = sum(await Receipt.filter(claim_id=a_claim.id).values_list("principal_fen", flat=True))
    left = a_claim.principal_fen - now_had
    assert left < listing.principal_fen
    assert await market.for_sale(await TransferListing.get(id=listing.id)) == left
    (shown,) = await views.views_of([await TransferListing.get(id=listing.id)])
    assert shown.for_sale_fen == left  # what the market shows too
    buyer = await ready_lender(2_000_000, name="Buyer")
    with pytest.raises(DomainError) as more:
        await market.buy(
            actor=member_actor(buyer[0].id),
            listing_id=listing.id,
            principal_fen=listing.principal_fen,
            version=listing.version,
            idempotency_key=_key(),
        )
    assert more.value.code == "MORE_THAN_AVAILABLE"
    done = await _buy(buyer, listing.id, left)
    assert done.principal_fen == left
    listing = await TransferListing.get(id=listing.id)
    assert (listing.status, listing.principal_fen) == (ListingStatus.SOLD, 0)
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [a.id, buyer[0].id])


async def test_listings_that_can_no_longer_sell_are_ended_once(app, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (a, _), (b, _), _c = made.lenders
    a_claim = await Claim.get(loan_id=made.loan.id, holder_id=a.id)
    b_claim = await Claim.get(loan_id=made.loan.id, holder_id=b.id)
    await _pay_on_due(made, sandbox)
    expiring = await _list(a, a_claim.id, 50_000)
    await move_clock_to(expiring.expires_at.date() + timedelta(days=1))
    lasting = await _list(b, b_claim.id, 50_000)
    assert await ending.end_listings() == 1
    expired = await TransferListing.get(id=expiring.id)
    assert (expired.status, expired.end_reason, expired.version) == (
        ListingStatus.ENDED,
        "EXPIRED",
        2,
    )
    assert await ending.end_listings() == 0  # a second run changes nothing
    # Repaid early in full: the loan is settled, the other listing cannot sell either.
    await deposit_by_card(made.borrower.id, 1_500_000)
    await repay_confirmed(made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.EARLY_FULL)
    await settle_everything(sandbox)
    assert (await views.open_listings(views.ListingFilter(), first=10, after=None)).total == 0
    assert await ending.end_listings() == 1
    ended = await TransferListing.get(id=lasting.id)
    assert (ended.status, ended.end_reason) == (ListingStatus.ENDED, "LOAN_NOT_REPAYING")


async def test_a_purchase_and_a_repayment_at_the_same_moment_keep_every_holding_exact(
    app, scripted
):
    # A lists all they have outstanding; on the due date the buyer's purchase and the
    # borrower's installment are confirmed at the same moment, three times over. The
    # purchase locks the loan as a settlement does: the payment is split among the
    # holdings as they were before the sale or after it, never half of each, so no
    # holding ever had more principal than it is to have, and the holdings' outstanding
    # principal adds up to the loan's.
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (a, _), _b, _c = made.lenders
    a_claim = await Claim.get(loan_id=made.loan.id, holder_id=a.id)
    buyer = await ready_lender(2_000_000, name="Buyer")
    await _pay_on_due(made, sandbox)
    for _round in range(3):
        following = next(row for row in await _rows(made.loan.id) if row.status != "PAID")
        await move_clock_to(following.due_date)
        had = sum(await Receipt.filter(claim_id=a_claim.id).values_list("principal_fen", flat=True))
        await a_claim.refresh_from_db()
        listing = await _list(a, a_claim.id, (a_claim.principal_fen - had) // 2)
        await deposit_by_card(made.borrower.id, 200_000)
        asked_repay = await repayments_service.repay(
            actor=member_actor(made.borrower.id),
            loan_id=made.loan.id,
            mode=RepayMode.NEXT,
            count=None,
            idempotency_key=_key(),
        )
        repay_code = await code_for(made.borrower_phone)
        asked_buy = await market.buy(
            actor=member_actor(buyer[0].id),
            listing_id=listing.id,
            principal_fen=listing.principal_fen,
            version=listing.version,
            idempotency_key=_key(),
        )
        buy_code = await code_for(buyer[1])
        outcomes = await asyncio.gather(
            confirmation.confirm_operation(
                actor=member_actor(made.borrower.id),
                operation_id=str(asked_repay.operation_id),
                code=repay_code,
            ),
            confirmation.confirm_operation(
                actor=member_actor(buyer[0].id),
                operation_id=str(asked_buy.operation_id),
                code=buy_code,
            ),
            return_exceptions=True,
        )
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        # The payment lowers A's outstanding under what was listed only if it came
        # first; then the purchase is refused, told why.
        assert all(isinstance(o, DomainError) and o.code == "MORE_THAN_AVAILABLE" for o in refused)
        await settle_everything(sandbox)
        rows = await holding_checks.holding_rows([made.loan.id])
        got: dict[int, list[int]] = {}
        for claim_id, principal in await Receipt.filter(loan_id=made.loan.id).values_list(
            "claim_id", "principal_fen"
        ):
            got.setdefault(claim_id, [0, 0, 0])[0] += principal
        holding_checks.check(
            rows,
            holding_checks.Received(got=got, had={k: v[:2] for k, v in got.items()}),
            await holding_checks.read_loans([made.loan.id]),
            [],
            {},
        )
    await assert_ledger_matches_provider(sandbox, [a.id, buyer[0].id, made.borrower.id])
