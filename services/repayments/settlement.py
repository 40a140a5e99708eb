"""Settling a confirmed repayment under a lock on the loan: check it is still what the code
confirmed, split each installment among the claims, move the money, write the receipts
(see `services.repayments.service` for the whole story).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime

from models.bids import Claim
from models.loans import Loan, LoanStatus
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
from services.errors import DomainError
from services.kit import crashpoints
from services.kit.db import insert_rows
from services.loans.states import LoanEvent, transition
from services.money import ledger, movements
from services.money.money import format_money
from services.platform import clock, notifier, parameters
from services.repayments import advances, events, holdings, overdue, policy, quote
from services.repayments.due import _amounts, _quote, _repayable, _settled_numbers
from services.repayments.events import RepaymentEventKind
from services.repayments.settlement_split import (
    _reserve_part,
    _split_line,
    guarantee_part,
)

# A receipt's columns as `insert_rows` writes them (here and in the day's batch).
RECEIPT_COLUMNS = [
    ("repayment_id", "bigint"),
    ("claim_id", "bigint"),
    ("holder_id", "bigint"),
    ("loan_id", "bigint"),
    ("principal_fen", "bigint"),
    ("interest_fen", "bigint"),
    ("penalty_fen", "bigint"),
    ("to_reserve", "boolean"),
    ("recoverer", "varchar"),
    ("created_at", "timestamptz"),
]


async def _write_receipts(
    repayment: Repayment,
    claims: list[Claim],
    to_holders: list[holdings.Parts],
    recovered: dict[str, list[holdings.Parts]],
    now: datetime,
) -> None:
    """A Receipt per claim with what its holder got, and per recoverer one per claim
    with what it recovered of its advance (`to_reserve` set, `recoverer` named; none
    when nothing); in one statement."""
    rows = [(index, parts, None) for index, parts in enumerate(to_holders)] + [
        (index, parts, recoverer)
        for recoverer, per_claim in sorted(recovered.items())
        for index, parts in enumerate(per_claim)
    ]
    rows.sort(key=lambda row: (row[0], row[2] or ""))
    await insert_rows(
        Receipt,
        RECEIPT_COLUMNS,
        [
            (
                repayment.id,
                claims[index].id,
                claims[index].holder_id,
                repayment.loan_id,
                parts.principal_fen,
                parts.interest_fen,
                parts.penalty_fen,
                recoverer is not None,
                recoverer,
                now,
            )
            for index, parts, recoverer in rows
            if parts.total_fen
        ],
    )


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


def line_record(line: quote.Line) -> dict[str, object]:
    """What a repayment records of one installment it paid (`details["lines"]`)."""
    return {
        "number": line.number,
        "principal_fen": line.principal_fen,
        "interest_fen": line.interest_fen,
        "fee_fen": line.fee_fen,
        "penalty_fen": line.penalty_fen,
        "settles": line.settles,
    }


def transfers(
    borrower_id: int,
    reference: str,
    per_holder: dict[int, holdings.Parts],
    to_fee: int,
    to_reserve: int,
    recoveries: Mapping[str, int],
    guarantee_fees: Mapping[str, int] | None = None,
) -> list[movements.Transfer]:
    """A settlement's transfers from the borrower: one per holder (by holder id), then
    the fee, the reserve's share of the fees, what each recoverer gets back of its
    advances (the reserve's first) and a guarantee company's fee (each only when not
    nothing)."""
    moves = [
        movements.Transfer(
            from_user_id=borrower_id,
            to_user_id=holder_id,
            amount=parts.total_fen,
            reference=f"{reference}:holder:{holder_id}",
            kind="repayment",
        )
        for holder_id, parts in sorted(per_holder.items())
        if parts.total_fen
    ]
    paid = (
        [
            (to_fee, "fee", ledger.FEE, "repayment_fee"),
            (to_reserve, "reserve", ledger.RISK_RESERVE, "repayment_reserve"),
            (
                recoveries.get(ledger.RISK_RESERVE, 0),
                "reserve-recovery",
                ledger.RISK_RESERVE,
                "reserve_recovery",
            ),
        ]
        + [
            (amount, f"recovery:{code}", code, "guarantee_recovery")
            for code, amount in sorted(recoveries.items())
            if code != ledger.RISK_RESERVE
        ]
        + [
            (amount, f"guarantee-fee:{code}", code, "guarantee_fee")
            for code, amount in sorted((guarantee_fees or {}).items())
        ]
    )
    for amount, suffix, platform, kind in paid:
        if amount:
            moves.append(
                movements.Transfer(
                    from_user_id=borrower_id,
                    to_platform=platform,
                    amount=amount,
                    reference=f"{reference}:{suffix}",
                    kind=kind,
                )
            )
    return moves


async def _move_money(
    repayment: Repayment,
    borrower_id: int,
    per_holder: dict[int, holdings.Parts],
    to_fee: int,
    to_reserve: int,
    recoveries: Mapping[str, int],
    guarantee_fees: Mapping[str, int],
) -> None:
    """The settlement's transfers from the borrower's available balance, in its
    transaction: one per holder, then the fee, the reserve's share of the fees and what
    the recoverers get back of their advances; a journal each, and together one SPLIT at
    the provider (all of it moves or none). The crashpoint `repayment.after_transfer`
    (detail: "repayment") lets the crash tests kill the process with them written and
    the rest of the settlement not."""
    reference = f"repayment:{repayment.id}"
    moves = transfers(
        borrower_id, reference, per_holder, to_fee, to_reserve, recoveries, guarantee_fees
    )
    await movements.split(moves, reference=reference)
    crashpoints.hit("repayment.after_transfer", "repayment")


async def _settle(repayment: Repayment, *, confirmed_amount_fen: int | None) -> None:
    """Carry out a repayment in the caller's transaction; see the module docstring.
    Raises DomainError LOAN_NOT_REPAYING / NOTHING_DUE / AMOUNT_CHANGED /
    INSUFFICIENT_FUNDS before anything moves."""
    loan = await _repayable(repayment.loan_id, repayment.borrower_id, lock=True)
    # Overdue installments are marked and their penalty accrued through today first: a
    # partial payment lowers the base of the penalty from tomorrow, never before.
    await overdue.age_loan(loan.id, await clock.today(), locked=loan)
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    if confirmed_amount_fen is not None:
        _not_paid_meanwhile(repayment, rows)
    found = await _quote(loan, rows, RepaymentKind(repayment.kind), repayment.details)
    if not found.lines:
        raise DomainError("Nothing is left to repay", code="NOTHING_DUE")
    if confirmed_amount_fen is not None:
        _still_as_confirmed(repayment, found, confirmed_amount_fen)
    borrower_id = loan.borrower_id
    # Who pays: the borrower, or for a collateral's proceeds the item's owner.
    payer_id = int(repayment.details.get("payer_id", borrower_id))
    available = await ledger.balance(ledger.available(payer_id))
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
    advanced = await advances.advanced_by_installment(
        by_number[line.number].id for line in found.lines
    )
    # What each recoverer has had back of each advanced installment, before this payment.
    back = await advances.recovered_of_loan(loan.id, rows) if advanced else {}
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
    recovered: dict[str, list[holdings.Parts]] = {}
    per_holder: dict[int, holdings.Parts] = defaultdict(holdings.Parts)
    fees = reserve = principal_paid = guarantee_fee = 0
    for line in paid_lines:
        row = by_number[line.number]
        shares = _split_line(
            line,
            advanced.get(row.id),
            back.get(row.id, {}),
            claims,
            received_principal,
            received_interest,
            total_interest,
        )
        line_holders: dict[int, holdings.Parts] = defaultdict(holdings.Parts)
        if shares.recoverer is not None:
            recovered.setdefault(shares.recoverer, [holdings.Parts() for _ in claims])
        for index, (claim, share, back_part) in enumerate(
            zip(claims, shares.holders, shares.recovered, strict=True)
        ):
            # The recoverer's parts are in `received_*` already (from the advance).
            received_principal[index] += share.principal_fen
            received_interest[index] += share.interest_fen
            per_claim[index].add(share)
            if shares.recoverer is not None:
                recovered[shares.recoverer][index].add(back_part)
            per_holder[claim.holder_id].add(share)
            line_holders[claim.holder_id].add(share)
        # The fee paid: the guarantee company's part of it, then the reserve's share of
        # the service part (the whole fee when the loan has no guarantee fee).
        to_guarantor = guarantee_part(
            row.paid_fee_fen, line.fee_fen, row.guarantee_fee_fen, row.fee_fen
        )
        guarantor_before = guarantee_part(0, row.paid_fee_fen, row.guarantee_fee_fen, row.fee_fen)
        fees += line.fee_fen - to_guarantor
        guarantee_fee += to_guarantor
        reserve += _reserve_part(
            row.paid_fee_fen - guarantor_before, line.fee_fen - to_guarantor, reserve_share
        )
        principal_paid += line.principal_fen
        await _pay_line(repayment, loan, row, line, today=today, now=now)
        await events.enqueue_many(
            [
                events.Event(
                    user_id=holder_id,
                    kind=RepaymentEventKind.RECEIVED,
                    loan_id=loan.id,
                    installment=row.number,
                    amount_fen=parts.total_fen,
                    at=now,
                    parts={
                        "principal_fen": parts.principal_fen,
                        "interest_fen": parts.interest_fen,
                        "penalty_fen": parts.penalty_fen,
                    },
                )
                for holder_id, parts in sorted(line_holders.items())
                if parts.total_fen
            ]
        )

    to_fee = fees - reserve + found.early_fee_fen
    recoveries = {
        code: sum(parts.total_fen for parts in per_claim_back)
        for code, per_claim_back in recovered.items()
    }
    guarantee_fees = (
        {str(loan.fee_terms["guarantee_fee_to"]): guarantee_fee} if guarantee_fee else {}
    )
    await _move_money(repayment, payer_id, per_holder, to_fee, reserve, recoveries, guarantee_fees)
    await _write_receipts(repayment, claims, per_claim, recovered, now)
    await advances.recovered(
        {code: {loan.id: amount} for code, amount in recoveries.items() if amount}
    )
    if principal_paid:
        await scoring.restore_limit(borrower_id, principal_paid)
        await holdings.principal_paid([loan.id])

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
        **({"guarantee_fee_fen": guarantee_fee} if guarantee_fee else {}),
        "reserve_recovery_fen": recoveries.get(ledger.RISK_RESERVE, 0),
        # Guarantors' recoveries (absent when none, as the day's batch leaves it).
        **(
            {"recoveries_fen": others}
            if (
                others := {
                    code: amount
                    for code, amount in recoveries.items()
                    if amount and code != ledger.RISK_RESERVE
                }
            )
            else {}
        ),
        "early_fee_asked_fen": found.early_fee_asked_fen,
        "accrued_days": found.accrued_days,
        # What it paid of each installment, and whether it paid it off: the record of an
        # installment paid in parts (its penalty's base changed on each payment day).
        "lines": [line_record(line) for line in paid_lines],
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
    fee_before = row.fee_fen
    row.paid_principal_fen += line.principal_fen
    row.paid_interest_fen += line.interest_fen
    row.paid_fee_fen += line.fee_fen
    row.penalty_paid_fen += line.penalty_fen
    if line.settles:
        # An early repayment charges less interest and no fee for the months not begun:
        # the installment then asks what it was paid.
        row.interest_fen = row.paid_interest_fen
        row.guarantee_fee_fen = guarantee_part(
            0, row.paid_fee_fen, row.guarantee_fee_fen, fee_before
        )
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
            "guarantee_fee_fen",
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
