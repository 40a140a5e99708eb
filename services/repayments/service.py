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

from typing import Any

from tortoise.transactions import in_transaction

from models.payments import PendingOperation
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from services.errors import DomainError, InvalidInputError
from services.identity.permissions import Actor
from services.money.idempotency import Claim as KeyClaim
from services.money.idempotency import run_once, validate_key
from services.money.money import format_money
from services.operations.confirmation import open_operation, send_operation_code
from services.operations.registry import register_operation
from services.platform import clock
from services.repayments import overdue
from services.repayments.due import (
    RepayMode,
    _amounts,
    _kind_and_details,
    _quote,
    _repayable,
    _settled_numbers,
)
from services.repayments.settlement import _settle

REPAYMENT_OPERATION = "REPAYMENT"


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
