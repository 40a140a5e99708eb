"""The invariants of the money, checked after every simulated day. Each has a name; the
first one broken raises `Broken(name, detail)`, which the run reports with its day.

- `ledger.balanced`: every journal sums to zero (debits = credits).
- `ledger.no_drift`: every account's balance is the sum of its postings.
- `ledger.never_negative`: no account that may not go negative is below zero.
- `provider.equals_ledger`: every custody account at the provider (members, fee, risk
  reserve, guarantee companies: available and margin = frozen) holds what the ledger
  says, to the fen, and none is negative.
- `split.parts_add_up`: per repayment and per loan, what the claims received of each
  part (principal, interest, penalty) is exactly what the borrower paid of it.
- `split.shares_never_negative`: no receipt has a negative part.
- `claims.principal_within_claim`: what a claim received of principal (own receipts
  and the reserve's advances to its holder; and counted the other way, the borrower's
  payments to the holder and to the reserve) is never above the claim's principal.
- `claims.near_exact_share`: each claim's principal and interest are within one fen per
  installment paid of its exact share by principal of what was paid; its penalty within
  one fen per installment of its share of each payment's penalty (three when a guarantor
  had advanced penalty: the advance was shared among the claims, what of it is paid back
  is shared towards it and the rest among the holdings, each rounded once).
- `claims.exact_once_settled`: once a loan is settled every claim received exactly its
  principal and exactly its largest-remainder share of the loan's interest, counted
  both ways (by the borrower's payments; by the holder: own receipts plus advances).
  The one exception, which no split can avoid: an early repayment in full lowers the
  loan's whole interest, and a claim may already have had more than its share of the
  lowered whole (by a rounding fen, never taken back; an advance by the reserve counts as
  had when it was made, and the borrower's last payment refunds the reserve exactly it):
  it then gets nothing more, every other claim stays within its share, and the shares
  still add up to the whole.
- `installments.as_the_calendar_says`: exactly the unpaid installments past their due
  date are OVERDUE, each with the penalty of the rules: its unpaid principal and interest
  at the daily rate for every day past due, rounded once; for one paid in part, each day
  on what was unpaid that day (`overdue.penalty_with_payments`, from the payments its
  repayments record); what is unpaid is what the payments left; a loan is SETTLED
  exactly when every installment is paid.
- `claims.outstanding_adds_up` and the holdings' own checks when claims are traded
  (`simulation.holding_checks`): the claims invariants above are checked per *line* (a
  claim and the holdings carved from it; a claim never sold is a line of one), and per
  holding: never more principal than its target, the holdings' outstanding principal
  adds up to the loan's, exact targets once the loan is settled.
- `reserve.accounts_for_itself`: the reserve's balance is its funding plus its fee
  shares plus what borrowers paid back of advances less what it advanced; never below
  zero.
- `reserve.advances_on_time`: no installment advanced before it was `after_days` late,
  none advanced twice to the same claim.
- With guarantees and collateral (`--guarantees`): `guarantee.*` and
  `collateral.proceeds_add_up` (`simulation.guarantee_checks`).

The ledger, claims and reserve invariants read only rows that a day with no new or
changed posting, account balance, receipt, advance, repayment, claim or loan status
leaves as they were (`_state`, a few counts): on such a day their result is the day
before's, and they are not computed again. The provider and installment invariants
depend on the date and the provider's own books: they are computed every day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, NamedTuple, cast

from models.bids import Claim
from models.collateral import CollateralDisposal
from models.guarantees import GuaranteePolicy
from models.ledger import LedgerAccount, Posting
from models.loans import Loan, LoanStatus
from models.payments import ProviderAccount
from models.repayments import InstallmentStatus, LoanInstallment, Receipt, Repayment, ReserveAdvance
from services.loans.schedule import round_half_up
from services.money import ledger
from services.platform import parameters
from services.repayments import overdue, split
from services.repayments.overdue_policy import PENALTY_RATE, PENALTY_SCALE
from simulation import advance_checks, guarantee_checks, holding_checks
from simulation.broken import Broken, holds
from simulation.holding_checks import by_line, holding_rows

__all__ = ["Book", "Broken", "check_all", "holds"]


@dataclass
class Book:
    """What the checks need to know beyond the database: the run's loans, what the
    platform put into the risk reserve, and the reserve's advance delay."""

    loan_ids: list[int]
    reserve_funded_fen: int
    advance_after_days: int
    checks: int = 0  # invariant checks run so far
    most_paid_in_part: int = 0  # the most open installments paid in part on one day
    # Advances are never changed once written: each is checked for its timing once.
    advances_checked: set[tuple[int, int]] = field(default_factory=set)  # (installment, claim)
    last_advance_checked: int = 0  # the highest advance id checked
    last_state: tuple[Any, ...] = ()  # `_state` when the ledger, claims, reserve last held
    quiet_days: int = 0  # days that left what the ledger, claims, reserve read unchanged
    guarantees: bool = False  # guarantee companies and collateral: their checks too
    last_compensation_checked: int = 0  # compensations are checked for their timing once
    disposals_checked: set[int] = field(default_factory=set)  # distributed ones, once


async def check_all(book: Book, sandbox: Any, today: date) -> None:
    """Every invariant, in the order of the module docstring."""
    state = await _state(book)
    changed = state != book.last_state
    if changed:
        await _ledger()
    await _provider(sandbox)
    if changed:
        await _claims(book.loan_ids)
    partly = await _installments(book.loan_ids, today)
    book.most_paid_in_part = max(book.most_paid_in_part, partly)
    if changed:
        await advance_checks.reserve(book)
        if book.guarantees:
            await guarantee_checks.check(book)
    else:
        book.quiet_days += 1
    book.last_state = state
    book.checks += 12 + (guarantee_checks.CHECKS if book.guarantees else 0)


async def _state(book: Book) -> tuple[Any, ...]:
    """What the ledger, claims and reserve invariants read, in a few counts: rows are
    only added to postings, receipts and advances; balances, repayments' and loans'
    statuses change in place."""
    return (
        await Posting.all().count(),
        await LedgerAccount.all().order_by("id").values_list("id", "balance"),
        await Receipt.all().count(),
        await ReserveAdvance.all().count(),
        await Repayment.all().order_by("id").values_list("id", "status"),
        await Claim.all().count(),
        await Loan.all().order_by("id").values_list("id", "status"),
        tuple(book.loan_ids),
        book.reserve_funded_fen,
        *(
            (
                await GuaranteePolicy.all().order_by("id").values_list("id", "status"),
                await CollateralDisposal.all().order_by("id").values_list("id", "status"),
            )
            if book.guarantees
            else ()
        ),
    )


async def _ledger() -> None:
    report = await ledger.check()
    holds(not report.unbalanced_journals, "ledger.balanced", report.unbalanced_journals)
    holds(not report.drifted_accounts, "ledger.no_drift", report.drifted_accounts)
    holds(not report.negative_accounts, "ledger.never_negative", report.negative_accounts)


async def _provider(sandbox: Any) -> None:
    name = "provider.equals_ledger"
    books = dict(
        cast(list[tuple[str, int]], await LedgerAccount.all().values_list("code", "balance"))
    )
    held = {balance.account_id: balance for balance in await sandbox.balances()}
    owners = await ProviderAccount.filter(provider_account_id__isnull=False)
    holds(bool(owners), name, "no custody account at the provider")
    for owner in owners:
        balance = held[owner.provider_account_id]
        code = owner.owner_code
        holds(balance.available_fen >= 0 and balance.frozen_fen >= 0, name, f"{code} negative")
        if code.startswith("m:"):
            expected = (
                books.get(f"{code}:available", 0) + books.get(f"{code}:withdrawing", 0),
                books.get(f"{code}:frozen", 0),
            )
        elif code.startswith("g:"):  # a guarantee company: its margin is the frozen part
            expected = (books.get(code, 0), books.get(ledger.org_margin(code), 0))
        else:
            expected = (books.get(code, 0), 0)
        seen = (balance.available_fen, balance.frozen_fen)
        holds(seen == expected, name, f"{code}: provider {seen}, ledger {expected}")


def _within(received: int, paid: int, weight: int, total: int, lines: int) -> bool:
    """`received` is within `lines` fen of the exact share weight/total of `paid`."""
    return abs(received * total - paid * weight) <= lines * total


class _ClaimRow(NamedTuple):
    id: int
    loan_id: int
    principal_fen: int


class _RepaymentRow(NamedTuple):
    id: int
    loan_id: int
    principal_fen: int
    interest_fen: int
    penalty_fen: int
    installments: list[Any]


@dataclass
class _Seen:
    """What the claims of the run's loans received, counted every way."""

    got: dict[int, list[int]]  # claim -> [principal, interest, penalty], whoever was paid
    holder_got: dict[int, list[int]]  # claim -> [principal, interest]: own + advances
    by_repayment: dict[int, list[int]]  # repayment -> [principal, interest, penalty]
    penalty_by: dict[tuple[int, int], int]  # (repayment, claim) -> penalty
    interest_by: dict[tuple[int, int], list[int]]  # (repayment, claim) -> [paid, to holder]
    # Repayments that paid a recoverer back penalty it had advanced (a guarantor's cover).
    penalty_recovered: set[int] = field(default_factory=set)


async def _seen(loan_ids: list[int]) -> _Seen:
    seen = _Seen(
        got=defaultdict(lambda: [0, 0, 0]),
        holder_got=defaultdict(lambda: [0, 0]),
        by_repayment=defaultdict(lambda: [0, 0, 0]),
        penalty_by=defaultdict(int),
        interest_by=defaultdict(lambda: [0, 0]),
    )
    receipts = await Receipt.filter(loan_id__in=loan_ids).values_list(
        "claim_id",
        "repayment_id",
        "principal_fen",
        "interest_fen",
        "penalty_fen",
        "to_reserve",
        "recoverer",
    )
    for claim_id, repayment_id, principal, interest, penalty, to_reserve, recoverer in cast(
        list[tuple[int, int, int, int, int, bool, str | None]], receipts
    ):
        parts = (principal, interest, penalty)
        holds(min(parts) >= 0, "split.shares_never_negative", (claim_id, repayment_id, parts))
        holds(
            bool(to_reserve) == (recoverer is not None),
            "split.parts_add_up",
            f"a recovery receipt names no recoverer, or a holder's names one: {claim_id}",
        )
        for index, part in enumerate(parts):
            seen.got[claim_id][index] += part
            seen.by_repayment[repayment_id][index] += part
        seen.penalty_by[(repayment_id, claim_id)] += penalty
        seen.interest_by[(repayment_id, claim_id)][0] += interest
        if not to_reserve:
            seen.interest_by[(repayment_id, claim_id)][1] += interest
        if recoverer == ledger.RISK_RESERVE:
            holds(penalty == 0, "split.parts_add_up", f"penalty to the reserve: {claim_id}")
        elif to_reserve and penalty:
            seen.penalty_recovered.add(repayment_id)
        if not to_reserve:  # a recovery (the reserve's, a guarantor's) the holder had before
            seen.holder_got[claim_id][0] += principal
            seen.holder_got[claim_id][1] += interest
    advances = await ReserveAdvance.filter(loan_id__in=loan_ids).values_list(
        "claim_id", "principal_fen", "interest_fen"
    )
    for claim_id, principal, interest in cast(list[tuple[int, int, int]], advances):
        seen.holder_got[claim_id][0] += principal
        seen.holder_got[claim_id][1] += interest
    return seen


async def _claims(loan_ids: list[int]) -> None:
    """The claims invariants per line (a claim never sold is a line of one), then the
    holdings' own (`simulation.holding_checks`)."""
    every_holding = await holding_rows(loan_ids)
    line_of = {holding.id: holding.line for holding in every_holding}
    claims = [_ClaimRow(*line) for line in holding_checks.lines(every_holding)]
    repayments = [
        _RepaymentRow(*row)
        for row in await Repayment.filter(loan_id__in=loan_ids, status="DONE").values_list(
            "id", "loan_id", "principal_fen", "interest_fen", "penalty_fen", "installments"
        )
    ]
    rows = await LoanInstallment.filter(loan_id__in=loan_ids).values_list(
        "loan_id", "interest_fen", "status"
    )
    raw = await _seen(loan_ids)
    seen = _Seen(
        got=defaultdict(lambda: [0, 0, 0], by_line(raw.got, line_of)),
        holder_got=defaultdict(lambda: [0, 0], by_line(raw.holder_got, line_of)),
        by_repayment=raw.by_repayment,
        penalty_by=defaultdict(int, holding_checks.one_by_line(raw.penalty_by, line_of)),
        interest_by=defaultdict(lambda: [0, 0], by_line(raw.interest_by, line_of)),
        penalty_recovered=raw.penalty_recovered,
    )
    principal_of = {claim.id: claim.principal_fen for claim in claims}
    whole_of: dict[int, int] = defaultdict(int)
    per_loan: dict[int, list[_ClaimRow]] = defaultdict(list)
    for claim in claims:
        whole_of[claim.loan_id] += claim.principal_fen
        per_loan[claim.loan_id].append(claim)
    repayment_of = {repayment.id: repayment for repayment in repayments}
    for (repayment_id, claim_id), penalty in seen.penalty_by.items():
        repayment = repayment_of[repayment_id]
        holds(
            _within(
                penalty,
                repayment.penalty_fen,
                principal_of[claim_id],
                whole_of[repayment.loan_id],
                len(repayment.installments) * (3 if repayment_id in seen.penalty_recovered else 1),
            ),
            "claims.near_exact_share",
            f"penalty of repayment {repayment_id} to claim {claim_id}: {penalty}",
        )
    paid: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    lines: dict[int, int] = defaultdict(int)
    last: dict[int, int] = {}  # loan -> its last repayment
    for repayment in repayments:
        last[repayment.loan_id] = max(last.get(repayment.loan_id, 0), repayment.id)
        parts = [repayment.principal_fen, repayment.interest_fen, repayment.penalty_fen]
        holds(
            seen.by_repayment[repayment.id] == parts,
            "split.parts_add_up",
            f"repayment {repayment.id}: claims got {seen.by_repayment[repayment.id]}, paid {parts}",
        )
        for index, part in enumerate(parts):
            paid[repayment.loan_id][index] += part
        lines[repayment.loan_id] += len(repayment.installments)
    interest_charged: dict[int, int] = defaultdict(int)
    settled: dict[int, bool] = defaultdict(lambda: True)
    for loan_id, interest, status in cast(list[tuple[int, int, str]], rows):
        interest_charged[loan_id] += interest
        settled[loan_id] &= status == InstallmentStatus.PAID
    for loan_id, held in per_loan.items():
        _one_loan(loan_id, held, seen, paid[loan_id], lines[loan_id], interest_charged[loan_id])
        if settled[loan_id]:
            _settled_loan(loan_id, held, seen, interest_charged[loan_id], last[loan_id])
    holding_checks.check(
        every_holding,
        holding_checks.Received(got=raw.got, had=raw.holder_got),
        await holding_checks.read_loans(loan_ids),
        [loan_id for loan_id in per_loan if settled[loan_id]],
        interest_charged,
    )


def _one_loan(
    loan_id: int, held: list[_ClaimRow], seen: _Seen, paid: list[int], lines: int, interest: int
) -> None:
    whole = sum(claim.principal_fen for claim in held)
    received = [seen.got[claim.id] for claim in held]
    for index, part in enumerate(("principal", "interest", "penalty")):
        total = sum(r[index] for r in received)
        holds(
            total == paid[index],
            "split.parts_add_up",
            f"loan {loan_id} {part}: claims got {total}, borrower paid {paid[index]}",
        )
    for claim, (principal, got_interest, _penalty) in zip(held, received, strict=True):
        own = seen.holder_got[claim.id][0]
        holds(
            principal <= claim.principal_fen and own <= claim.principal_fen,
            "claims.principal_within_claim",
            f"claim {claim.id} of loan {loan_id}: {max(principal, own)} > {claim.principal_fen}",
        )
        holds(
            _within(principal, paid[0], claim.principal_fen, whole, lines)
            and _within(got_interest, paid[1], claim.principal_fen, whole, lines + 1),
            "claims.near_exact_share",
            f"claim {claim.id} of loan {loan_id}: ({principal}, {got_interest}) of "
            f"({paid[0]}, {paid[1]}) at {claim.principal_fen}/{whole}",
        )


def _settled_loan(
    loan_id: int, held: list[_ClaimRow], seen: _Seen, interest: int, last_repayment: int
) -> None:
    """Principal exactly, counted both ways. Interest: each claim's largest-remainder share
    of the loan's whole interest, exactly, unless an early repayment in full lowered the
    whole below what a claim had already received of its share (a payment never takes a
    fen back; what it had counts the reserve's advances): then that claim gets nothing
    more, every other one stays within its share, and the shares add up to the whole.
    Counted both ways too (by the borrower's payments; by what the holder had: own
    receipts and the reserve's advances)."""
    name = "claims.exact_once_settled"
    principals = [claim.principal_fen for claim in held]
    targets = split.interest_targets(interest, principals)
    views = (
        ("paid", [seen.got[claim.id][:2] for claim in held], 0),
        ("had", [seen.holder_got[claim.id] for claim in held], 1),
    )
    # What each holder had of the interest before the last repayment: own receipts and
    # the reserve's advances. The exception is decided on it for both ways of counting:
    # an advance paid a claim its share of the whole as it stood then; the borrower's
    # last payment refunds the reserve exactly that, so by the borrower's payments the
    # fen above the lowered share shows in the last repayment, not before it.
    before = [
        seen.holder_got[claim.id][1] - seen.interest_by[(last_repayment, claim.id)][1]
        for claim in held
    ]
    for way, counted, _view in views:
        wrong = [
            (claim.id, got[0], claim.principal_fen)
            for claim, got in zip(held, counted, strict=True)
            if got[0] != claim.principal_fen
        ]
        holds(not wrong, name, f"loan {loan_id} principal ({way}; claim, got, held): {wrong[:5]}")
        got = [interest_got for _principal, interest_got in counted]
        if all(b <= t for b, t in zip(before, targets, strict=True)):
            wrong = [
                (claim.id, g, t) for claim, g, t in zip(held, got, targets, strict=True) if g != t
            ]
        else:  # some claim had more than its share of the lowered whole already
            wrong = [
                (claim.id, g, t)
                for claim, g, b, t in zip(held, got, before, targets, strict=True)
                if (b > t and g != b) or (b <= t and g > t)
            ]
            if sum(got) != interest:
                wrong.append((0, sum(got), interest))
        holds(not wrong, name, f"loan {loan_id} interest ({way}; claim, got, share): {wrong[:5]}")


async def _payments_by_installment(loan_ids: list[int]) -> dict[tuple[int, int], list[Any]]:
    """(loan, installment number) -> [(day, principal + interest paid)], from the lines
    every repayment records."""
    made = await Repayment.filter(loan_id__in=loan_ids, status="DONE").values_list(
        "loan_id", "done_at", "details"
    )
    answer: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for loan_id, done_at, details in cast(list[tuple[int, Any, dict[str, Any]]], made):
        for line in details.get("lines", []):
            answer[(loan_id, line["number"])].append(
                (done_at.date(), line["principal_fen"] + line["interest_fen"])
            )
    return answer


async def _installments(loan_ids: list[int], today: date) -> int:
    """See the module docstring; returns how many open installments are paid in part."""
    name = "installments.as_the_calendar_says"
    daily_rate = (await parameters.get(PENALTY_RATE)).daily_rate
    scale = int(daily_rate * PENALTY_SCALE)
    payments = await _payments_by_installment(loan_ids)
    rows = await LoanInstallment.filter(loan_id__in=loan_ids)
    loans = {loan.id: loan for loan in await Loan.filter(id__in=loan_ids)}
    open_by_loan: dict[int, int] = defaultdict(int)
    partly = 0
    for row in rows:
        if row.status == InstallmentStatus.PAID:
            continue
        open_by_loan[row.loan_id] += 1
        late = (today - row.due_date).days
        where = f"loan {row.loan_id} installment {row.number} ({late} days late)"
        paid = payments.get((row.loan_id, row.number), [])
        unpaid = overdue.unpaid_principal_interest(row)
        holds(
            unpaid == row.principal_fen + row.interest_fen - sum(p for _day, p in paid),
            name,
            f"{where}: unpaid {unpaid} after the payments {paid}",
        )
        if late <= 0:
            holds(row.status == InstallmentStatus.PENDING, name, f"{where}: {row.status}")
            holds(row.penalty_accrued_fen == 0, name, f"{where}: penalty before due")
            continue
        holds(row.status == InstallmentStatus.OVERDUE, name, f"{where}: {row.status}")
        if paid:  # paid in part: each day on what was unpaid that day
            partly += 1
            expected = overdue.penalty_with_payments(
                principal_interest_fen=row.principal_fen + row.interest_fen,
                first_day=row.due_date + timedelta(days=1),
                through=today,
                daily_rate=daily_rate,
                payments=paid,
            )
        else:
            expected = round_half_up(unpaid * scale * late, PENALTY_SCALE)
        holds(
            row.penalty_accrued_fen == expected,
            name,
            f"{where}: penalty {row.penalty_accrued_fen}, the rules say {expected}",
        )
    for loan_id, loan in loans.items():
        if open_by_loan[loan_id] == 0:
            holds(loan.status == LoanStatus.SETTLED, name, f"loan {loan_id} {loan.status}")
        else:
            holds(
                loan.status in (LoanStatus.REPAYING, LoanStatus.OVERDUE),
                name,
                f"loan {loan_id} {loan.status} with {open_by_loan[loan_id]} open",
            )
    return partly
