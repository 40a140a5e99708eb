"""Risk-reserve advance (parameter `repayments.reserveAdvance`, off by default: R5): the
reserve's policy over the one engine of `advances.py` (which a guarantee company's
compensation uses too), and the readings of it with their first names and shapes.

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
`repayment:<id>:reserve-recovery`), recorded as Receipt rows with `to_reserve` set and
`recoverer` = `p:risk_reserve`. Since
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

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, timedelta

from models.loans import LoanStatus
from models.repayments import InstallmentAdvance, InstallmentStatus, LoanInstallment
from services.money import ledger
from services.payments import instructions
from services.platform import parameters
from services.repayments import advances
from services.repayments.advances import AdvanceOf, Triple
from services.repayments.overdue_policy import RESERVE_ADVANCE

RESERVE = advances.Payer(
    recoverer=ledger.RISK_RESERVE,
    reference="reserve-advance",
    kind="reserve_advance",
    name="the risk reserve",
)

# Loans some other payer stands behind (a guarantee policy in force): the reserve never
# advances them, so a loan has one recoverer. Registered by the domains above (models
# only are read here), each a callable giving the loan ids among those asked.
LoanFinder = Callable[[list[int]], Awaitable[set[int]]]
_excluded: list[LoanFinder] = []


def exclude_loans(finder: LoanFinder) -> LoanFinder:
    """Register `finder(loan_ids) -> the loan ids the reserve must not advance`."""
    _excluded.append(finder)
    return finder


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
    if not due:
        return 0
    done = set(
        await InstallmentAdvance.filter(installment_id__in=[row.id for row in due]).values_list(
            "installment_id", flat=True
        )
    )
    skipped: set[int] = set()
    for finder in _excluded:
        skipped |= set(await finder(sorted({row.loan_id for row in due})))
    made = 0
    for row in due:
        if row.id in done or row.loan_id in skipped:
            continue
        found = await advances.advance_installment(
            row.id, payer=RESERVE, cover=advances.PRINCIPAL_INTEREST
        )
        made += found.payments if found else 0
    if made:
        instructions.wake()
    return made


async def advanced_parts(installment_id: int) -> dict[int, tuple[int, int]]:
    """claim id -> (principal, interest) advanced of this installment: what the
    repayments code pays to the reserve instead of the claim's holder."""
    found = await advances.advanced_by_installment([installment_id])
    if installment_id not in found:
        return {}
    return {claim: (p, i) for claim, (p, i, _q) in found[installment_id].per_claim.items()}


PrincipalInterest = tuple[int, int]


def recovered_by_installment(
    *,
    advanced: Mapping[int, Mapping[int, PrincipalInterest]],
    unpaid: Mapping[int, PrincipalInterest],
    recovered: Mapping[int, PrincipalInterest],
) -> dict[int, dict[int, PrincipalInterest]]:
    """What the reserve has recovered of each advanced installment, per claim (pure; the
    reserve's case of `advances.recovered_parts`: it advanced everything then unpaid of
    principal and interest, so what was paid since is the advance less what is unpaid
    now). `advanced`: installment id -> claim id -> (principal, interest) advanced;
    `unpaid`: installment id -> (principal, interest) still unpaid of it; `recovered`:
    claim id -> (principal, interest) of its recovery receipts over the loan. Raises
    RuntimeError when the figures disagree."""
    of: dict[int, AdvanceOf] = {}
    since: dict[int, Triple] = {}
    for installment_id, per_claim in advanced.items():
        whole = (
            sum(p for p, _i in per_claim.values()),
            sum(i for _p, i in per_claim.values()),
            0,
        )
        of[installment_id] = AdvanceOf(
            recoverer=ledger.RISK_RESERVE,
            whole=whole,
            before=(0, 0, 0),
            per_claim={claim: (p, i, 0) for claim, (p, i) in per_claim.items()},
        )
        left_p, left_i = unpaid[installment_id]
        since[installment_id] = (whole[0] - left_p, whole[1] - left_i, 0)
    answer = advances.recovered_parts(
        advanced=of,
        paid_since=since,
        recovered={claim: (p, i, 0) for claim, (p, i) in recovered.items()},
    )
    return {
        installment_id: {claim: (p, i) for claim, (p, i, _q) in per_claim.items()}
        for installment_id, per_claim in answer.items()
    }
