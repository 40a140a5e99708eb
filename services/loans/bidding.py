"""Bidding on listed loans (M1.7, M1.8, R2, R4): accepting bids, full, failed, disbursed.

Every bid, manual or automatic, is accepted by `accept` and only there. Without
locking the loan it checks the loan is LISTED and its window open (business clock),
that the lender is not the borrower and has the verifications the catalogue requires
for lending approved (`eligibility.check_may_lend`), the lender's R4 tier (cap and
grades) and balance (services/loans/bid_checks.py); the amount is trimmed to what the
loan still needs as read (a bid for more than is left is accepted for the rest, never
refused for it; nothing is left, LOAN_FULL); it freezes the money at the provider
(ledger journal + payment instruction, in the same transaction); and only then touches
the loan row, once, with a conditional UPDATE (services/loans/funding.py) that adds the
amount while it fits. When other bids took the room meanwhile, the row is locked, the
bid trimmed to what is left and the rest of its freeze released (`bid:<id>:trim`), or
it is refused LOAN_FULL with nothing kept. The database refuses funding past the
amount (CHECK constraint), so a loan is never funded past its amount whatever runs
concurrently. The bid that fills the loan closes bidding at once (FULL)
and queues the loan contract (services/loans/contracting.py: each lender's confirmed
bid is their consent, the borrower is asked to sign); the disbursement waits for that
signature.

Manual bids are second-confirmed: `place_bid` checks what it can and sends an SMS code
bound to the bid; `confirmOperation` with it calls `accept`. Bids below the loan's
minimum are refused, except a bid for exactly what is left.

Disbursement, once the borrower has signed, turns every accepted bid into a transfer of
the frozen money to the borrower and a claim of the lender, and the contract's schedule
into the loan's installments (the loan then moves on to REPAYING): one transaction for
the whole loan (all or nothing), run from the outbox, so a crash before its commit runs it
again and after it the instructions go out by the dispatcher. No fee is taken from the
principal (R3). A listing that ends short (the R2 window closes) FAILS: every accepted
bid is released (unfreeze) exactly once and the borrower's credit limit is given back.

Every accepted bid, full, failed and disbursed is published on `loan.<id>.progress`
(the `bidProgress` subscription) through the outbox, after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from tortoise.transactions import in_transaction

from models.bids import Bid, BidSource, BidStatus, Claim
from models.loans import Loan, LoanStatus
from models.payments import PendingOperation
from services.contracts import signatures
from services.credit import scoring
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor
from services.loans import contracting, funding, installments
from services.loans.bid_checks import check_lender
from services.loans.contracting import FULL_TOPIC
from services.loans.states import LoanEvent, transition
from services.money import movements
from services.money.idempotency import run_once, validate_key
from services.money.money import format_money
from services.operations.confirmation import open_operation, send_operation_code
from services.operations.registry import register_operation
from services.payments import instructions
from services.platform import clock, notifier, outbox

logger = logging.getLogger(__name__)

BID_OPERATION = "BID"
LISTED_TOPIC = "loan.listed"


# Statuses of a loan that was fully funded: a late bid is told LOAN_FULL.
_FUNDED = (
    LoanStatus.FULL,
    LoanStatus.DISBURSED,
    LoanStatus.REPAYING,
    LoanStatus.OVERDUE,
    LoanStatus.SETTLED,
)


def progress_channel(loan_id: int) -> str:
    return f"loan.{loan_id}.progress"


# Called in the transaction that makes a loan FULL (contracts hook: issue 6).
_on_full: list[Callable[[Loan], Awaitable[None]]] = []


def on_full(hook: Callable[[Loan], Awaitable[None]]) -> None:
    _on_full.append(hook)


@dataclass(frozen=True)
class Accepted:
    bid: Bid
    loan: Loan
    trimmed: bool


async def _progress(loan: Loan, event: str, **extra: Any) -> None:
    await outbox.enqueue(
        progress_channel(loan.id),
        {
            "loan_id": loan.id,
            "event": event,
            "status": str(loan.status),
            "amount_fen": loan.amount_fen,
            "funded_fen": loan.funded_fen,
            "bidder_count": loan.bidder_count,
            "at": (await clock.now()).isoformat(),
            **extra,
        },
    )


async def _open_loan(loan_id: int, *, lock: bool) -> Loan:
    query = Loan.filter(id=loan_id)
    loan = await (query.select_for_update() if lock else query).first()
    if loan is None:
        raise NotFoundError("No such loan", field="loanId")
    if loan.status != LoanStatus.LISTED:
        code = "LOAN_FULL" if loan.status in _FUNDED else "LOAN_NOT_OPEN"
        raise DomainError(f"The loan is {loan.status.lower()}", code=code, field="loanId")
    now = await clock.now()
    if loan.bidding_closes_at is not None and now >= loan.bidding_closes_at:
        raise DomainError("Bidding on this loan has closed", code="LOAN_NOT_OPEN")
    return loan


async def accept(
    *,
    loan_id: int,
    lender_id: int,
    requested: int,
    source: BidSource,
    bid: Bid | None = None,
    auto_rule_id: int | None = None,
) -> Accepted:
    """Accept a bid, trimmed to what the loan still needs; see the module docstring.
    Joins the caller's transaction. Raises DomainError LOAN_FULL, LOAN_NOT_OPEN,
    OWN_LOAN, LENDING_VERIFICATION_REQUIRED, BID_OUT_OF_RANGE, INSUFFICIENT_FUNDS and the
    R4 codes; nothing changes."""
    if requested <= 0:
        raise InvalidInputError("The amount must be positive", field="amount")
    async with in_transaction():
        loan = await _open_loan(loan_id, lock=False)
        remaining = loan.amount_fen - loan.funded_fen
        if remaining <= 0:
            raise DomainError("The loan is fully funded", code="LOAN_FULL")
        amount = min(requested, remaining)
        await check_lender(loan, lender_id, amount, remaining)
        now = await clock.now()
        if bid is None:
            bid = await Bid.create(
                loan_id=loan.id,
                lender_id=lender_id,
                requested_fen=requested,
                amount_fen=amount,
                status=BidStatus.ACCEPTED,
                source=source,
                auto_rule_id=auto_rule_id,
                created_at=now,
                decided_at=now,
            )
        else:
            bid.amount_fen = amount
            bid.status = BidStatus.ACCEPTED
            bid.decided_at = now
            await bid.save(update_fields=["amount_fen", "status", "decided_at"])
        # The freeze locks the lender's accounts to COMMIT: their bids go one at a time,
        # so the first-bid test sees every earlier one of theirs.
        await movements.freeze(user_id=lender_id, amount=amount, reference=f"bid:{bid.id}")
        new_bidder = not await (
            Bid.filter(loan_id=loan.id, lender_id=lender_id, status=BidStatus.ACCEPTED)
            .exclude(id=bid.id)
            .exists()
        )
        # The loan row, touched once (services/loans/funding.py).
        funded = await funding.fund(loan.id, amount, new_bidder=new_bidder)
        if funded is None:
            # Other bids came first: lock the row and take what is left, if anything.
            loan = await _open_loan(loan_id, lock=True)
            left = loan.amount_fen - loan.funded_fen
            if left <= 0:
                raise DomainError("The loan is fully funded", code="LOAN_FULL")
            if left < amount:
                bid.amount_fen = left
                await bid.save(update_fields=["amount_fen"])
                await movements.unfreeze(
                    user_id=lender_id, amount=amount - left, reference=f"bid:{bid.id}:trim"
                )
                amount = left
            funded = await funding.fund(loan.id, amount, new_bidder=new_bidder)
            if funded is None:  # pragma: no cover - the row lock makes this unreachable
                raise DomainError("The loan is fully funded", code="LOAN_FULL")
        loan.funded_fen = funded.funded_fen
        loan.bidder_count = funded.bidder_count
        await _progress(
            loan,
            "BID",
            bid_id=bid.id,
            bid_amount_fen=amount,
            source=str(source),
        )
        if loan.funded_fen == loan.amount_fen:
            transition(loan, LoanEvent.FILL)
            loan.closed_at = now
            await loan.save(update_fields=["status", "closed_at"])
            await _progress(loan, "FULL")
            for hook in _on_full:
                await hook(loan)
            await outbox.enqueue(FULL_TOPIC, {"loan_id": loan.id})
            await notifier.notify(
                user=loan.borrower_id,
                kind="loan",
                title="Loan fully funded",
                body=f"Your loan {loan.id} is fully funded ({format_money(loan.amount_fen)}).",
            )
    return Accepted(bid=bid, loan=loan, trimmed=amount < requested)


# --- manual bids: ask, then confirm with the SMS code (M1.8, M4.8) -------------------


async def place_bid(*, actor: Actor, loan_id: int, amount: int, idempotency_key: str) -> Bid:
    """Ask to bid: checks what can be checked now (as `accept` will again, so a lender
    lacking a verification required for lending learns it before any code is sent),
    records the bid AWAITING_CONFIRMATION and sends an SMS code bound to it;
    `confirmOperation` accepts it. Idempotent by key."""
    assert actor.user_id is not None
    key = validate_key(idempotency_key)
    if amount <= 0:
        raise InvalidInputError("The amount must be positive", field="amount")
    lender_id = actor.user_id

    async def execute(claim: Any) -> dict[str, Any]:
        async with in_transaction():
            loan = await _open_loan(loan_id, lock=False)
            remaining = loan.amount_fen - loan.funded_fen
            await check_lender(loan, lender_id, min(amount, remaining), remaining)
            now = await clock.now()
            bid = await Bid.create(
                loan_id=loan.id,
                lender_id=lender_id,
                requested_fen=amount,
                status=BidStatus.AWAITING_CONFIRMATION,
                source=BidSource.MANUAL,
                created_at=now,
            )
            operation = await open_operation(
                user_id=lender_id,
                kind=BID_OPERATION,
                target_id=bid.id,
                amount=amount,
                counterparty=f"loan:{loan.id}",
            )
            bid.operation_id = operation.id
            await bid.save(update_fields=["operation_id"])
            answer = {"bid_id": bid.id}
            await claim.complete(answer)
        await send_operation_code(operation)
        return answer

    answer = await run_once(
        user_id=lender_id,
        key=key,
        operation="placeBid",
        request={"loan_id": loan_id, "amount": amount},
        execute=execute,
    )
    return await Bid.get(id=int(answer["bid_id"]))


async def _describe_bid(operation: PendingOperation) -> str:
    """The bid's SMS: the amount asked and the loan."""
    bid = await Bid.get(id=operation.target_id)
    return (
        f"[LendBridge] Code {{code}} confirms bidding {format_money(operation.amount)} "
        f"on loan {bid.loan_id}. Do not share it."
    )


async def _confirm_bid(operation: PendingOperation) -> Bid:
    """The SMS code was right: accept the bid now (in the confirming transaction)."""
    bid = await Bid.get(id=operation.target_id)
    accepted = await accept(
        loan_id=bid.loan_id,
        lender_id=bid.lender_id,
        requested=bid.requested_fen,
        source=BidSource.MANUAL,
        bid=bid,
    )
    return accepted.bid


async def _refuse_bid(operation: PendingOperation, error: DomainError) -> None:
    """Refused at confirmation (full, closed, verifications, balance, R4): recorded,
    nothing frozen."""
    await Bid.filter(id=operation.target_id, status=BidStatus.AWAITING_CONFIRMATION).update(
        status=BidStatus.REFUSED, refusal=error.code, decided_at=await clock.now()
    )


async def _cancel_bid(operation: PendingOperation) -> None:
    await Bid.filter(id=operation.target_id, status=BidStatus.AWAITING_CONFIRMATION).update(
        status=BidStatus.CANCELLED, decided_at=await clock.now()
    )


register_operation(
    BID_OPERATION,
    execute=_confirm_bid,
    refuse=_refuse_bid,
    cancel=_cancel_bid,
    describe=_describe_bid,
)


# --- full: disburse; short at the window's end: fail ------------------------------------


async def disburse(loan_id: int) -> bool:
    """Pay a FULL loan out once its borrower has signed the loan contract: each accepted
    bid's frozen money to the borrower, a claim for each lender, all in one transaction.
    False when there was nothing to do (or the signature is still missing)."""
    async with in_transaction():
        loan = await Loan.filter(id=loan_id).select_for_update().first()
        if loan is None or loan.status != LoanStatus.FULL:
            return False
        if not await signatures.borrower_signed(loan.id):
            return False  # waits for the borrower's signature on the loan contract
        bids = await Bid.filter(loan_id=loan.id, status=BidStatus.ACCEPTED).order_by("id")
        if sum(bid.amount_fen for bid in bids) != loan.amount_fen:  # pragma: no cover
            raise RuntimeError(f"loan {loan.id}: accepted bids do not add up to the amount")
        now = await clock.now()
        for bid in bids:
            await movements.transfer(
                from_user_id=bid.lender_id,
                to_user_id=loan.borrower_id,
                amount=bid.amount_fen,
                reference=f"disburse:{bid.id}",
                from_frozen=True,
                kind="disbursement",
            )
            await Claim.create(
                loan_id=loan.id,
                holder_id=bid.lender_id,
                bid_id=bid.id,
                principal_fen=bid.amount_fen,
                created_at=now,
            )
            bid.status = BidStatus.TRANSFERRED
            await bid.save(update_fields=["status"])
        transition(loan, LoanEvent.DISBURSE)
        loan.disbursed_at = now
        await loan.save(update_fields=["status", "disbursed_at"])
        await _progress(loan, "DISBURSED")
        # The contract's schedule becomes the loan's installments: repayment starts.
        await installments.materialize(loan)
        transition(loan, LoanEvent.START_REPAYING)
        await loan.save(update_fields=["status"])
        await notifier.notify(
            user=loan.borrower_id,
            kind="loan",
            title="Loan disbursed",
            body=f"{format_money(loan.amount_fen)} of loan {loan.id} is in your account.",
        )
    instructions.wake()
    return True


async def _on_full_event(payload: dict[str, Any]) -> None:
    """A loan filled, or its borrower signed: make sure the contract exists (lenders'
    consents recorded, the borrower asked to sign), then disburse once signed."""
    loan = await Loan.get_or_none(id=int(payload["loan_id"]))
    if loan is None or loan.status != LoanStatus.FULL:
        return
    await contracting.contract_for_full_loan(loan)
    await disburse(loan.id)


outbox.register_handler(FULL_TOPIC, _on_full_event)


async def fail_listing(loan_id: int) -> bool:
    """End a listing whose window closed short: release every accepted bid once, give
    the borrower's credit limit back. False when the loan was not due to fail."""
    async with in_transaction():
        loan = await Loan.filter(id=loan_id).select_for_update().first()
        now = await clock.now()
        if (
            loan is None
            or loan.status != LoanStatus.LISTED
            or loan.bidding_closes_at is None
            or now < loan.bidding_closes_at
        ):
            return False
        bids = await Bid.filter(loan_id=loan.id, status=BidStatus.ACCEPTED).order_by("id")
        for bid in bids:
            await movements.unfreeze(
                user_id=bid.lender_id, amount=bid.amount_fen, reference=f"release:{bid.id}"
            )
            bid.status = BidStatus.RELEASED
            await bid.save(update_fields=["status"])
        transition(loan, LoanEvent.EXPIRE)
        loan.closed_at = now
        await loan.save(update_fields=["status", "closed_at"])
        await scoring.restore_limit(loan.borrower_id, loan.amount_fen)
        await _progress(loan, "FAILED", released=len(bids))
        await notifier.notify(
            user=loan.borrower_id,
            kind="loan",
            title="Loan not funded",
            body=f"Bidding on loan {loan.id} closed at {format_money(loan.funded_fen)} of "
            f"{format_money(loan.amount_fen)}: every bid is released.",
        )
        for lender_id in {bid.lender_id for bid in bids}:
            await notifier.notify(
                user=lender_id,
                kind="bid",
                title="Bid released",
                body=f"Loan {loan.id} was not fully funded: your bid is released.",
            )
    instructions.wake()
    outbox.wake()
    return True


async def fail_expired_listings() -> int:
    """The R2 job: every LISTED loan whose window has closed short fails."""
    now = await clock.now()
    ids = await Loan.filter(status=LoanStatus.LISTED, bidding_closes_at__lte=now).values_list(
        "id", flat=True
    )
    failed = 0
    for loan_id in cast(list[int], ids):
        if await fail_listing(loan_id):
            failed += 1
    return failed


async def disburse_pending() -> int:
    """Safety net for the outbox event: every FULL loan has its contract, and those
    whose borrower has signed are disbursed."""
    done = 0
    for loan in await Loan.filter(status=LoanStatus.FULL).order_by("id"):
        await contracting.contract_for_full_loan(loan)
        if await disburse(loan.id):
            done += 1
    return done
