"""Repaying a loan (M1.6, M4.3, M4.5, M4.8): ask, confirm by SMS code, settle.

`repay` records what the borrower asks for (the next installment, the next n, early
repayment in full, or an amount towards what has fallen due) as a Repayment
AWAITING_CONFIRMATION with a pending operation of kind REPAYMENT and an SMS code bound
to it (operation id, kind, amount, loan). `confirmOperation` with that code settles it:
under a lock on the loan, what is due is computed again (it must still be the
installments asked for and the amount the code confirmed, and for an amount the same
installments paid off: NOTHING_DUE when another repayment or the auto-debit paid them
meanwhile, or nothing has fallen due any more; AMOUNT_CHANGED otherwise, an amount now
more than has fallen due included), the borrower's available balance must cover it
(INSUFFICIENT_FUNDS: the repayment is REFUSED and nothing moves), then in one
transaction:

- each installment's parts are shared among the claims (`split`), one transfer per
  holder (principal + interest + penalty) from the borrower's available balance, one to
  `p:fee` (the service fees less the risk-reserve share, plus the early-repayment fee)
  and one to `p:risk_reserve` (its share of the fees: of an installment's fee paid in
  parts, the share of the fee paid so far less that of what was paid before, each
  rounded down, so it ends as the whole fee's): a ledger journal and a provider
  instruction each (`services.money.movements`);
- of an installment the risk reserve advanced (`reserve.py`, off by default), the
  principal and interest paid go to `p:risk_reserve` (one transfer,
  `repayment:<id>:reserve-recovery`) until it has had back all it advanced of that
  installment, per claim towards what it advanced of each (the payment that completes
  the installment gives each claim exactly the rest of its advance), not to the holders,
  who had it from the reserve already; its penalty is the holders' (the reserve
  advanced principal and interest only, the holders waited the days before the advance)
  and is split as for any installment. The same applies to an early repayment in full
  or an amount that pays an advanced installment;
- a Receipt per claim, plus one with `to_reserve` per claim whose advanced parts the
  reserve recovered; each installment's paid parts raised, and PAID (`paid_late` when
  paid after its due date) only once every part is paid (an amount may leave the last
  installment it reaches PENDING or OVERDUE, partly paid; penalty then accrues on what
  stays unpaid of its principal and interest, `overdue.py`); the credit hooks
  (`on_installment_paid` for an installment paid off, `restore_limit` of the principal
  paid);
- the loan SETTLED once every installment is paid (the contracts' retention runs from
  that day), or OVERDUE → REPAYING once none is overdue any more;
- PAID events for the borrower (one per installment paid off), PARTIALLY_PAID for one
  paid in part (the parts paid and what it still asks), RECEIVED events for each holder
  with what that holder receives (nothing for the reserve's parts; the reserve gets no
  event), through the outbox; the repayment's details record what it paid of each
  installment (`lines`).

Mode AMOUNT (partial repayment, `quote.towards_due`): the amount pays the installments
fallen due (due today or before, PENDING or OVERDUE), oldest first, each one whole in
turn, and the rest of it the next one in the allocation order (`repayments.allocationOrder`,
default penalty, interest, principal, fee). It must be whole fen above 0 (INVALID on
`amount`), something must have fallen due (NOTHING_DUE) and it may not be more than
what has (AMOUNT_TOO_LARGE, with how much that is: NEXT, COUNT and EARLY_FULL pay more);
exactly that much pays everything fallen due, as COUNT would.

The split's "received so far" of a claim is what its holder has had: their own receipts
plus every advance the reserve paid them (`holdings.had`), the recovery
receipts being that same money. So over the whole loan each holder gets exactly their
principal and interest share, advance included; `myReceivables` counts the same way.

The signed auto-debit (`auto_debit_due`, a daily job) needs no SMS code: the signed
auto-debit agreement with the bound card is the borrower's standing consent. It
deposits the shortfall from the card (once per installment and day; decided under the
loan's lock, so an installment the borrower has just repaid costs no card debit) and
settles the installment due today the same way (whole: what is left of it, when an
amount paid part of it).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

from tortoise.transactions import in_transaction

from models.bids import Claim
from models.loans import Loan, LoanStatus
from models.payments import BankCard, PendingOperation
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from services.contracts import extend_retention
from services.credit import scoring
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor
from services.kit import crashpoints
from services.loans.contracting import terms_of
from services.loans.states import LoanEvent, transition
from services.money import accounts, ledger, movements
from services.money.idempotency import Claim as KeyClaim
from services.money.idempotency import run_once, validate_key
from services.money.money import format_money
from services.operations.confirmation import open_operation, send_operation_code
from services.operations.registry import register_operation
from services.pages import Page
from services.payments import instructions
from services.payments.provider import DepositChannel
from services.platform import clock, notifier, outbox, parameters
from services.repayments import events, holdings, overdue, policy, quote, split
from services.repayments import reserve as reserve_advances
from services.repayments.events import RepaymentEventKind

logger = logging.getLogger(__name__)

REPAYMENT_OPERATION = "REPAYMENT"
REPAYABLE = (LoanStatus.REPAYING, LoanStatus.OVERDUE)


class RepayMode(StrEnum):
    NEXT = "NEXT"  # the earliest unpaid installment
    COUNT = "COUNT"  # the next n unpaid installments
    EARLY_FULL = "EARLY_FULL"  # everything left, interest to today
    AMOUNT = "AMOUNT"  # an amount towards what has fallen due, oldest first (partial)


def _row(row: LoanInstallment) -> quote.Row:
    return quote.Row(
        number=row.number,
        due_date=row.due_date,
        principal_fen=row.principal_fen,
        interest_fen=row.interest_fen,
        fee_fen=row.fee_fen,
        paid_principal_fen=row.paid_principal_fen,
        paid_interest_fen=row.paid_interest_fen,
        paid_fee_fen=row.paid_fee_fen,
        penalty_accrued_fen=row.penalty_accrued_fen,
        penalty_paid_fen=row.penalty_paid_fen,
        paid=row.status == InstallmentStatus.PAID,
    )


def _start(loan: Loan) -> date:
    assert loan.closed_at is not None, "a disbursed loan filled on a day"
    return loan.closed_at.date()


def _towards_due(
    views: list[quote.Row], today: date, amount_fen: int, order: list[policy.Part], *, asking: bool
) -> quote.Quote:
    """Mode AMOUNT: `amount_fen` towards the installments fallen due (`quote.towards_due`).
    Raises DomainError NOTHING_DUE when none has fallen due, and when the amount is more
    than they ask AMOUNT_TOO_LARGE (`asking`) or AMOUNT_CHANGED (at confirmation: it fit
    when asked)."""
    lines = quote.fallen_due(views, today)
    if not lines:
        ahead = quote.unpaid(views)
        raise DomainError(
            "Nothing has fallen due"
            + (f": the next installment is due on {ahead[0].due_date.isoformat()}" if ahead else "")
            + ". Use NEXT, COUNT or EARLY_FULL to repay ahead.",
            code="NOTHING_DUE",
        )
    due = sum(line.total_fen for line in lines)
    if amount_fen > due:
        numbers = ", ".join(str(line.number) for line in lines)
        if asking:
            raise DomainError(
                f"{format_money(amount_fen)} is more than has fallen due: "
                f"{format_money(due)} (installment {numbers}, with penalty through today). "
                "Repay at most that, or use NEXT, COUNT or EARLY_FULL to pay more.",
                code="AMOUNT_TOO_LARGE",
                field="amount",
            )
        raise DomainError(
            f"What has fallen due is now {format_money(due)}, less than "
            f"{format_money(amount_fen)}: ask again",
            code="AMOUNT_CHANGED",
        )
    return quote.towards_due(lines, amount_fen, order)


async def _quote(
    loan: Loan,
    rows: list[LoanInstallment],
    kind: RepaymentKind,
    details: dict[str, Any],
    *,
    asking: bool = False,
) -> quote.Quote:
    views = [_row(row) for row in rows]
    if kind == RepaymentKind.AMOUNT:
        order = (await parameters.get(policy.ALLOCATION_ORDER)).order
        return _towards_due(
            views, await clock.today(), int(details["amount_fen"]), order, asking=asking
        )
    if kind == RepaymentKind.AUTO_DEBIT:
        number = int(details["installment"])
        return quote.Quote(
            lines=[quote.whole(row) for row in views if row.number == number and not row.paid]
        )
    if kind == RepaymentKind.INSTALLMENTS:
        return quote.next_installments(views, int(details.get("count", 1)))
    terms = terms_of(loan)
    share = (await parameters.get(policy.EARLY_FEE)).share
    return quote.early_full(
        views,
        today=await clock.today(),
        start=_start(loan),
        amount_fen=loan.amount_fen,
        annual_rate=terms.annual_rate,
        day_count=terms.day_count,
        early_fee_share=share,
        paid_flows=await _paid_flows(loan.id),
    )


async def _paid_flows(loan_id: int) -> list[tuple[date, int]]:
    """What the borrower paid on the loan so far, for the R3 cap of the early fee: per
    repayment made, its business day and its principal, interest and fee (penalty
    excluded). Per repayment, not per installment paid: an installment paid in parts
    (mode AMOUNT) was paid on several days, and one still partly paid has paid some."""
    made = await Repayment.filter(loan_id=loan_id, status=RepaymentStatus.DONE).values_list(
        "done_at", "principal_fen", "interest_fen", "fee_fen"
    )
    return [
        (done_at.date(), principal + interest + fee)
        for done_at, principal, interest, fee in cast(list[tuple[datetime, int, int, int]], made)
        if principal + interest + fee
    ]


def _amounts(found: quote.Quote) -> dict[str, Any]:
    return {
        "installments": [line.number for line in found.lines],
        "amount_fen": found.total_fen,
        "principal_fen": sum(line.principal_fen for line in found.lines),
        "interest_fen": sum(line.interest_fen for line in found.lines),
        "fee_fen": sum(line.fee_fen for line in found.lines),
        "penalty_fen": sum(line.penalty_fen for line in found.lines),
        "early_fee_fen": found.early_fee_fen,
    }


def _kind_and_details(
    mode: RepayMode, count: int | None, amount_fen: int | None
) -> tuple[RepaymentKind, dict[str, Any]]:
    if mode == RepayMode.AMOUNT:
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
            raise InvalidInputError(
                "Give the amount to repay, more than 0.00, in whole fen", field="amount"
            )
        return RepaymentKind.AMOUNT, {"mode": str(mode), "amount_fen": amount_fen}
    if amount_fen is not None:
        raise InvalidInputError("An amount is only for mode AMOUNT", field="amount")
    if mode == RepayMode.EARLY_FULL:
        return RepaymentKind.EARLY_FULL, {"mode": str(mode)}
    if mode == RepayMode.NEXT:
        return RepaymentKind.INSTALLMENTS, {"mode": str(mode), "count": 1}
    if count is None or not 1 <= count <= 360:
        raise InvalidInputError("Give how many installments to repay (1 or more)", field="count")
    return RepaymentKind.INSTALLMENTS, {"mode": str(mode), "count": count}


async def _repayable(loan_id: int, borrower_id: int, *, lock: bool) -> Loan:
    query = Loan.filter(id=loan_id, borrower_id=borrower_id)
    loan = await (query.select_for_update() if lock else query).first()
    if loan is None:
        raise NotFoundError("No such loan", field="loanId")
    if loan.status not in REPAYABLE:
        raise DomainError(
            f"The loan is {loan.status.lower()}, not being repaid",
            code="LOAN_NOT_REPAYING",
            field="loanId",
        )
    return loan


# --- ask, then confirm with the SMS code ------------------------------------------------


async def repay(
    *,
    actor: Actor,
    loan_id: int,
    mode: RepayMode,
    count: int | None = None,
    amount_fen: int | None = None,
    idempotency_key: str,
) -> Repayment:
    """Ask to repay: records the repayment AWAITING_CONFIRMATION with what is due now and
    sends an SMS code bound to it; `confirmOperation` settles it. Idempotent by key.

    Mode AMOUNT pays `amount_fen` towards the installments fallen due (due today or
    before), oldest first, each one's parts in the allocation order; the last one it
    reaches may stay partly paid (`quote.towards_due`). The amount must be whole fen above
    0 (INVALID on `amount`), something must have fallen due (NOTHING_DUE), and it may
    not exceed what has (AMOUNT_TOO_LARGE, the message says how much is due); exactly
    that much pays it all, as COUNT would. An amount with another mode is INVALID.

    Raises InvalidInputError, NotFoundError, DomainError LOAN_NOT_REPAYING / NOTHING_DUE /
    AMOUNT_TOO_LARGE and the idempotency errors; nothing changes then."""
    assert actor.user_id is not None
    borrower_id = actor.user_id
    key = validate_key(idempotency_key)
    kind, details = _kind_and_details(mode, count, amount_fen)

    async def execute(claim: KeyClaim) -> dict[str, Any]:
        async with in_transaction():
            loan = await _repayable(loan_id, borrower_id, lock=False)
            # Penalty through today, as the settlement counts it, even on a day the daily
            # overdue run has not reached this loan yet (else AMOUNT_CHANGED at confirm).
            await overdue.age_loan(loan.id, await clock.today())
            rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
            open_count = sum(1 for row in rows if row.status != InstallmentStatus.PAID)
            if open_count == 0:
                raise DomainError("Nothing is left to repay", code="NOTHING_DUE")
            if mode == RepayMode.COUNT and (count or 0) > open_count:
                raise InvalidInputError(
                    f"Only {open_count} installments are left to repay", field="count"
                )
            found = await _quote(loan, rows, kind, details, asking=True)
            if not found.lines:
                raise DomainError("Nothing is due", code="NOTHING_DUE")  # pragma: no cover
            recorded = dict(details)
            if kind == RepaymentKind.AMOUNT:
                # What the code confirms: the amount, the installments it reaches, and
                # which of them it pays off (`_still_as_confirmed`).
                recorded["settles"] = _settled_numbers(found)
            amounts = _amounts(found)
            repayment = await Repayment.create(
                loan_id=loan.id,
                borrower_id=borrower_id,
                kind=kind,
                status=RepaymentStatus.AWAITING_CONFIRMATION,
                installments=amounts["installments"],
                amount_fen=amounts["amount_fen"],
                principal_fen=amounts["principal_fen"],
                interest_fen=amounts["interest_fen"],
                fee_fen=amounts["fee_fen"],
                penalty_fen=amounts["penalty_fen"],
                early_fee_fen=amounts["early_fee_fen"],
                details=recorded,
                created_at=await clock.now(),
            )
            operation = await open_operation(
                user_id=borrower_id,
                kind=REPAYMENT_OPERATION,
                target_id=repayment.id,
                amount=found.total_fen,
                counterparty=f"loan:{loan.id}",
            )
            repayment.operation_id = operation.id
            await repayment.save(update_fields=["operation_id"])
            answer = {"repayment_id": repayment.id}
            await claim.complete(answer)
        await send_operation_code(operation)
        return answer

    answer = await run_once(
        user_id=borrower_id,
        key=key,
        operation="repay",
        # The amount only when given: the fingerprints of the other modes stay as they were.
        request={"loan_id": loan_id, "mode": str(mode), "count": count}
        | ({"amount_fen": amount_fen} if amount_fen is not None else {}),
        execute=execute,
    )
    return await Repayment.get(id=int(answer["repayment_id"]))


async def _describe_repayment(operation: PendingOperation) -> str:
    """The repayment's SMS: the amount it settles (as quoted when asked) and the loan."""
    repayment = await Repayment.get(id=operation.target_id)
    return (
        f"[LendBridge] Code {{code}} confirms repaying {format_money(operation.amount)} "
        f"of loan {repayment.loan_id}. Do not share it."
    )


async def _confirm_repayment(operation: PendingOperation) -> Repayment:
    """The SMS code was right: settle the repayment now (in the confirming transaction)."""
    repayment = await Repayment.get(id=operation.target_id)
    await _settle(repayment, confirmed_amount_fen=operation.amount)
    return await Repayment.get(id=repayment.id)


async def _refuse_repayment(operation: PendingOperation, error: DomainError) -> None:
    """Refused at confirmation (balance, amount changed): recorded, nothing moved."""
    await Repayment.filter(
        id=operation.target_id, status=RepaymentStatus.AWAITING_CONFIRMATION
    ).update(status=RepaymentStatus.REFUSED, refusal=error.code, done_at=await clock.now())


async def _cancel_repayment(operation: PendingOperation) -> None:
    await Repayment.filter(
        id=operation.target_id, status=RepaymentStatus.AWAITING_CONFIRMATION
    ).update(status=RepaymentStatus.CANCELLED, done_at=await clock.now())


register_operation(
    REPAYMENT_OPERATION,
    execute=_confirm_repayment,
    refuse=_refuse_repayment,
    cancel=_cancel_repayment,
    describe=_describe_repayment,
)


# --- settlement ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _LineSplit:
    """One line's money per claim: to the holder, and to the reserve (its advance)."""

    holders: list[split.Share]
    reserve: list[split.Share]


def _back_to_reserve(paid_fen: int, advanced: list[int], recovered: list[int]) -> list[int]:
    """Per claim, what of `paid_fen` (one part paid of an advanced installment) goes back
    to the reserve: up to what it still lacks of that part, split towards what it advanced
    of each claim (`split.toward`: targets `advanced`, received `recovered`)."""
    lacking = sum(max(0, gave - got) for gave, got in zip(advanced, recovered, strict=True))
    return split.toward(min(paid_fen, lacking), advanced, recovered)


def _split_line(
    line: quote.Line,
    advanced: dict[int, tuple[int, int]],
    recovered: dict[int, tuple[int, int]],
    claims: list[Claim],
    received_principal: list[int],
    received_interest: list[int],
    total_interest_fen: int,
) -> _LineSplit:
    """Share one installment's payment. The principal and interest the reserve advanced
    of it (`advanced`: claim id -> parts; `recovered`: what it has had back of them)
    go back to it first, each part towards the advanced parts per claim, so the payment
    that completes the installment gives each claim exactly the rest of its advance
    (`reserve.py`); the rest (all of it for an installment not advanced, the penalty
    alone for one advanced) is split among the holders towards their targets."""
    principal_back = _back_to_reserve(
        line.principal_fen,
        [advanced.get(claim.id, (0, 0))[0] for claim in claims],
        [recovered.get(claim.id, (0, 0))[0] for claim in claims],
    )
    interest_back = _back_to_reserve(
        line.interest_fen,
        [advanced.get(claim.id, (0, 0))[1] for claim in claims],
        [recovered.get(claim.id, (0, 0))[1] for claim in claims],
    )
    holders = split.split_payment(
        principal_fen=line.principal_fen - sum(principal_back),
        interest_fen=line.interest_fen - sum(interest_back),
        penalty_fen=line.penalty_fen,
        principals=[claim.principal_fen for claim in claims],
        received_principal=received_principal,
        received_interest=received_interest,
        total_interest_fen=total_interest_fen,
    )
    reserve = [
        split.Share(principal_fen=principal, interest_fen=interest, penalty_fen=0)
        for principal, interest in zip(principal_back, interest_back, strict=True)
    ]
    return _LineSplit(holders=holders, reserve=reserve)


def _reserve_part(paid_before_fen: int, fee_fen: int, share: Decimal) -> int:
    """The risk reserve's part of `fee_fen` paid of an installment's fee, of which
    `paid_before_fen` was paid before: its share of the fee paid so far rounded down to
    the fen, less its share of what was paid before. An installment's fee paid in parts
    gives the reserve what the whole fee paid at once would."""
    return int((paid_before_fen + fee_fen) * share) - int(paid_before_fen * share)


async def _write_receipts(
    repayment: Repayment,
    claims: list[Claim],
    to_holders: list[holdings.Parts],
    to_reserve: list[holdings.Parts],
    now: datetime,
) -> None:
    """A Receipt per claim with what its holder got, and one `to_reserve` per claim with
    what the reserve recovered of its advance (none when nothing)."""
    for claim, holder_parts, reserve_parts in zip(claims, to_holders, to_reserve, strict=True):
        for parts, recovered in ((holder_parts, False), (reserve_parts, True)):
            if parts.total_fen:
                await Receipt.create(
                    repayment_id=repayment.id,
                    claim_id=claim.id,
                    holder_id=claim.holder_id,
                    loan_id=repayment.loan_id,
                    principal_fen=parts.principal_fen,
                    interest_fen=parts.interest_fen,
                    penalty_fen=parts.penalty_fen,
                    to_reserve=recovered,
                    created_at=now,
                )


def _settled_numbers(found: quote.Quote) -> list[int]:
    """The installments a quote pays off (all its lines, but an amount's last may not)."""
    return [line.number for line in found.lines if line.settles]


def _not_paid_meanwhile(repayment: Repayment, rows: list[LoanInstallment]) -> None:
    """Raises DomainError NOTHING_DUE when every installment the repayment was asked for
    has been paid since (by another repayment, or the auto-debit)."""
    asked = [int(number) for number in repayment.installments]
    paid = {row.number for row in rows if row.status == InstallmentStatus.PAID}
    if asked and paid.issuperset(asked):
        raise DomainError("What this repayment was for is repaid already", code="NOTHING_DUE")


def _still_as_confirmed(repayment: Repayment, found: quote.Quote, amount_fen: int) -> None:
    """What the SMS code confirmed is still what would be paid: the installments asked
    for, for the amount asked, and for an amount (mode AMOUNT) the same installments paid
    off. Quoted again, "the next installment" of a repayment asked before another one (or
    the auto-debit) paid it is the installment after it, often for the same amount:
    paying that would pay twice for one request; and an amount that paid installment 1
    off when asked may leave it partly paid once a day's penalty is added.

    Raises DomainError AMOUNT_CHANGED when the installments, the amount or the
    installments paid off differ (`_not_paid_meanwhile` comes first)."""
    asked = [int(number) for number in repayment.installments]
    if [line.number for line in found.lines] != asked or found.total_fen != amount_fen:
        raise DomainError(
            f"What is due is now {format_money(found.total_fen)}: ask again",
            code="AMOUNT_CHANGED",
        )
    settles = repayment.details.get("settles")
    if settles is not None and _settled_numbers(found) != [int(number) for number in settles]:
        paid_off = ", ".join(str(number) for number in _settled_numbers(found)) or "none"
        raise DomainError(
            f"{format_money(amount_fen)} now pays off installments {paid_off}, not those "
            "asked for: ask again",
            code="AMOUNT_CHANGED",
        )


async def _move_money(
    repayment: Repayment,
    borrower_id: int,
    per_holder: dict[int, holdings.Parts],
    to_fee: int,
    to_reserve: int,
    recovery: int,
) -> None:
    """The settlement's transfers from the borrower's available balance, in its
    transaction: one per holder, then the fee, the reserve's share of the fees and what
    the reserve recovers of its advances. The crashpoint `repayment.after_transfer`
    (detail: the transfer's kind) lets the crash tests kill the process with only part
    of them written."""
    reference = f"repayment:{repayment.id}"
    for holder_id, parts in sorted(per_holder.items()):
        if parts.total_fen:
            await movements.transfer(
                from_user_id=borrower_id,
                to_user_id=holder_id,
                amount=parts.total_fen,
                reference=f"{reference}:holder:{holder_id}",
                kind="repayment",
            )
            crashpoints.hit("repayment.after_transfer", "repayment")
    for amount, suffix, platform, kind in (
        (to_fee, "fee", ledger.FEE, "repayment_fee"),
        (to_reserve, "reserve", ledger.RISK_RESERVE, "repayment_reserve"),
        (recovery, "reserve-recovery", ledger.RISK_RESERVE, "reserve_recovery"),
    ):
        if amount:
            await movements.transfer(
                from_user_id=borrower_id,
                to_user_id=None,
                to_platform=platform,
                amount=amount,
                reference=f"{reference}:{suffix}",
                kind=kind,
            )
            crashpoints.hit("repayment.after_transfer", kind)


async def _settle(repayment: Repayment, *, confirmed_amount_fen: int | None) -> None:
    """Carry out a repayment in the caller's transaction; see the module docstring.
    Raises DomainError LOAN_NOT_REPAYING / NOTHING_DUE / AMOUNT_CHANGED /
    INSUFFICIENT_FUNDS before anything moves."""
    loan = await _repayable(repayment.loan_id, repayment.borrower_id, lock=True)
    # Overdue installments are marked and their penalty accrued through today first: a
    # partial payment lowers the base of the penalty from tomorrow, never before.
    await overdue.age_loan(loan.id, await clock.today())
    await loan.refresh_from_db()
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    if confirmed_amount_fen is not None:
        _not_paid_meanwhile(repayment, rows)
    found = await _quote(loan, rows, RepaymentKind(repayment.kind), repayment.details)
    if not found.lines:
        raise DomainError("Nothing is left to repay", code="NOTHING_DUE")
    if confirmed_amount_fen is not None:
        _still_as_confirmed(repayment, found, confirmed_amount_fen)
    borrower_id = loan.borrower_id
    available = await ledger.balance(ledger.available(borrower_id))
    if available < found.total_fen:
        raise DomainError(
            f"Only {format_money(available)} is available; {format_money(found.total_fen)} is due",
            code="INSUFFICIENT_FUNDS",
            field="loanId",
        )
    today = await clock.today()
    now = await clock.now()
    order = (await parameters.get(policy.ALLOCATION_ORDER)).order
    reserve_share = (await parameters.get(policy.RISK_RESERVE_SHARE)).share
    claims = await Claim.filter(loan_id=loan.id).order_by("id")
    received_principal, received_interest = await holdings.received(claims)
    by_number = {row.number: row for row in rows}
    advances = await reserve_advances.advanced_by_installment(
        by_number[line.number].id for line in found.lines
    )
    # What the reserve has had back of each advanced installment, before this repayment.
    back = await reserve_advances.recovered_of_loan(loan.id, rows) if advances else {}
    paid_lines = [quote.apply(line.total_fen, line, order) for line in found.lines]
    # The loan's whole interest once this repayment is made (an early repayment charges
    # less than scheduled; a partial payment changes nothing of it): the interest
    # targets of the split.
    paying = {line.number: line for line in paid_lines}
    total_interest = sum(
        row.paid_interest_fen + paying[row.number].interest_fen
        if row.number in paying and paying[row.number].settles
        else row.interest_fen
        for row in rows
    )

    per_claim = [holdings.Parts() for _ in claims]
    recovered = [holdings.Parts() for _ in claims]
    per_holder: dict[int, holdings.Parts] = defaultdict(holdings.Parts)
    fees = reserve = principal_paid = 0
    for line in paid_lines:
        row = by_number[line.number]
        shares = _split_line(
            line,
            advances.get(row.id, {}),
            back.get(row.id, {}),
            claims,
            received_principal,
            received_interest,
            total_interest,
        )
        line_holders: dict[int, holdings.Parts] = defaultdict(holdings.Parts)
        for index, (claim, share, to_reserve) in enumerate(
            zip(claims, shares.holders, shares.reserve, strict=True)
        ):
            # The reserve's parts are in `received_*` already (from the advance).
            received_principal[index] += share.principal_fen
            received_interest[index] += share.interest_fen
            per_claim[index].add(share)
            recovered[index].add(to_reserve)
            per_holder[claim.holder_id].add(share)
            line_holders[claim.holder_id].add(share)
        fees += line.fee_fen
        reserve += _reserve_part(row.paid_fee_fen, line.fee_fen, reserve_share)
        principal_paid += line.principal_fen
        await _pay_line(repayment, loan, row, line, today=today, now=now)
        for holder_id, parts in sorted(line_holders.items()):
            if parts.total_fen:
                await events.enqueue(
                    user_id=holder_id,
                    kind=RepaymentEventKind.RECEIVED,
                    loan_id=loan.id,
                    installment=row.number,
                    amount_fen=parts.total_fen,
                    at=now,
                    principal_fen=parts.principal_fen,
                    interest_fen=parts.interest_fen,
                    penalty_fen=parts.penalty_fen,
                )

    to_fee = fees - reserve + found.early_fee_fen
    recovery = sum(parts.total_fen for parts in recovered)
    await _move_money(repayment, borrower_id, per_holder, to_fee, reserve, recovery)
    await _write_receipts(repayment, claims, per_claim, recovered, now)
    if principal_paid:
        await scoring.restore_limit(borrower_id, principal_paid)

    amounts = _amounts(found)
    repayment.status = RepaymentStatus.DONE
    repayment.installments = amounts["installments"]
    repayment.amount_fen = amounts["amount_fen"]
    repayment.principal_fen = amounts["principal_fen"]
    repayment.interest_fen = amounts["interest_fen"]
    repayment.fee_fen = amounts["fee_fen"]
    repayment.penalty_fen = amounts["penalty_fen"]
    repayment.early_fee_fen = amounts["early_fee_fen"]
    repayment.details = {
        **repayment.details,
        "allocation_order": [str(part) for part in order],
        "reserve_fen": reserve,
        "reserve_recovery_fen": recovery,
        "early_fee_asked_fen": found.early_fee_asked_fen,
        "accrued_days": found.accrued_days,
        # What it paid of each installment, and whether it paid it off: the record of an
        # installment paid in parts (its penalty's base changed on each payment day).
        "lines": [
            {
                "number": line.number,
                "principal_fen": line.principal_fen,
                "interest_fen": line.interest_fen,
                "fee_fen": line.fee_fen,
                "penalty_fen": line.penalty_fen,
                "settles": line.settles,
            }
            for line in paid_lines
        ],
    }
    repayment.done_at = now
    await repayment.save()

    await loan.refresh_from_db()
    still_open = [row for row in rows if row.status != InstallmentStatus.PAID]
    if not still_open:
        transition(loan, LoanEvent.SETTLE)
        await loan.save(update_fields=["status"])
        await extend_retention(loan_id=loan.id, ended_on=today)
    elif loan.status == LoanStatus.OVERDUE and not any(row.due_date < today for row in still_open):
        transition(loan, LoanEvent.CURE)
        await loan.save(update_fields=["status"])
    partly = [by_number[line.number] for line in paid_lines if not line.settles]
    await notifier.notify(
        user=borrower_id,
        kind="repayment",
        title="Loan settled" if not still_open else "Repayment received",
        body=f"{format_money(found.total_fen)} repaid on loan {loan.id}"
        + (": the loan is repaid in full." if not still_open else "")
        + "".join(
            f"; installment {row.number} still asks {format_money(overdue.amount_due(row))}"
            for row in partly
        )
        + ("." if still_open else ""),
    )


async def _pay_line(
    repayment: Repayment,
    loan: Loan,
    row: LoanInstallment,
    line: quote.Line,
    *,
    today: date,
    now: datetime,
) -> None:
    """Record what `line` pays of the installment `row` (in the caller's transaction):
    its paid parts raised; when the line pays it off, PAID (`paid_late` after its due
    date; its interest and fee become what was charged, less for an early repayment),
    the staff overdue PAID event and cure, the credit hook and the borrower's PAID
    event; otherwise it stays PENDING or OVERDUE and the borrower gets a PARTIALLY_PAID
    event with the parts paid and what it still asks."""
    row.paid_principal_fen += line.principal_fen
    row.paid_interest_fen += line.interest_fen
    row.paid_fee_fen += line.fee_fen
    row.penalty_paid_fen += line.penalty_fen
    if line.settles:
        # An early repayment charges less interest and no fee for the months not begun:
        # the installment then asks what it was paid.
        row.interest_fen = row.paid_interest_fen
        row.fee_fen = row.paid_fee_fen
        row.status = InstallmentStatus.PAID
        row.paid_on = today
        row.paid_late = today > row.due_date
    await row.save(
        update_fields=[
            "paid_principal_fen",
            "interest_fen",
            "paid_interest_fen",
            "fee_fen",
            "paid_fee_fen",
            "penalty_paid_fen",
            "status",
            "paid_on",
            "paid_late",
        ]
    )
    if not line.settles:
        await events.enqueue(
            user_id=loan.borrower_id,
            kind=RepaymentEventKind.PARTIALLY_PAID,
            loan_id=loan.id,
            installment=row.number,
            amount_fen=line.total_fen,
            at=now,
            principal_fen=line.principal_fen,
            interest_fen=line.interest_fen,
            fee_fen=line.fee_fen,
            penalty_fen=line.penalty_fen,
            remaining_fen=overdue.amount_due(row),
        )
        return
    if row.overdue_since is not None:
        # Staff PAID event; the loan is cured when nothing else is overdue.
        await overdue.overdue_cleared(row)
    # Installments an early repayment settles before they fall due are neither on time
    # nor late for the credit score: only those that fell due count.
    if row.due_date <= today or repayment.kind != RepaymentKind.EARLY_FULL:
        await scoring.on_installment_paid(
            loan.borrower_id,
            installment_key=f"{loan.id}#{row.number}",
            on_time=not row.paid_late,
        )
    await events.enqueue(
        user_id=loan.borrower_id,
        kind=RepaymentEventKind.PAID,
        loan_id=loan.id,
        installment=row.number,
        amount_fen=line.total_fen,
        at=now,
    )


# --- signed auto-debit on the due date (M4.3) --------------------------------------------


def _member(user_id: int) -> Actor:
    return Actor(user_id=user_id, kind="member", roles=frozenset({"member"}))


async def _auto_repay(installment: LoanInstallment, borrower_id: int) -> Repayment | None:
    """Settle one installment by auto-debit; None when it is paid already. A refusal is
    recorded once a day (REFUSED, with its code) and raised."""
    try:
        async with in_transaction():
            repayment = await Repayment.create(
                loan_id=installment.loan_id,
                borrower_id=borrower_id,
                kind=RepaymentKind.AUTO_DEBIT,
                status=RepaymentStatus.AWAITING_CONFIRMATION,
                installments=[installment.number],
                details={"installment": installment.number},
                created_at=await clock.now(),
            )
            await _settle(repayment, confirmed_amount_fen=None)
    except DomainError as error:
        if error.code in ("NOTHING_DUE", "LOAN_NOT_REPAYING"):
            return None
        now = await clock.now()
        day_start = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
        if not await Repayment.filter(
            loan_id=installment.loan_id,
            kind=RepaymentKind.AUTO_DEBIT,
            status=RepaymentStatus.REFUSED,
            created_at__gte=day_start,
        ).exists():
            await Repayment.create(
                loan_id=installment.loan_id,
                borrower_id=borrower_id,
                kind=RepaymentKind.AUTO_DEBIT,
                status=RepaymentStatus.REFUSED,
                installments=[installment.number],
                details={"installment": installment.number},
                refusal=error.code,
                created_at=now,
                done_at=now,
            )
        raise
    instructions.wake()
    outbox.wake()
    return repayment


async def _due_today(today: date) -> list[LoanInstallment]:
    """The unpaid installments due `today`, by loan and number: the job's work list."""
    return await LoanInstallment.filter(
        due_date=today, status__in=[InstallmentStatus.PENDING, InstallmentStatus.OVERDUE]
    ).order_by("loan_id", "number")


async def _shortfall(installment: LoanInstallment) -> tuple[int, int] | None:
    """The borrower, and what their available balance lacks to pay `installment` whole,
    read under the loan's row lock (which a confirmed repayment holds while it settles);
    None when the installment is paid or its loan is not being repaid. Read from the
    job's work list instead, a repayment the borrower confirmed after the list was read
    would leave the balance short of an installment no longer due, and the card would be
    debited for nothing."""
    async with in_transaction():
        loan = await Loan.filter(id=installment.loan_id).select_for_update().get()
        row = await LoanInstallment.get(id=installment.id)
        if loan.status not in REPAYABLE or row.status == InstallmentStatus.PAID:
            return None
        owed = quote.whole(_row(row)).total_fen
        available = await ledger.balance(ledger.available(loan.borrower_id))
    return loan.borrower_id, max(0, owed - available)


async def _top_up(installment: LoanInstallment, borrower_id: int, amount: int, today: date) -> None:
    """Deposit `amount` by signed auto-debit of the borrower's first bound card, keyed by
    installment and day so the card is debited once a day at most. A refusal is logged:
    the settlement then refuses for the balance."""
    card = await BankCard.filter(user_id=borrower_id, status="bound").order_by("id").first()
    if card is None:
        return
    try:
        await accounts.deposit(
            actor=_member(borrower_id),
            amount=amount,
            channel=DepositChannel.AUTO_DEBIT,
            idempotency_key=f"autodebit-{installment.id}-{today.isoformat()}",
            card_id=card.id,
        )
    except DomainError as error:
        logger.warning("auto-debit of installment %s refused: %s", installment.id, error.code)


async def _auto_debit(installment: LoanInstallment, today: date) -> bool:
    """Top up the shortfall from the card, then settle `installment`; True when paid."""
    found = await _shortfall(installment)
    if found is None:
        return False
    borrower_id, shortfall = found
    if shortfall:
        await _top_up(installment, borrower_id, shortfall, today)
    try:
        return await _auto_repay(installment, borrower_id) is not None
    except DomainError as error:
        logger.info("installment %s not repaid by auto-debit: %s", installment.id, error.code)
        return False


async def auto_debit_due() -> int:
    """The daily job: every unpaid installment due today (business clock) of a loan being
    repaid. When the borrower's available balance is short, the shortfall is deposited
    by signed auto-debit of their first bound card (idempotency key per installment and
    day, so the card is debited once a day at most); then the installment is settled
    (kind AUTO_DEBIT, no SMS code: the signed agreement is the consent). Returns how
    many installments were paid."""
    today = await clock.today()
    paid = 0
    for installment in await _due_today(today):
        if await _auto_debit(installment, today):
            paid += 1
    return paid


# --- the member's views ---------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    loan: Loan
    installments: list[LoanInstallment]

    @property
    def outstanding_principal_fen(self) -> int:
        return sum(row.principal_fen - row.paid_principal_fen for row in self.installments)

    @property
    def next_due_date(self) -> date | None:
        open_rows = [row for row in self.installments if row.status != InstallmentStatus.PAID]
        return open_rows[0].due_date if open_rows else None


async def schedule_of(actor: Actor, loan_id: int) -> Schedule | None:
    """The borrower's own loan's installments; None for anyone else (or no such loan)."""
    loan = await Loan.get_or_none(id=loan_id, borrower_id=actor.user_id)
    if loan is None:
        return None
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    return Schedule(loan=loan, installments=rows)


@dataclass(frozen=True)
class Receivable:
    """One claim held: what its holder received (the risk reserve's advances included,
    its recovery of them not counted again) and what it still expects."""

    claim: Claim
    loan: Loan
    received_principal_fen: int
    received_interest_fen: int
    received_penalty_fen: int
    expected_principal_fen: int
    expected_interest_fen: int
    next_due_date: date | None


@dataclass(frozen=True)
class _LoanView:
    """What a holder's view needs of one loan: each claim's share of the loan's whole
    interest (claim id -> fen) and the earliest unpaid installment's due date (None once
    every installment is paid: nothing more is expected then)."""

    interest_targets: dict[int, int]
    next_due_date: date | None


async def _loan_views(loan_ids: list[int]) -> dict[int, _LoanView]:
    """`_LoanView` of each loan, from two queries whatever the number of loans: all their
    claims (in id order, the split's order) and all their installments (in number order)."""
    claims = await (
        Claim.filter(loan_id__in=loan_ids)
        .order_by("loan_id", "id")
        .values_list("loan_id", "id", "principal_fen")
    )
    rows = await (
        LoanInstallment.filter(loan_id__in=loan_ids)
        .order_by("loan_id", "number")
        .values_list("loan_id", "interest_fen", "status", "due_date")
    )
    claims_of: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for loan_id, claim_id, principal in cast(list[tuple[int, int, int]], claims):
        claims_of[loan_id].append((claim_id, principal))
    interest: dict[int, int] = defaultdict(int)
    next_due: dict[int, date] = {}
    for loan_id, row_interest, status, due_date in cast(list[tuple[int, int, str, date]], rows):
        interest[loan_id] += row_interest
        if status != InstallmentStatus.PAID:
            next_due.setdefault(loan_id, due_date)
    return {
        loan_id: _loan_view(claims_of[loan_id], interest[loan_id], next_due.get(loan_id))
        for loan_id in loan_ids
    }


def _loan_view(
    claims: list[tuple[int, int]], total_interest_fen: int, next_due_date: date | None
) -> _LoanView:
    """The view of a loan from its claims (id, principal; in id order) and its interest."""
    targets = split.interest_targets(total_interest_fen, [principal for _id, principal in claims])
    return _LoanView(
        interest_targets={
            claim_id: target for (claim_id, _p), target in zip(claims, targets, strict=True)
        },
        next_due_date=next_due_date,
    )


def _receivable(claim: Claim, loan: Loan, view: _LoanView, got: holdings.Parts) -> Receivable:
    """A claim's receivable: what was had of it (`holdings.had`), what is still to come. Once the
    loan is repaid no interest is expected (an early repayment charged less than the
    schedule's)."""
    open_loan = view.next_due_date is not None
    return Receivable(
        claim=claim,
        loan=loan,
        received_principal_fen=got.principal_fen,
        received_interest_fen=got.interest_fen,
        received_penalty_fen=got.penalty_fen,
        expected_principal_fen=claim.principal_fen - got.principal_fen,
        expected_interest_fen=(
            max(0, view.interest_targets[claim.id] - got.interest_fen) if open_loan else 0
        ),
        next_due_date=view.next_due_date,
    )


async def receivables_of(user_id: int) -> list[Receivable]:
    """Every claim the member holds, newest first. Six queries however many claims and
    loans (the held claims, their loans, the loans' claims and installments, `holdings.had`'s
    receipts and advances), the figures computed here."""
    held = await Claim.filter(holder_id=user_id).order_by("-id")
    if not held:
        return []
    loan_ids = sorted({claim.loan_id for claim in held})
    loans = {loan.id: loan for loan in await Loan.filter(id__in=loan_ids)}
    views = await _loan_views(loan_ids)
    had = await holdings.had([claim.id for claim in held])
    return [
        _receivable(claim, loans[claim.loan_id], views[claim.loan_id], had[claim.id])
        for claim in held
    ]


def paid_off(repayment: Repayment) -> list[int]:
    """The installments a repayment pays off: all it pays, except that an amount (mode
    AMOUNT) may leave the last one partly paid (as confirmed: `details["settles"]`)."""
    settles = repayment.details.get("settles")
    numbers = repayment.installments if settles is None else settles
    return [int(number) for number in numbers]


async def repayments_of(user_id: int, *, first: int, before_id: int | None) -> Page[Repayment]:
    """The borrower's repayments, newest first (`first` rows before `before_id`)."""
    query = Repayment.filter(borrower_id=user_id)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)
