"""One engine for "someone pays the holders now and recovers later" (issue 21): the risk
reserve's advance (`reserve.py`, off by default: R5) and a guarantee company's
compensation (代偿, `services.guarantees.compensation`) are both this, with a different
payer and cover.

Advance. An overdue installment is advanced once, by one payer (`Payer.recoverer`, a
ledger code that is also its provider account's owner: `p:risk_reserve`, `g:<company>`).
What is advanced is everything then unpaid of each covered part (`Cover`: principal,
interest, penalty accrued through the day), split among the loan's holdings exactly as
the borrower's payment of it would be (`split.split_holdings` towards each holding's
targets from what it has had, `holdings`), one transfer per holder from the payer's
account (reference `<payer.reference>:<installment>:<claim>`). All or nothing: under the
loan's lock, in a savepoint; a payer short of the total moves nothing. Rows: one
`InstallmentAdvance` header (the totals, and what the borrower had paid of each part
before: its uniqueness is the backstop against advancing twice) and one `ReserveAdvance`
per holder with its parts.

Recovery (subrogation). The payer now holds those parts of the claims. Of each part it
advanced, the borrower's later payments go to it first until it has them back: it has
recovered `min(advanced, paid now - paid before)` of the part in all (for a covered
part, advanced = unpaid then, so every fen of it paid after the advance is the payer's;
for an uncovered part nothing). Per claim, each payment of a part is split towards what
the payer advanced of each claim (`split.toward`), so the payment that completes the
installment gives each claim exactly the rest of its advance; the rest of the payment
(uncovered parts; penalty accrued after the advance) goes to the holdings as for any
installment. What was recovered per claim is read from the payer's recovery receipts
(`Receipt.recoverer`), per repayment and claim, not per installment: of an installment
recovered whole each claim had its advance, of one not begun nothing, and at most one
advanced installment is recovered in part at any time (a partial payment leaves only the
oldest unpaid installment part-paid: an amount pays the installments fallen due oldest
first, every other mode pays whole installments from the earliest unpaid, and the
auto-debit pays only installments due today, never advanced). So that one's share per
claim is the claim's recovery receipts less the advances of the installments recovered
whole. `recovered_parts` checks these figures add up and raises RuntimeError (a bug: the
repayment rolls back) when they do not.

What a holder has had of a claim (`holdings.had`) counts the advance as received from
the day it is paid; the recovery receipts are the same money again, never counted twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Flag
from typing import cast

from tortoise.transactions import in_transaction

from models.bids import Claim
from models.loans import Loan
from models.repayments import (
    InstallmentAdvance,
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    ReserveAdvance,
)
from services.money import ledger, movements
from services.money.ledger import InsufficientFundsError
from services.money.money import format_money
from services.platform import clock, notifier
from services.repayments import holdings, split
from services.repayments.events import repayment_event

logger = logging.getLogger(__name__)

Triple = tuple[int, int, int]  # principal, interest, penalty (fen)
NOTHING: Triple = (0, 0, 0)


class Cover(Flag):
    """The parts of an overdue installment a payer advances."""

    PRINCIPAL = 1
    INTEREST = 2
    PENALTY = 4


PRINCIPAL_INTEREST = Cover.PRINCIPAL | Cover.INTEREST


@dataclass(frozen=True)
class Payer:
    """Who pays the holders now and is subrogated."""

    recoverer: str  # ledger code paid from (and provider owner): p:risk_reserve, g:<id>
    reference: str  # journal key prefix: <reference>:<installment>:<claim>
    kind: str  # journal kind
    name: str  # for the holders' notices: "the risk reserve", the company's name
    title: str = "Overdue installment advanced"


@dataclass(frozen=True)
class Advanced:
    """What one advance paid: the parts in all, and how many holder payments."""

    installment_id: int
    principal_fen: int
    interest_fen: int
    penalty_fen: int
    payments: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.penalty_fen


@dataclass(frozen=True)
class AdvanceOf:
    """An advanced installment: who, the parts advanced in all and paid before, and the
    parts per claim."""

    recoverer: str
    whole: Triple
    before: Triple
    per_claim: dict[int, Triple] = field(default_factory=dict)


def unpaid_parts(row: LoanInstallment) -> Triple:
    """What is unpaid of each part of an installment as it stands (penalty as accrued)."""
    return (
        row.principal_fen - row.paid_principal_fen,
        row.interest_fen - row.paid_interest_fen,
        row.penalty_accrued_fen - row.penalty_paid_fen,
    )


def covered(row: LoanInstallment, cover: Cover) -> Triple:
    """The parts of `row` an advance with `cover` pays: each covered part's unpaid."""
    principal, interest, penalty = unpaid_parts(row)
    return (
        principal if Cover.PRINCIPAL in cover else 0,
        interest if Cover.INTEREST in cover else 0,
        penalty if Cover.PENALTY in cover else 0,
    )


# Called under the loan's lock with the total about to be advanced, before the payer's
# balance is read: may make money available (a guarantor's margin); False moves nothing.
Prepare = Callable[[int], Awaitable[bool]]


async def advance_installment(
    installment_id: int, *, payer: Payer, cover: Cover, prepare: Prepare | None = None
) -> Advanced | None:
    """Advance one OVERDUE installment not advanced yet (see the module docstring), in
    the caller's transaction if any. None when nothing moved: not overdue, advanced
    already, nothing covered unpaid, the payer short, or `prepare` said no."""
    async with in_transaction():
        row = await LoanInstallment.get(id=installment_id)
        loan = await Loan.filter(id=row.loan_id).select_for_update().get()
        await row.refresh_from_db()  # as it stands under the loan's lock
        if row.status != InstallmentStatus.OVERDUE:
            return None
        if await InstallmentAdvance.filter(installment_id=row.id).exists():
            return None
        principal, interest, penalty = covered(row, cover)
        claims = await Claim.filter(loan_id=loan.id).order_by("id")
        total = principal + interest + penalty
        if total <= 0 or not claims:
            return None
        if prepare is not None and not await prepare(total):
            return None
        balance = await ledger.balance(payer.recoverer)
        if balance < total:
            logger.warning(
                "%s has %s, short of %s for installment %s of loan %s: not advanced",
                payer.recoverer,
                format_money(balance),
                format_money(total),
                row.number,
                loan.id,
            )
            return None
        received_principal, received_interest = await holdings.received(claims)
        shares = split.split_holdings(
            principal_fen=principal,
            interest_fen=interest,
            penalty_fen=penalty,
            holdings=holdings.as_holdings(claims, received_principal, received_interest),
            total_interest_fen=holdings.total_interest(
                await LoanInstallment.filter(loan_id=loan.id)
            ),
        )
        try:
            async with in_transaction():  # a savepoint: all holders or none
                made = await _pay_holders(
                    loan, row, claims, shares, payer, (principal, interest, penalty)
                )
        except InsufficientFundsError:
            logger.warning(
                "%s short for installment %s of loan %s", payer.recoverer, row.number, loan.id
            )
            return None
    return Advanced(row.id, principal, interest, penalty, made)


async def _pay_holders(
    loan: Loan,
    row: LoanInstallment,
    claims: list[Claim],
    shares: list[split.Share],
    payer: Payer,
    whole: Triple,
) -> int:
    now = await clock.now()
    await InstallmentAdvance.create(
        loan_id=loan.id,
        installment_id=row.id,
        recoverer=payer.recoverer,
        principal_fen=whole[0],
        interest_fen=whole[1],
        penalty_fen=whole[2],
        paid_principal_before_fen=row.paid_principal_fen,
        paid_interest_before_fen=row.paid_interest_fen,
        penalty_paid_before_fen=row.penalty_paid_fen,
        created_at=now,
    )
    made = 0
    for claim, share in zip(claims, shares, strict=True):
        amount = share.principal_fen + share.interest_fen + share.penalty_fen
        if amount == 0:
            continue
        await movements.transfer(
            from_user_id=None,
            from_platform=payer.recoverer,
            to_user_id=claim.holder_id,
            to_platform=None,
            amount=amount,
            reference=f"{payer.reference}:{row.id}:{claim.id}",
            kind=payer.kind,
        )
        await ReserveAdvance.create(
            loan_id=loan.id,
            installment_id=row.id,
            claim_id=claim.id,
            holder_id=claim.holder_id,
            recoverer=payer.recoverer,
            principal_fen=share.principal_fen,
            interest_fen=share.interest_fen,
            penalty_fen=share.penalty_fen,
            created_at=now,
        )
        await notifier.notify(
            user=claim.holder_id,
            kind="repayment",
            title=payer.title,
            body=f"Installment {row.number} of loan {loan.id} is overdue: "
            f"{format_money(amount)} was paid to you by {payer.name}, which takes over "
            "that part of your claim.",
        )
        await repayment_event(
            claim.holder_id,
            kind="ADVANCED",
            loan_id=loan.id,
            installment=row.number,
            amount_fen=amount,
        )
        made += 1
    if made and whole[0]:
        await holdings.principal_paid([loan.id])
    return made


async def advanced_by_installment(installment_ids: Iterable[int]) -> dict[int, AdvanceOf]:
    """installment id -> its advance, for several installments in two queries
    (installments nobody advanced are absent)."""
    ids = list(installment_ids)
    headers = await InstallmentAdvance.filter(installment_id__in=ids)
    if not headers:
        return {}
    answer = {
        header.installment_id: AdvanceOf(
            recoverer=header.recoverer,
            whole=(header.principal_fen, header.interest_fen, header.penalty_fen),
            before=(
                header.paid_principal_before_fen,
                header.paid_interest_before_fen,
                header.penalty_paid_before_fen,
            ),
        )
        for header in headers
    }
    for row in await ReserveAdvance.filter(installment_id__in=list(answer)):
        answer[row.installment_id].per_claim[row.claim_id] = (
            row.principal_fen,
            row.interest_fen,
            row.penalty_fen,
        )
    return answer


def _add(a: Triple, b: Triple, sign: int = 1) -> Triple:
    return (a[0] + sign * b[0], a[1] + sign * b[1], a[2] + sign * b[2])


def recovered_parts(
    *,
    advanced: Mapping[int, AdvanceOf],
    paid_since: Mapping[int, Triple],
    recovered: Mapping[int, Triple],
) -> dict[int, dict[int, Triple]]:
    """What one recoverer has had back of each installment it advanced, per claim (pure;
    see the module docstring). `advanced`: its advances by installment id; `paid_since`:
    installment id -> each part paid since its advance; `recovered`: claim id -> the
    recoverer's receipts of the claim over the loan. Raises RuntimeError when the figures
    disagree."""
    answer: dict[int, dict[int, Triple]] = {}
    rest: dict[int, Triple] = defaultdict(lambda: NOTHING)
    for claim_id, parts in recovered.items():
        rest[claim_id] = _add(rest[claim_id], parts)
    partly: list[tuple[int, Triple]] = []
    for installment_id, advance in advanced.items():
        since = paid_since[installment_id]
        back = cast(
            Triple, tuple(min(w, max(0, s)) for w, s in zip(advance.whole, since, strict=True))
        )
        if back == advance.whole:
            answer[installment_id] = dict(advance.per_claim)
            for claim_id, parts in advance.per_claim.items():
                rest[claim_id] = _add(rest[claim_id], parts, -1)
        elif back == NOTHING:
            answer[installment_id] = dict.fromkeys(advance.per_claim, NOTHING)
        else:
            partly.append((installment_id, back))
    if len(partly) > 1:
        raise RuntimeError(f"several advanced installments recovered in part: {partly}")
    if partly:
        [(installment_id, back)] = partly
        per_claim = advanced[installment_id].per_claim
        got = {claim_id: rest[claim_id] for claim_id in per_claim}
        for claim_id in per_claim:
            rest[claim_id] = NOTHING
        answer[installment_id] = got
        sums = cast(Triple, tuple(sum(parts[k] for parts in got.values()) for k in range(3)))
        within = all(
            0 <= got[claim_id][k] <= parts[k]
            for claim_id, parts in per_claim.items()
            for k in range(3)
        )
        if sums != back or not within:
            raise RuntimeError(f"recovery of installment {installment_id} disagrees")
    if any(parts != NOTHING for parts in rest.values()):
        raise RuntimeError("recovery receipts disagree with the advances")
    return answer


def paid_since(row: LoanInstallment, advance: AdvanceOf) -> Triple:
    """Each part of `row` paid since its advance."""
    return (
        row.paid_principal_fen - advance.before[0],
        row.paid_interest_fen - advance.before[1],
        row.penalty_paid_fen - advance.before[2],
    )


async def recovered_of_loan(
    loan_id: int, rows: Iterable[LoanInstallment], advanced: Mapping[int, AdvanceOf] | None = None
) -> dict[int, dict[int, Triple]]:
    """`recovered_parts` of a loan for every recoverer (`rows`: all its installments;
    `advanced`: their advances when the caller has them): at most three queries, none
    when nothing of it was advanced."""
    by_id = {row.id: row for row in rows}
    if advanced is None:
        advanced = await advanced_by_installment(by_id)
    if not advanced:
        return {}
    receipts = await Receipt.filter(loan_id=loan_id, to_reserve=True).values_list(
        "recoverer", "claim_id", "principal_fen", "interest_fen", "penalty_fen"
    )
    recovered: dict[str, dict[int, Triple]] = defaultdict(lambda: defaultdict(lambda: NOTHING))
    for recoverer, claim_id, principal, interest, penalty in cast(
        list[tuple[str, int, int, int, int]], receipts
    ):
        recovered[recoverer][claim_id] = _add(
            recovered[recoverer][claim_id], (principal, interest, penalty)
        )
    answer: dict[int, dict[int, Triple]] = {}
    for recoverer in sorted({advance.recoverer for advance in advanced.values()}):
        mine = {key: advance for key, advance in advanced.items() if advance.recoverer == recoverer}
        answer.update(
            recovered_parts(
                advanced=mine,
                paid_since={key: paid_since(by_id[key], advance) for key, advance in mine.items()},
                recovered=recovered.get(recoverer, {}),
            )
        )
    return answer


# Hooks called in the paying transaction with {recoverer: {loan id: fen recovered}}
# (a guarantee's policy moves to RECOVERED); registered by the domains above this one.
_on_recovered: list[Callable[[dict[str, dict[int, int]]], Awaitable[None]]] = []


def on_recovered(
    hook: Callable[[dict[str, dict[int, int]]], Awaitable[None]],
) -> Callable[[dict[str, dict[int, int]]], Awaitable[None]]:
    _on_recovered.append(hook)
    return hook


async def recovered(amounts: dict[str, dict[int, int]]) -> None:
    """Tell the hooks what this payment recovered (nothing when nothing was)."""
    if any(any(per_loan.values()) for per_loan in amounts.values()):
        for hook in _on_recovered:
            await hook(amounts)
