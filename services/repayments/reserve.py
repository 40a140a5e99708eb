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
the next installment(s), early repayment in full, auto-debit, or an amount towards what
has fallen due), the principal and interest paid of it go to the reserve until it has
recovered all it advanced of that installment: per claim, each part split towards what
the reserve advanced of the claim (`split.toward`: targets = the advanced principal,
resp. interest, per claim; received = what the reserve already recovered of that claim
for that installment, `recovered_by_installment`), so the payment that completes the
installment gives each claim exactly the rest of its advance. That money goes to
`p:risk_reserve` (one transfer per repayment, reference
`repayment:<id>:reserve-recovery`), recorded as Receipt rows with `to_reserve` set. Since
the advance was everything then unpaid of principal and interest, every fen of them paid
after it is the reserve's (an installment paid in part before the advance: the advance
covered only what was unpaid then, and the holders kept what they had). The
installment's penalty is not the reserve's: it accrued while the holders waited the
days before the advance, and the reserve advanced principal and interest only, so it is
split among the holders as for any installment. Once every advanced installment is
repaid, the reserve is back to its balance before the advances (plus its fee share,
`repayments.riskReserveShare`).

What the reserve recovered per claim of one installment is read from the `to_reserve`
receipts (per repayment and claim, not per installment) as follows: of an advanced
installment, the reserve has recovered in all (advanced less what is unpaid now) of
principal and of interest. One recovered whole gave each claim exactly its advance; one
not begun, nothing; and at most one advanced installment is recovered in part at any time
(a partial payment leaves only the oldest unpaid installment partly paid: an amount pays
the installments fallen due oldest first, every other mode pays whole installments from
the earliest unpaid, and the auto-debit pays only installments due today, never
advanced). So that one's share per claim is the claim's `to_reserve` receipts less the
advances of the installments recovered whole. `recovered_by_installment` checks these
figures add up and raises RuntimeError (a bug: the repayment rolls back) when they do not.

What a holder has had of a claim (`holdings.had`) counts the advance as received
from the day it is paid, so the split's targets over the rest of the loan, `myReceivables`
and the R4 outstanding see it; the recovery receipts are the same money again and are
not counted a second time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import cast

from tortoise.transactions import in_transaction

from models.bids import Claim
from models.loans import Loan, LoanStatus
from models.repayments import InstallmentStatus, LoanInstallment, Receipt, ReserveAdvance
from services.money import ledger, movements
from services.money.ledger import InsufficientFundsError
from services.money.money import format_money
from services.payments import instructions
from services.platform import clock, notifier, parameters
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
        shares = split.split_holdings(
            principal_fen=principal,
            interest_fen=interest,
            penalty_fen=0,
            holdings=holdings.as_holdings(claims, received_principal, received_interest),
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
                if made and principal:
                    await holdings.principal_paid([loan.id])
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


PrincipalInterest = tuple[int, int]


def recovered_by_installment(
    *,
    advanced: Mapping[int, Mapping[int, PrincipalInterest]],
    unpaid: Mapping[int, PrincipalInterest],
    recovered: Mapping[int, PrincipalInterest],
) -> dict[int, dict[int, PrincipalInterest]]:
    """What the reserve has recovered of each advanced installment, per claim (pure; see
    the module docstring). `advanced`: installment id -> claim id -> (principal, interest)
    advanced; `unpaid`: installment id -> (principal, interest) still unpaid of it;
    `recovered`: claim id -> (principal, interest) of its `to_reserve` receipts over the
    loan. Answers installment id -> claim id -> (principal, interest) recovered, for
    every advanced installment. Raises RuntimeError when the figures disagree."""
    answer: dict[int, dict[int, PrincipalInterest]] = {}
    rest: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for claim_id, (principal, interest) in recovered.items():
        rest[claim_id][0] += principal
        rest[claim_id][1] += interest
    partly: list[tuple[int, PrincipalInterest]] = []
    for installment_id, per_claim in advanced.items():
        whole_principal = sum(principal for principal, _interest in per_claim.values())
        whole_interest = sum(interest for _principal, interest in per_claim.values())
        left_principal, left_interest = unpaid[installment_id]
        back = (whole_principal - left_principal, whole_interest - left_interest)
        if back == (whole_principal, whole_interest):
            answer[installment_id] = dict(per_claim)
            for claim_id, (principal, interest) in per_claim.items():
                rest[claim_id][0] -= principal
                rest[claim_id][1] -= interest
        elif back == (0, 0):
            answer[installment_id] = dict.fromkeys(per_claim, (0, 0))
        else:
            partly.append((installment_id, back))
    if len(partly) > 1:
        raise RuntimeError(f"several advanced installments recovered in part: {partly}")
    if partly:
        [(installment_id, back)] = partly
        per_claim = advanced[installment_id]
        answer[installment_id] = {
            claim_id: (rest[claim_id][0], rest[claim_id][1]) for claim_id in per_claim
        }
        for claim_id in per_claim:
            rest[claim_id] = [0, 0]
        got = answer[installment_id]
        sums = (sum(p for p, _i in got.values()), sum(i for _p, i in got.values()))
        within = all(
            0 <= got[claim_id][0] <= principal and 0 <= got[claim_id][1] <= interest
            for claim_id, (principal, interest) in per_claim.items()
        )
        if sums != back or not within:
            raise RuntimeError(f"reserve recovery of installment {installment_id} disagrees")
    if any(parts != [0, 0] for parts in rest.values()):
        raise RuntimeError("reserve recovery receipts disagree with the advances")
    return answer


async def recovered_of_loan(
    loan_id: int, rows: Iterable[LoanInstallment]
) -> dict[int, dict[int, PrincipalInterest]]:
    """`recovered_by_installment` of a loan (`rows`: all its installments): two queries,
    none when nothing of it was advanced."""
    by_id = {row.id: row for row in rows}
    advanced = await advanced_by_installment(by_id)
    if not advanced:
        return {}
    receipts = await Receipt.filter(loan_id=loan_id, to_reserve=True).values_list(
        "claim_id", "principal_fen", "interest_fen"
    )
    recovered: dict[int, PrincipalInterest] = {}
    for claim_id, principal, interest in cast(list[tuple[int, int, int]], receipts):
        had_principal, had_interest = recovered.get(claim_id, (0, 0))
        recovered[claim_id] = (had_principal + principal, had_interest + interest)
    unpaid = {
        installment_id: (
            by_id[installment_id].principal_fen - by_id[installment_id].paid_principal_fen,
            by_id[installment_id].interest_fen - by_id[installment_id].paid_interest_fen,
        )
        for installment_id in advanced
    }
    return recovered_by_installment(advanced=advanced, unpaid=unpaid, recovered=recovered)
