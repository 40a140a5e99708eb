"""Listing, cancelling and buying claims (issue 20, M1.10, M9.1; docs/secondary-market.md).

- `list_claim`: a holder offers principal of their holding at a discount or premium
  within the bounds of `transfers.rules`: the loan REPAYING and not overdue (unless the
  rules allow it), the holding held long enough, at least the minimum unit (or all that
  is left), never more than the outstanding not already listed. Idempotent by key.
- `cancel_listing`: the seller ends an open listing.
- `buy`: a lender asks to buy principal of a listing at the version they saw; checked
  as at confirmation, recorded AWAITING_CONFIRMATION, an SMS code sent; the code
  confirms it (`confirmOperation`) and `_settle` runs in that transaction: the listing
  locked and checked again, the price, accrued interest and fee quoted at that moment
  (`pricing.quote`), the buyer's available balance to the seller (price + accrued) and
  the seller's fee to the fee account (two ledger journals, two provider instructions),
  the holding carved (`split.carve`: the seller's principal target lowered, a new
  holding of the same line for the buyer), the listing's principal lowered. A refusal at
  confirmation is recorded with its code; nothing moves. The platform never buys (R5):
  only a member with the lending verifications may.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from tortoise.transactions import in_transaction

from models.bids import Claim
from models.loans import Loan, LoanStatus
from models.payments import PendingOperation
from models.repayments import InstallmentStatus, LoanInstallment
from models.transfers import ClaimTransfer, ListingStatus, TransferListing, TransferStatus
from services.credit import eligibility, risk_assessment, scoring
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor
from services.loans.bid_checks import lender_outstanding
from services.money import ledger, movements
from services.money.idempotency import run_once, validate_key
from services.money.money import format_money
from services.operations.confirmation import open_operation, send_operation_code
from services.operations.registry import register_operation
from services.platform import clock, outbox, parameters
from services.repayments import holdings, split
from services.transfers import events, policy, pricing

BUY_OPERATION = "buyClaim"


def _refused(message: str, code: str, field: str | None = None) -> DomainError:
    return DomainError(message, code=code, field=field)


async def _outstanding(claim: Claim) -> int:
    had = await holdings.had([claim.id])
    return int(claim.principal_fen) - had[claim.id].principal_fen


async def _listed(claim_id: int, *, but: int | None = None) -> int:
    """What of the holding is offered in open listings (the one being changed aside)."""
    rows = TransferListing.filter(claim_id=claim_id, status=ListingStatus.OPEN)
    if but is not None:
        rows = rows.exclude(id=but)
    return sum(cast(list[int], await rows.values_list("principal_fen", flat=True)))


def tradeable_statuses(rules: policy.Rules) -> tuple[LoanStatus, ...]:
    """The loan statuses whose claims may be listed and bought."""
    if rules.allow_overdue:
        return (LoanStatus.REPAYING, LoanStatus.OVERDUE)
    return (LoanStatus.REPAYING,)


async def tradeable_loan(loan_id: int, rules: policy.Rules) -> Loan:
    loan = await Loan.get(id=loan_id)
    overdue = (
        loan.status == LoanStatus.OVERDUE
        or await LoanInstallment.filter(loan_id=loan_id, status=InstallmentStatus.OVERDUE).exists()
    )
    if overdue and not rules.allow_overdue:
        raise _refused("A claim of an overdue loan cannot be sold", "LOAN_OVERDUE", "claimId")
    if loan.status not in tradeable_statuses(rules):
        raise _refused(f"The loan is {loan.status.lower()}", "LOAN_NOT_REPAYING", "claimId")
    return loan


def _check_rate(rate: Decimal, rules: policy.Rules) -> None:
    if not rules.min_rate <= rate <= rules.max_rate:
        raise InvalidInputError(
            f"The rate must be between {rules.min_rate} and {rules.max_rate}", field="rate"
        )


def _check_amount(amount: int, available: int, rules: policy.Rules, what: str) -> None:
    if amount <= 0:
        raise InvalidInputError("The principal must be positive", field="principal")
    if amount > available:
        raise _refused(
            f"Only {format_money(available)} is left to {what}", "MORE_THAN_AVAILABLE", "principal"
        )
    if amount < rules.min_unit_fen and amount != available:
        raise _refused(
            f"At least {format_money(rules.min_unit_fen)} (or all {format_money(available)})",
            "BELOW_MINIMUM_UNIT",
            "principal",
        )


async def list_claim(
    *, actor: Actor, claim_id: int, principal_fen: int, rate: Decimal, idempotency_key: str
) -> TransferListing:
    """Offer `principal_fen` of the actor's holding `claim_id` at `rate`; see the module
    docstring. NotFoundError for a holding not theirs; DomainError LOAN_NOT_REPAYING,
    LOAN_OVERDUE, HELD_TOO_SHORT, MORE_THAN_AVAILABLE, BELOW_MINIMUM_UNIT;
    InvalidInputError for a rate out of bounds. Nothing changes on a refusal."""
    assert actor.user_id is not None
    seller_id = actor.user_id
    key = validate_key(idempotency_key)
    rules = await parameters.get(policy.RULES)
    _check_rate(rate, rules)

    async def execute(once: Any) -> dict[str, Any]:
        async with in_transaction():
            claim = await Claim.filter(id=claim_id).select_for_update().first()
            if claim is None or claim.holder_id != seller_id:
                raise NotFoundError("No such claim of yours", field="claimId")
            await tradeable_loan(claim.loan_id, rules)
            now = await clock.now()
            if now - claim.created_at < timedelta(days=rules.min_days_held):
                raise _refused(
                    f"A claim may be sold after {rules.min_days_held} days held",
                    "HELD_TOO_SHORT",
                    "claimId",
                )
            free = await _outstanding(claim) - await _listed(claim.id)
            _check_amount(principal_fen, free, rules, "list")
            listing = await TransferListing.create(
                claim_id=claim.id,
                loan_id=claim.loan_id,
                seller_id=seller_id,
                principal_fen=principal_fen,
                listed_fen=principal_fen,
                rate=rate,
                expires_at=now + timedelta(days=rules.listing_days),
                created_at=now,
            )
            await events.enqueue(events.MarketEventKind.LISTED, listing, for_sale_fen=principal_fen)
            await outbox.enqueue(events.LISTED_TOPIC, {"listing_id": listing.id})
            answer = {"listing_id": listing.id}
            await once.complete(answer)
        return answer

    answer = await run_once(
        user_id=seller_id,
        key=key,
        operation="listClaimForTransfer",
        request={"claim_id": claim_id, "principal": principal_fen, "rate": str(rate)},
        execute=execute,
    )
    outbox.wake()
    return await TransferListing.get(id=int(answer["listing_id"]))


async def for_sale(listing: TransferListing) -> int:
    """What of an open listing can be bought now: what it lists, but never more than the
    holding still has outstanding less its other open listings (installments paid since
    it was listed lower the holding's outstanding principal). `views._held` is the
    same for a page of listings."""
    claim = await Claim.get(id=listing.claim_id)
    left = await _outstanding(claim) - await _listed(claim.id, but=listing.id)
    return max(0, min(int(listing.principal_fen), left))


async def _open_listing(listing_id: int, *, lock: bool) -> TransferListing:
    query = TransferListing.filter(id=listing_id)
    listing = await (query.select_for_update() if lock else query).first()
    if listing is None:
        raise NotFoundError("No such listing", field="listingId")
    if listing.status != ListingStatus.OPEN or listing.expires_at <= await clock.now():
        raise _refused("The listing is no longer open", "LISTING_NOT_OPEN", "listingId")
    return listing


async def cancel_listing(*, actor: Actor, listing_id: int) -> TransferListing:
    """End the actor's open listing. NotFoundError for a listing not theirs; DomainError
    LISTING_NOT_OPEN."""
    async with in_transaction():
        listing = await TransferListing.filter(id=listing_id).select_for_update().first()
        if listing is None or listing.seller_id != actor.user_id:
            raise NotFoundError("No such listing of yours", field="listingId")
        if listing.status != ListingStatus.OPEN:
            raise _refused("The listing is no longer open", "LISTING_NOT_OPEN", "listingId")
        listing.status = ListingStatus.CANCELLED
        listing.ended_at = await clock.now()
        listing.version += 1
        await listing.save(update_fields=["status", "ended_at", "version"])
        await events.enqueue(events.MarketEventKind.CANCELLED, listing, for_sale_fen=0)
    outbox.wake()
    return listing


# --- buying ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Terms:
    loan: Loan
    quote: pricing.Quote
    rows: list[LoanInstallment]


def accrual(
    loan: Loan, rows: list[LoanInstallment], on: datetime
) -> tuple[pricing.Period, int] | None:
    """The installment period a purchase at `on` falls in (from the last due date, or the
    disbursement, to the next open installment's due date) and the loan's outstanding
    principal; None when no installment is open. `rows` by number."""
    open_rows = [row for row in rows if row.status != InstallmentStatus.PAID]
    if not open_rows:
        return None
    following = open_rows[0]
    earlier = [row.due_date for row in rows if row.number < following.number]
    start = earlier[-1] if earlier else (loan.disbursed_at or loan.closed_at or on).date()
    outstanding = loan.amount_fen - sum(row.paid_principal_fen for row in rows)
    return pricing.Period(start, following.due_date, following.interest_fen), outstanding


async def terms_at(listing: TransferListing, principal: int, on: datetime) -> _Terms:
    """The terms of buying `principal` of `listing` at the moment `on` (its `quote`:
    price, accrued interest, fee, what the buyer pays). DomainError LOAN_NOT_REPAYING
    when the loan has nothing left to pay."""
    loan = await Loan.get(id=listing.loan_id)
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    found = accrual(loan, rows, on)
    if found is None:
        raise _refused("The loan is settled", "LOAN_NOT_REPAYING", "listingId")
    period, outstanding = found
    quote = pricing.quote(
        principal_fen=principal,
        rate=listing.rate,
        fee_rate=(await parameters.get(policy.RULES)).fee_rate,
        loan_outstanding_fen=outstanding,
        period=period,
        on=on.date(),
    )
    return _Terms(loan=loan, quote=quote, rows=rows)


async def _check_buyer(
    buyer_id: int, listing: TransferListing, principal: int, version: int | None
) -> _Terms:
    """Everything a purchase is checked for, as of now; the terms it would have."""
    rules = await parameters.get(policy.RULES)
    if version is not None and version != listing.version:
        raise _refused(
            "The listing changed since you saw it: look again", "LISTING_CHANGED", "version"
        )
    if buyer_id == listing.seller_id:
        raise _refused("You cannot buy your own listing", "OWN_LISTING", "listingId")
    loan = await tradeable_loan(listing.loan_id, rules)
    if buyer_id == loan.borrower_id:
        raise _refused("You cannot buy a claim on your own loan", "OWN_LOAN", "listingId")
    _check_amount(principal, await for_sale(listing), rules, "buy")
    await eligibility.check_may_lend(buyer_id)
    grade = (await scoring.profile_for(loan.borrower_id)).grade
    await risk_assessment.check_lender_may_bid(
        buyer_id, principal, grade, await lender_outstanding(buyer_id)
    )
    terms = await terms_at(listing, principal, await clock.now())
    balance = (await ledger.member_balances(buyer_id))["available"]
    if balance < terms.quote.buyer_pays_fen:
        raise _refused(
            f"Only {format_money(balance)} is available;"
            f" {format_money(terms.quote.buyer_pays_fen)} is needed",
            "INSUFFICIENT_FUNDS",
            "principal",
        )
    return terms


async def buy(
    *, actor: Actor, listing_id: int, principal_fen: int, version: int, idempotency_key: str
) -> ClaimTransfer:
    """Ask to buy `principal_fen` of a listing as of its `version`: checked now (as again
    at confirmation), recorded AWAITING_CONFIRMATION and an SMS code sent. Idempotent by
    key. NotFoundError, DomainError LISTING_NOT_OPEN, LISTING_CHANGED, OWN_LISTING,
    OWN_LOAN, LOAN_NOT_REPAYING, LOAN_OVERDUE, MORE_THAN_AVAILABLE, BELOW_MINIMUM_UNIT,
    INSUFFICIENT_FUNDS, the lending verifications' and R4's codes."""
    assert actor.user_id is not None
    buyer_id = actor.user_id
    key = validate_key(idempotency_key)

    async def execute(once: Any) -> dict[str, Any]:
        async with in_transaction():
            listing = await _open_listing(listing_id, lock=False)
            terms = await _check_buyer(buyer_id, listing, principal_fen, version)
            transfer = await ClaimTransfer.create(
                listing_id=listing.id,
                loan_id=listing.loan_id,
                seller_id=listing.seller_id,
                buyer_id=buyer_id,
                requested_fen=principal_fen,
                listing_version=listing.version,
                seller_claim_id=listing.claim_id,
                created_at=await clock.now(),
            )
            operation = await open_operation(
                user_id=buyer_id,
                kind=BUY_OPERATION,
                target_id=transfer.id,
                amount=terms.quote.buyer_pays_fen,
                counterparty=f"listing:{listing.id}",
            )
            transfer.operation_id = operation.id
            await transfer.save(update_fields=["operation_id"])
            answer = {"transfer_id": transfer.id}
            await once.complete(answer)
        await send_operation_code(operation)
        return answer

    answer = await run_once(
        user_id=buyer_id,
        key=key,
        operation="buyClaim",
        request={"listing_id": listing_id, "principal": principal_fen, "version": version},
        execute=execute,
    )
    return await ClaimTransfer.get(id=int(answer["transfer_id"]))


async def _carve(listing: TransferListing, buyer_id: int, principal: int, now: datetime) -> Claim:
    """The seller's holding less `principal`, the buyer's new holding of the same line,
    every holding of the line given its interest target (`split.carve`). Every holding of
    the loan is passed: the line's interest target is its share of the loan's whole, as
    the split pays it (given the line alone, the line would be taken for the whole loan
    and its holdings' stored targets would be out of scale, though in proportion)."""
    seller = await Claim.get(id=listing.claim_id)
    line = seller.line_id or seller.id
    claims = await Claim.filter(loan_id=listing.loan_id).order_by("id")
    received_principal, received_interest = await holdings.received(claims)
    total_interest = holdings.total_interest(await LoanInstallment.filter(loan_id=listing.loan_id))
    fixed, carved = split.carve(
        holdings.as_holdings(claims, received_principal, received_interest),
        [claim.id for claim in claims].index(seller.id),
        principal,
        total_interest,
    )
    for claim, holding in zip(claims, fixed, strict=True):
        if holding.line == line:
            await Claim.filter(id=claim.id).update(
                principal_fen=holding.principal_fen, interest_share_fen=holding.interest_share_fen
            )
    return await Claim.create(
        loan_id=listing.loan_id,
        holder_id=buyer_id,
        bid_id=None,
        principal_fen=carved.bought.principal_fen,
        line_id=line,
        interest_share_fen=carved.bought.interest_share_fen,
        created_at=now,
    )


async def _complete(transfer: ClaimTransfer, listing: TransferListing) -> ClaimTransfer:
    """The purchase, in the caller's transaction, the listing row locked: checked again,
    quoted now, paid, the holding carved; its contract is made after the commit by the
    event's handler, not here under the listing's lock (`services.transfers.contracting`).

    The loan's row is locked first, as a repayment's settlement, the day batch and the
    reserve's advance lock it: a purchase carves the holding from what it has had, so a
    payment to the same loan must not be split among the holdings meanwhile (it waits,
    and is then split among the holdings as carved). Locks: the listing, then the loan."""
    await Loan.filter(id=listing.loan_id).select_for_update().first()
    terms = await _check_buyer(
        transfer.buyer_id, listing, transfer.requested_fen, transfer.listing_version
    )
    quote = terms.quote
    now = await clock.now()
    reference = f"claim-transfer:{transfer.id}"
    await movements.transfer(
        from_user_id=transfer.buyer_id,
        to_user_id=transfer.seller_id,
        amount=quote.buyer_pays_fen,
        reference=f"{reference}:price",
        kind="claim_transfer",
    )
    if quote.fee_fen:
        await movements.transfer(
            from_user_id=transfer.seller_id,
            to_user_id=None,
            to_platform=ledger.FEE,
            amount=quote.fee_fen,
            reference=f"{reference}:fee",
            kind="transfer_fee",
        )
    available = await for_sale(listing)  # checked above: at least the principal bought
    bought = await _carve(listing, transfer.buyer_id, quote.principal_fen, now)
    listing.principal_fen = available - quote.principal_fen
    listing.sold_fen += quote.principal_fen
    if listing.principal_fen == 0:
        listing.status = ListingStatus.SOLD
        listing.ended_at = now
    await listing.save(update_fields=["principal_fen", "sold_fen", "status", "ended_at"])
    await events.enqueue(
        events.MarketEventKind.SOLD,
        listing,
        for_sale_fen=listing.principal_fen,
        principal_fen=quote.principal_fen,
    )
    transfer.status = TransferStatus.DONE
    transfer.principal_fen = quote.principal_fen
    transfer.price_fen = quote.price_fen
    transfer.accrued_interest_fen = quote.accrued_interest_fen
    transfer.fee_fen = quote.fee_fen
    transfer.buyer_claim_id = bought.id
    transfer.decided_at = now
    await transfer.save()
    await outbox.enqueue(events.CONTRACT_TOPIC, {"transfer_id": transfer.id})
    return transfer


async def _settle(operation: PendingOperation) -> ClaimTransfer:
    """The SMS code was right: the purchase, in the confirming transaction."""
    transfer = await ClaimTransfer.get(id=operation.target_id)
    listing = await _open_listing(transfer.listing_id, lock=True)
    return await _complete(transfer, listing)


async def purchase_now(
    *, buyer_id: int, listing: TransferListing, principal_fen: int, rule_id: int
) -> ClaimTransfer:
    """A purchase without an SMS code, in the caller's transaction: an automatic bidding
    rule's (`services.transfers.autobuy`), whose opt-in was confirmed by SMS. Every check
    of a purchase holds; DomainError as `buy` and nothing written on a refusal (the
    caller's savepoint)."""
    locked = await _open_listing(listing.id, lock=True)
    transfer = await ClaimTransfer.create(
        listing_id=locked.id,
        loan_id=locked.loan_id,
        seller_id=locked.seller_id,
        buyer_id=buyer_id,
        requested_fen=principal_fen,
        listing_version=locked.version,
        seller_claim_id=locked.claim_id,
        auto_rule_id=rule_id,
        created_at=await clock.now(),
    )
    return await _complete(transfer, locked)


async def _refuse(operation: PendingOperation, error: DomainError) -> None:
    await ClaimTransfer.filter(
        id=operation.target_id, status=TransferStatus.AWAITING_CONFIRMATION
    ).update(status=TransferStatus.REFUSED, refusal=error.code, decided_at=await clock.now())


async def _cancel(operation: PendingOperation) -> None:
    await ClaimTransfer.filter(
        id=operation.target_id, status=TransferStatus.AWAITING_CONFIRMATION
    ).update(status=TransferStatus.CANCELLED, decided_at=await clock.now())


async def _describe(operation: PendingOperation) -> str:
    transfer = await ClaimTransfer.get(id=operation.target_id)
    return (
        f"[LendBridge] Code {{code}} confirms buying {format_money(transfer.requested_fen)}"
        f" of a claim on loan {transfer.loan_id} for about {format_money(operation.amount)}."
        " Do not share it."
    )


register_operation(
    BUY_OPERATION, execute=_settle, refuse=_refuse, cancel=_cancel, describe=_describe
)
