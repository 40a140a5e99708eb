"""Risk-reserve advance (parameter `repayments.reserveAdvance`, off by default: R5).

When enabled, every installment overdue `after_days` or more (days = today - due date)
whose holders were not yet paid is advanced once: its unpaid principal and interest are
split among the loan's claims exactly as the borrower's payment of it would be, towards
each claim's targets from what its holder has had (`holdings`, `split.split_payment`;
claims in id order, principal and interest each on its own), and each holder's part moves from
`p:risk_reserve` to their available balance (`movements.transfer`, reference
`reserve-advance:<installment>:<claim>`). A `reserve_advances` row per holder records
that the reserve now holds that part of the claim: when the borrower pays the
installment later, the repayments code pays those parts to the reserve, not the holder.

All or nothing per installment: when the reserve holds less than the installment's
unpaid principal and interest, nothing moves for it (logged) and the next day's run tries
again. Penalty and fee are not advanced.

Recovery. When the borrower pays an advanced installment (any repayment that settles it:
the next installment(s), early repayment in full, auto-debit), the settlement
(`services.repayments.service`) gives each claim exactly the principal and interest the
reserve advanced of it (the advance already decided the split) and pays that money to
`p:risk_reserve` (one transfer per repayment, reference `repayment:<id>:reserve-recovery`),
recorded as Receipt rows with `to_reserve` set. The installment's penalty is not the
reserve's: it accrued while the holders waited the days before the advance, and the
reserve advanced principal and interest only, so it is split among the holders as for
any installment. Once every advanced installment is repaid, the reserve is back to its
balance before the advances (plus its fee share, `repayments.riskReserveShare`).

What a holder has had of a claim (`holdings.had`) counts the advance as received
from the day it is paid, so the split's targets over the rest of the loan, `myReceivables`
and the R4 outstanding see it; the recovery receipts are the same money again and are
not counted a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta

from tortoise.transactions import in_transaction

from models.bids import Claim
from models.loans import Loan, LoanStatus
from models.repayments import InstallmentStatus, LoanInstallment, ReserveAdvance
from services import clock, ledger, movements, notifier, parameters
from services.ledger import InsufficientFundsError
from services.money import format_money
from services.payments import instructions
from services.repayments import holdings, split
from services.repayments.events import repayment_event
from services.repayments.overdue_policy import RESERVE_ADVANCE

logger = logging.getLogger(__name__)


async def advance_overdue(today: date) -> int:
    """Advance every installment due; returns how many holder payments were made."""
    settings = await parameters.get(RESERVE_ADVANCE)
    if not settings.enabled:
        return 0
    due = await LoanInstallment.filter(
        status=InstallmentStatus.OVERDUE,
        due_date__lte=today - timedelta(days=settings.after_days),
        loan__status=LoanStatus.OVERDUE,
    ).order_by("loan_id", "number")
    made = 0
    for row in due:
        if await ReserveAdvance.filter(installment_id=row.id).exists():
            continue
        made += await _advance(row.id)
    if made:
        instructions.wake()
    return made


async def _advance(installment_id: int) -> int:
    async with in_transaction():
        row = await LoanInstallment.get(id=installment_id)
        loan = await Loan.filter(id=row.loan_id).select_for_update().get()
        await row.refresh_from_db()  # as it stands under the loan's lock
        if row.status != InstallmentStatus.OVERDUE:
            return 0
        if await ReserveAdvance.filter(installment_id=row.id).exists():
            return 0
        principal = row.principal_fen - row.paid_principal_fen
        interest = row.interest_fen - row.paid_interest_fen
        claims = await Claim.filter(loan_id=loan.id).order_by("id")
        total = principal + interest
        if total <= 0 or not claims:
            return 0
        reserve_balance = await ledger.balance(ledger.RISK_RESERVE)
        if reserve_balance < total:
            logger.warning(
                "risk reserve %s short of %s for installment %s of loan %s: not advanced",
                format_money(reserve_balance),
                format_money(total),
                row.number,
                loan.id,
            )
            return 0
        # The advance is split as the borrower's payment of the installment would have
        # been: towards each claim's targets from what its holder has had (`holdings`).
        received_principal, received_interest = await holdings.received(claims)
        shares = split.split_payment(
            principal_fen=principal,
            interest_fen=interest,
            penalty_fen=0,
            principals=[claim.principal_fen for claim in claims],
            received_principal=received_principal,
            received_interest=received_interest,
            total_interest_fen=holdings.total_interest(
                await LoanInstallment.filter(loan_id=loan.id)
            ),
        )
        principal_parts = [share.principal_fen for share in shares]
        interest_parts = [share.interest_fen for share in shares]
        now = await clock.now()
        made = 0
        try:
            async with in_transaction():  # a savepoint: all holders or none
                for claim, part_p, part_i in zip(
                    claims, principal_parts, interest_parts, strict=True
                ):
                    if part_p + part_i == 0:
                        continue
                    await movements.transfer(
                        from_user_id=None,
                        from_platform=ledger.RISK_RESERVE,
                        to_user_id=claim.holder_id,
                        to_platform=None,
                        amount=part_p + part_i,
                        reference=f"reserve-advance:{row.id}:{claim.id}",
                        kind="reserve_advance",
                    )
                    await ReserveAdvance.create(
                        loan_id=loan.id,
                        installment_id=row.id,
                        claim_id=claim.id,
                        holder_id=claim.holder_id,
                        principal_fen=part_p,
                        interest_fen=part_i,
                        created_at=now,
                    )
                    await notifier.notify(
                        user=claim.holder_id,
                        kind="repayment",
                        title="Overdue installment advanced",
                        body=f"Installment {row.number} of loan {loan.id} is overdue: "
                        f"{format_money(part_p + part_i)} was paid to you from the risk "
                        "reserve, which takes over that part of your claim.",
                    )
                    await repayment_event(
                        claim.holder_id,
                        kind="ADVANCED",
                        loan_id=loan.id,
                        installment=row.number,
                        amount_fen=part_p + part_i,
                    )
                    made += 1
        except InsufficientFundsError:
            logger.warning("risk reserve short for installment %s of loan %s", row.number, loan.id)
            return 0
    return made


async def advanced_parts(installment_id: int) -> dict[int, tuple[int, int]]:
    """claim id -> (principal, interest) the reserve advanced of this installment: what
    the repayments code pays to the reserve instead of the claim's holder."""
    rows = await ReserveAdvance.filter(installment_id=installment_id)
    return {row.claim_id: (row.principal_fen, row.interest_fen) for row in rows}


async def advanced_by_installment(
    installment_ids: Iterable[int],
) -> dict[int, dict[int, tuple[int, int]]]:
    """installment id -> `advanced_parts` of it, for several installments in one query
    (installments the reserve did not advance are absent)."""
    rows = await ReserveAdvance.filter(installment_id__in=list(installment_ids))
    answer: dict[int, dict[int, tuple[int, int]]] = {}
    for row in rows:
        answer.setdefault(row.installment_id, {})[row.claim_id] = (
            row.principal_fen,
            row.interest_fen,
        )
    return answer
