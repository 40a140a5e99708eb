"""Signed auto-debit on the due date (M4.3): once per installment and day, top the card up
when the available balance falls short, then repay the installment.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time

from tortoise.transactions import in_transaction

from models.loans import Loan
from models.payments import BankCard
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from services.errors import DomainError
from services.identity.permissions import Actor
from services.kit import crashpoints
from services.kit.settings import get_settings
from services.money import accounts, ledger
from services.payments import instructions
from services.payments.provider import DepositChannel
from services.platform import clock, outbox
from services.repayments import daybatch, quote
from services.repayments.due import REPAYABLE, _row
from services.repayments.settlement import _settle

logger = logging.getLogger(__name__)


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
    due = await _due_today(today)
    paid = 0
    size = get_settings().repayment_batch_loans
    if size and due:
        # The plain installments many loans to a transaction; the rest one by one.
        paid, due = await daybatch.settle_in_sets(due, size=size, today=today)
    for number, installment in enumerate(due, start=paid + 1):
        if await _auto_debit(installment, today):
            paid += 1
        # The kill tests stop a worker here, after `number` installments committed.
        crashpoints.hit("autodebit.after_installment", str(number))
    return paid
