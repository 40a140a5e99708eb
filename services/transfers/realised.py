"""The seller's realised XIRR a listing shows: what the seller earns on the holding if
they sell everything it still has outstanding at the listing's rate today.

The holding's money, dated: what it cost (an original claim: its principal, the part
sold since included, on the loan's disbursement day; a holding bought on the market:
the price and accrued interest paid, on the purchase day), every receipt its holder had
(own receipts and the risk reserve's advances, on their days), what earlier sales of
parts of it brought the seller (price + accrued - fee, on their days), and today the
sale of all it still has outstanding at the listing's rate: price + accrued interest -
fee, as `pricing.quote` would make them now. None when there is nothing to sell or no
rate solves it.

For a page of listings in four statements (the holdings' sales and purchases, their
receipts, their advances; the claims and loans come with the page).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from models.bids import Claim
from models.loans import Loan
from models.repayments import LoanInstallment, Receipt, ReserveAdvance
from models.transfers import ClaimTransfer, TransferListing, TransferStatus
from services.money.xirr import Flow, xirr
from services.transfers import market, pricing


async def _flows(claims: dict[int, Claim], loans: dict[int, Loan]) -> dict[int, list[Flow]]:
    """Each holding's dated flows so far, seen by its holder (negative: paid out)."""
    ids = sorted(claims)
    flows: dict[int, list[Flow]] = defaultdict(list)
    sold_principal: dict[int, int] = defaultdict(int)
    bought: set[int] = set()
    for row in await ClaimTransfer.filter(status=TransferStatus.DONE).filter(
        seller_claim_id__in=ids
    ):
        assert row.decided_at is not None
        sold_principal[row.seller_claim_id] += row.principal_fen
        flows[row.seller_claim_id].append(
            (row.decided_at.date(), row.price_fen + row.accrued_interest_fen - row.fee_fen)
        )
    for row in await ClaimTransfer.filter(status=TransferStatus.DONE, buyer_claim_id__in=ids):
        assert row.decided_at is not None
        assert row.buyer_claim_id is not None
        bought.add(row.buyer_claim_id)
        flows[row.buyer_claim_id].append(
            (row.decided_at.date(), -(row.price_fen + row.accrued_interest_fen))
        )
    for claim_id, claim in claims.items():
        if claim_id in bought:
            continue
        loan = loans[claim.loan_id]
        lent_on = (loan.disbursed_at or claim.created_at).date()
        flows[claim_id].append((lent_on, -(claim.principal_fen + sold_principal[claim_id])))
    for claim_id, at, principal, interest, penalty in await Receipt.filter(
        claim_id__in=ids, to_reserve=False
    ).values_list("claim_id", "created_at", "principal_fen", "interest_fen", "penalty_fen"):
        flows[int(claim_id)].append((at.date(), int(principal + interest + penalty)))
    for claim_id, at, principal, interest, penalty in await ReserveAdvance.filter(
        claim_id__in=ids
    ).values_list("claim_id", "created_at", "principal_fen", "interest_fen", "penalty_fen"):
        flows[int(claim_id)].append((at.date(), int(principal + interest + penalty)))
    return flows


async def seller_xirrs(
    listings: list[TransferListing],
    claims: dict[int, Claim],
    outstanding: dict[int, int],
    loans: dict[int, Loan],
    schedules: dict[int, list[LoanInstallment]],
    fee_rate: Decimal,
    now: datetime,
) -> dict[int, float | None]:
    """Listing id -> the seller's realised XIRR (see the module docstring); `outstanding`
    is each holding's outstanding principal."""
    flows = await _flows(claims, loans)
    found: dict[int, float | None] = {}
    for listing in listings:
        left = outstanding[listing.claim_id]
        accrual = market.accrual(loans[listing.loan_id], schedules[listing.loan_id], now)
        if left <= 0 or accrual is None or left > accrual[1]:
            found[listing.id] = None
            continue
        period, loan_outstanding = accrual
        quote = pricing.quote(
            principal_fen=left,
            rate=Decimal(listing.rate),
            fee_rate=fee_rate,
            loan_outstanding_fen=loan_outstanding,
            period=period,
            on=now.date(),
        )
        sale = quote.seller_receives_fen
        found[listing.id] = xirr([*flows[listing.claim_id], (now.date(), sale)])
    return found
