"""Overdue installments (M9.2, M9.3, M2.5, M2.6): the daily run on the business clock.

`run_daily(today)` does, in this order, and is idempotent per day (a second run the same
day changes nothing and sends nothing):

(a) warnings: a PENDING installment due within `repayments.warnDays` days (today
    included) and not yet warned gets an in-app notice, an SMS, an e-mail (when the
    borrower has an approved address) and a DUE event on the borrower's repayment
    channel; `warned_on` is set by a conditional update on the installment still
    PENDING, so once, and never for one a repayment paid meanwhile.
(b) overdue: an unpaid installment whose due date is before today becomes OVERDUE, with
    `overdue_since` = due date + 1 day (1 day overdue). Its loan moves REPAYING ->
    OVERDUE (FALL_OVERDUE); the borrower gets a notice, an SMS, an e-mail (as in (a))
    and an OVERDUE event, staff a RAISED event, and the credit service lowers the limit
    (once per installment).
(c) penalty: each day from `penalty_accrued_through` + 1 (or `overdue_since`) through
    today accrues unpaid (principal + interest) x `repayments.penaltyDailyRate`. The
    exact sum is kept in millionths of a fen (`penalty_accrued_micro_fen`), and
    `penalty_accrued_fen` is that sum rounded half-up to the fen: cumulative exact, one
    rounding of the total, so a run every day and one run after ten days give the same
    figure. The fee is not penalised.
    Partial payments (mode AMOUNT): each day's penalty is on what was unpaid of principal
    and interest that day, before that day's payments (the payment day still counts on
    the old base; the repayments code accrues through today before it takes a payment,
    so every day is accrued on its own base, never recomputed). Penalty paid is kept
    apart (`penalty_paid_fen`) and never charged again: what is owed is the rounded total
    accrued less what was paid of it. `penalty_with_payments` is this rule as one pure
    function (the simulation checks every overdue installment against it); without
    payments it is round(unpaid x rate x days late).
(d) buckets: when the aging bucket at today differs from the one at the last day
    accrued, a BUCKET_CHANGED staff event (one per change, however many days passed).
(e) serious overdue: the days overdue are passed to `scoring.on_installment_overdue`,
    which freezes the limit once at `credit.autoAdjustment.freeze_after_days`.
Then the risk-reserve advance (`services.repayments.reserve`, off by default).

Each loan is handled in its own transaction under its row lock, which the repayments
code takes as well. Days overdue = today - due date; penalty counts the payment day.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from tortoise.transactions import in_transaction

from models.loans import Loan, LoanStatus
from models.members import User
from models.repayments import InstallmentStatus, LoanInstallment
from services.credit import scorecard, scoring
from services.kit import crashpoints
from services.kit.security import decrypt_pii
from services.loans.schedule import round_half_up
from services.loans.states import LoanEvent, transition
from services.money.money import format_money
from services.platform import clock, notifier, outbox, parameters
from services.repayments import reserve
from services.repayments.events import OverdueEventKind, overdue_event, repayment_event
from services.repayments.overdue_policy import (
    PENALTY_RATE,
    PENALTY_SCALE,
    WARN_DAYS,
    bucket,
)

logger = logging.getLogger(__name__)

ACTIVE = (LoanStatus.REPAYING, LoanStatus.OVERDUE)
_UNPAID = (InstallmentStatus.PENDING, InstallmentStatus.OVERDUE)


@dataclass
class DailyReport:
    day: date
    warned: int = 0
    raised: int = 0
    bucket_changes: int = 0
    penalty_fen: int = 0  # penalty added by this run
    advanced: int = 0  # risk-reserve advances (one per holder and installment)


# --- pure helpers ------------------------------------------------------------------------


def installment_key(row: LoanInstallment) -> str:
    """The installment's key for the credit service's once-only adjustments."""
    return f"loan:{row.loan_id}:{row.number}"


def unpaid_principal_interest(row: LoanInstallment) -> int:
    return int(
        row.principal_fen - row.paid_principal_fen + row.interest_fen - row.paid_interest_fen
    )


def amount_due(row: LoanInstallment) -> int:
    """Everything still owed on the installment: principal, interest, fee, penalty."""
    return unpaid_principal_interest(row) + int(
        row.fee_fen - row.paid_fee_fen + row.penalty_accrued_fen - row.penalty_paid_fen
    )


def days_overdue(row: LoanInstallment, today: date) -> int:
    """Days past the due date (the day after it is 1); 0 when not past it."""
    return max(0, (today - row.due_date).days)


def penalty_micro_fen(unpaid_fen: int, daily_rate: Decimal, days: int) -> int:
    """The exact penalty of `days` days on `unpaid_fen`, in millionths of a fen."""
    scaled = daily_rate * PENALTY_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError("a penalty rate has at most 6 decimal places")
    return unpaid_fen * int(scaled) * days


def penalty_fen(micro_fen: int) -> int:
    return round_half_up(micro_fen, PENALTY_SCALE)


def penalty_with_payments(
    *,
    principal_interest_fen: int,
    first_day: date,
    through: date,
    daily_rate: Decimal,
    payments: Sequence[tuple[date, int]] = (),
) -> int:
    """The penalty accrued on one installment from `first_day` (its `overdue_since`, the
    day after the due date) through `through`, in fen: every day d accrues `daily_rate`
    x (its principal and interest, `principal_interest_fen`, less what `payments` paid of
    principal and interest on days before d); the exact sum, in millionths of a fen, is
    rounded half-up once. `payments` are (day, principal + interest paid that day), any
    order; a payment on day d lowers the base from day d + 1 (d's penalty counts the
    payment day). At a constant rate, this is what the daily run accrues however often
    it runs (the run accrues through today before every payment). 0 when `through` is
    before `first_day`."""
    days = (through - first_day).days + 1
    if days <= 0:
        return 0
    micro = penalty_micro_fen(principal_interest_fen, daily_rate, days)
    for day, paid_fen in payments:
        # Paid on `day`: every accrued day after it, through `through`, is on less.
        after = (through - max(day, first_day - timedelta(days=1))).days
        if after > 0:
            micro -= penalty_micro_fen(paid_fen, daily_rate, after)
    return penalty_fen(micro)


# --- (a) warnings ------------------------------------------------------------------------


async def send_warnings(today: date) -> int:
    """Warn once about every PENDING installment due from today to today + warnDays."""
    ahead = (await parameters.get(WARN_DAYS)).days
    candidates = await LoanInstallment.filter(
        status=InstallmentStatus.PENDING,
        warned_on__isnull=True,
        due_date__gte=today,
        due_date__lte=today + timedelta(days=ahead),
        loan__status__in=list(ACTIVE),
    ).order_by("due_date", "id")
    sent = 0
    for row in candidates:
        async with in_transaction():
            # Still PENDING: a repayment may have paid it since the candidates were read,
            # and the borrower must not be told to keep money for an installment repaid.
            claimed = await LoanInstallment.filter(
                id=row.id, warned_on__isnull=True, status=InstallmentStatus.PENDING
            ).update(warned_on=today)
            if claimed != 1:
                continue  # warned or repaid meanwhile
            loan = await Loan.get(id=row.loan_id)
            borrower = await User.get(id=loan.borrower_id)
            due = amount_due(row)
            text = (
                f"Installment {row.number} of loan {loan.id}: {format_money(due)} is due on "
                f"{row.due_date.isoformat()}. Keep the amount in your account to avoid "
                "penalty interest."
            )
            await _tell_borrower(
                borrower,
                title="Installment due soon",
                subject=f"Repayment due on {row.due_date.isoformat()}",
                text=text,
            )
            await repayment_event(
                borrower.id, kind="DUE", loan_id=loan.id, installment=row.number, amount_fen=due
            )
            sent += 1
    return sent


async def _tell_borrower(borrower: User, *, title: str, subject: str, text: str) -> None:
    """The same words by every channel the borrower has: an in-app notice, an SMS, and
    an e-mail when they have an approved address. Queued in the caller's transaction."""
    await notifier.notify(user=borrower, kind="repayment", title=title, body=text)
    await notifier.send_sms(phone=decrypt_pii(borrower.phone_cipher), text=f"[LendBridge] {text}")
    await notifier.send_email(user_id=borrower.id, subject=subject, text=text)


# --- (b)-(e) overdue, penalty, buckets, serious overdue -------------------------------------


async def age_loan(
    loan_id: int, today: date, report: DailyReport | None = None, *, locked: Loan | None = None
) -> None:
    """Bring one loan's unpaid installments up to `today`: mark the overdue ones, accrue
    penalty through today, publish bucket changes, call the credit hooks. Idempotent per
    day. Joins the caller's transaction (the repayments code calls it before taking a
    payment, so penalty is due through the payment day). `locked`: the loan, already
    locked by the caller in this transaction (not read again; its status is updated in
    place when the loan falls overdue)."""
    report = report if report is not None else DailyReport(day=today)
    rate = (await parameters.get(PENALTY_RATE)).daily_rate
    freeze_after = (await scorecard.current_policy()).adjustment.freeze_after_days
    async with in_transaction():
        loan = locked or await Loan.filter(id=loan_id).select_for_update().first()
        if loan is None or loan.status not in ACTIVE:
            return
        rows = await LoanInstallment.filter(
            loan_id=loan.id, status__in=list(_UNPAID), due_date__lt=today
        ).order_by("number")
        borrower: User | None = None
        for row in rows:
            days = days_overdue(row, today)
            raised = row.status == InstallmentStatus.PENDING
            previous = row.penalty_accrued_through
            if raised:
                row.status = InstallmentStatus.OVERDUE
                row.overdue_since = row.due_date + timedelta(days=1)
            assert row.overdue_since is not None
            start = previous + timedelta(days=1) if previous is not None else row.overdue_since
            if start > today and not raised:
                continue  # already brought up to today
            if start <= today:
                before = row.penalty_accrued_fen
                row.penalty_accrued_micro_fen += penalty_micro_fen(
                    unpaid_principal_interest(row), rate, (today - start).days + 1
                )
                row.penalty_accrued_fen = penalty_fen(row.penalty_accrued_micro_fen)
                row.penalty_accrued_through = today
                report.penalty_fen += row.penalty_accrued_fen - before
            await row.save(
                update_fields=[
                    "status",
                    "overdue_since",
                    "penalty_accrued_micro_fen",
                    "penalty_accrued_fen",
                    "penalty_accrued_through",
                ]
            )
            now_bucket = bucket(days)
            if raised:
                report.raised += 1
                borrower = borrower or await User.get(id=loan.borrower_id)
                await _tell_raised(loan, row, borrower, days)
                await scoring.on_installment_overdue(
                    loan.borrower_id, installment_key=installment_key(row), days_overdue=days
                )
                continue
            # Overdue but never accrued here (marked by other code): no change to tell.
            was = bucket(days_overdue(row, previous)) if previous is not None else now_bucket
            if was != now_bucket:
                report.bucket_changes += 1
                await overdue_event(
                    kind=OverdueEventKind.BUCKET_CHANGED,
                    loan_id=loan.id,
                    installment=row.number,
                    days=days,
                    bucket=now_bucket.value if now_bucket else None,
                    amount_fen=amount_due(row),
                )
            if days >= freeze_after:
                await scoring.on_installment_overdue(
                    loan.borrower_id, installment_key=installment_key(row), days_overdue=days
                )
        if loan.status == LoanStatus.REPAYING and any(
            row.status == InstallmentStatus.OVERDUE for row in rows
        ):
            transition(loan, LoanEvent.FALL_OVERDUE)
            await loan.save(update_fields=["status"])


async def _tell_raised(loan: Loan, row: LoanInstallment, borrower: User, days: int) -> None:
    due = amount_due(row)
    text = (
        f"Installment {row.number} of loan {loan.id} ({format_money(due)}, due "
        f"{row.due_date.isoformat()}) is overdue. Penalty interest accrues every day until "
        "it is repaid."
    )
    await _tell_borrower(
        borrower,
        title="Installment overdue",
        subject=f"Installment overdue (due {row.due_date.isoformat()})",
        text=text,
    )
    await repayment_event(
        borrower.id, kind="OVERDUE", loan_id=loan.id, installment=row.number, amount_fen=due
    )
    found = bucket(days)
    await overdue_event(
        kind=OverdueEventKind.RAISED,
        loan_id=loan.id,
        installment=row.number,
        days=days,
        bucket=found.value if found else None,
        amount_fen=due,
    )


# Called by the daily run after the reserve's advance, with the day: what the domains above
# do once the day's penalties are accrued (a guarantor's compensation). Registered there.
_daily_hooks: list[Callable[[date], Awaitable[None]]] = []


def on_daily(hook: Callable[[date], Awaitable[None]]) -> Callable[[date], Awaitable[None]]:
    _daily_hooks.append(hook)
    return hook


async def run_daily(today: date | None = None) -> DailyReport:
    """The daily overdue run for `today` (default: the business clock's today)."""
    today = today or await clock.today()
    report = DailyReport(day=today)
    report.warned = await send_warnings(today)
    rows = await LoanInstallment.filter(
        status__in=list(_UNPAID), due_date__lt=today, loan__status__in=list(ACTIVE)
    ).only("id", "loan_id")
    for number, loan_id in enumerate(sorted({row.loan_id for row in rows}), start=1):
        await age_loan(loan_id, today, report)
        crashpoints.hit("overdue.after_loan", str(number))
    report.advanced = await reserve.advance_overdue(today)
    for hook in _daily_hooks:
        await hook(today)
    outbox.wake()
    logger.info("overdue run %s: %s", today.isoformat(), report)
    return report


# --- for the repayments code ------------------------------------------------------------


async def overdue_cleared(installment: LoanInstallment) -> bool:
    """Call in the repayment's transaction once an installment that was overdue is PAID:
    publishes the staff PAID event and cures the loan (OVERDUE -> REPAYING) when none of
    its installments is overdue any more. True when the loan was cured. An installment
    that never was overdue, or is not PAID, changes nothing."""
    if installment.status != InstallmentStatus.PAID or installment.overdue_since is None:
        return False
    async with in_transaction():
        loan = await Loan.filter(id=installment.loan_id).select_for_update().get()
        days = days_overdue(installment, installment.paid_on or await clock.today())
        found = bucket(days)
        await overdue_event(
            kind=OverdueEventKind.PAID,
            loan_id=loan.id,
            installment=installment.number,
            days=days,
            bucket=found.value if found else None,
            amount_fen=installment.paid_principal_fen
            + installment.paid_interest_fen
            + installment.paid_fee_fen
            + installment.penalty_paid_fen,
        )
        if loan.status != LoanStatus.OVERDUE:
            return False
        if await LoanInstallment.filter(loan_id=loan.id, status=InstallmentStatus.OVERDUE).exists():
            return False
        transition(loan, LoanEvent.CURE)
        await loan.save(update_fields=["status"])
    return True
