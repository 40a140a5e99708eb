"""Test helpers for loans and bids: a verified borrower, a listed loan, lenders ready to
bid (custody account, funds, the verifications required for lending approved, R4
assessment with its notice confirmed), SMS codes per member, and the
ledger-equals-provider check. Everything goes through the services (but the approved
verifications, written directly: the review path has its own tests)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from models.bids import BidSource
from models.loans import Loan, LoanStatus
from models.members import User
from models.payments import BankCard, ProviderAccount
from models.repayments import LoanInstallment, Repayment
from services.credit import external, risk_assessment, scoring
from services.credit.catalogue import KINDS
from services.identity.permissions import Actor, Permission
from services.loans import bidding, requests, review, states
from services.loans.pricing import price
from services.loans.schedule import DayCount, LoanTerms, RepaymentMethod, ScheduleRules
from services.money import accounts, ledger, movements
from services.operations import confirmation
from services.payments.embedded import settle_until_quiet
from services.payments.provider import DepositChannel
from services.platform import clock, outbox
from services.repayments import service as repayments
from services.repayments.due import RepayMode
from simulation.people import AGGRESSIVE, CLEAN_REPORTS, code_for, member_actor
from tests.factories import (
    approve_verifications,
    create_funded_member,
    create_member,
    create_staff,
    lending_kinds,
)

REQUIRED = [kind.code for kind in KINDS if kind.required_for_borrowing]


async def verified_borrower(scripted: dict[str, Any], *, custody: bool = True) -> tuple[User, str]:
    """A member with every item required for borrowing and clean outside records:
    grade C, a limit of 30,000.00. `scripted` is a ScriptedSources' table. With
    `custody` (the default; needs the `app` fixture's provider) the member also has an
    open custody account to receive a disbursement."""
    if custody:
        member, phone, _card = await create_funded_member(0, name="Borrower Member")
    else:
        member, phone = await create_member(name="Borrower Member")
    id_number = await approve_verifications(member.id, REQUIRED)
    scripted[id_number] = dict(CLEAN_REPORTS)
    for source in external.Source:
        await external.fetch(member.id, source)
    await scoring.reevaluate(
        member.id, reason="test", actor_id=None, kind=scoring.CreditChangeKind.EVALUATED
    )
    return member, phone


async def listed_loan(
    borrower_id: int,
    amount_fen: int,
    *,
    min_bid_fen: int = 5_000,
    max_bid_fen: int | None = None,
    days: int = 10,
    rate: str = "0.1200",
    term: int = 12,
    method: RepaymentMethod = RepaymentMethod.EQUAL_INSTALLMENT,
    before_review: Callable[[Loan], Awaitable[None]] | None = None,
) -> Loan:
    """Publish, pass levels 1 and 2 (two reviewers), listed now. `before_review` runs on
    the published loan before the reviewers (a guarantee asked and issued, say)."""
    loan = await requests.publish(
        member_actor(borrower_id),
        requests.LoanRequest(
            amount_fen=amount_fen,
            annual_rate=Decimal(rate),
            term_months=term,
            method=method,
            purpose="Working capital",
            bid_window_days=days,
            min_bid_fen=min_bid_fen,
            max_bid_fen=max_bid_fen or amount_fen,
        ),
        idempotency_key=f"publish-{uuid.uuid4().hex[:16]}",
    )
    assert loan.status == "PENDING_REVIEW", (loan.status, loan.auto_review)
    if before_review is not None:
        await before_review(loan)
    for level, permission in ((1, Permission.LOAN_REVIEW_L1), (2, Permission.LOAN_REVIEW_L2)):
        staff, _phone = await create_staff(f"risk_l{level}")
        reviewer = Actor(
            user_id=staff.id,
            kind="staff",
            permissions=frozenset({permission, Permission.LOAN_REVIEW}),
        )
        await review.review(reviewer, loan.id, level, review.LoanReviewDecision.APPROVE, "")
    loan = await Loan.get(id=loan.id)
    assert loan.status == "LISTED", loan.status
    await outbox.dispatch_once()
    return loan


async def ready_lender(amount_fen: int, *, name: str = "Lender Member") -> tuple[User, str]:
    """A member with `amount_fen` deposited, the verifications the catalogue requires for
    lending approved and an AGGRESSIVE R4 profile in force."""
    user, phone, _card = await create_funded_member(amount_fen, name=name)
    await approve_verifications(user.id, lending_kinds())
    actor = member_actor(user.id)
    assessment = await risk_assessment.submit_assessment(actor, AGGRESSIVE)
    await risk_assessment.confirm_risk_notice(actor, assessment.id, "127.0.0.1")
    return user, phone


async def settle_everything(sandbox: Any) -> None:
    """Send every instruction and let the provider settle and call back, until none is
    left open (the sandbox from `app.state.sandbox.sandbox`)."""
    await settle_until_quiet(sandbox)


async def fund_risk_reserve(sandbox: Any, amount: int) -> None:
    """The platform puts `amount` into the risk-reserve account: a funded member (the
    platform's funding account) transfers it, settled at the provider."""
    funder, _phone, _card = await create_funded_member(amount, name="Reserve Funder")
    async with in_transaction():
        await movements.transfer(
            from_user_id=funder.id,
            to_user_id=None,
            to_platform=ledger.RISK_RESERVE,
            amount=amount,
            reference=f"test-fund-reserve-{funder.id}",
            kind="test_funding",
        )
    await settle_everything(sandbox)


async def assert_ledger_matches_provider(sandbox: Any, user_ids: list[int]) -> None:
    """Every journal balanced, and each member's provider balances equal the ledger's."""
    report = await ledger.check()
    assert report.ok, report
    for user_id in user_ids:
        account = await ProviderAccount.get(owner_code=f"m:{user_id}")
        provider = await sandbox.balance(account.provider_account_id)
        books = await ledger.member_balances(user_id)
        assert (provider.available_fen, provider.frozen_fen) == (
            books["available"] + books["withdrawing"],
            books["frozen"],
        ), user_id


async def borrower_signs(loan_id: int, borrower_id: int, phone: str) -> None:
    """The borrower signs the loan contract (and a guarantee contract of the loan) with
    the SMS code (the contracts are made when the loan fills; the outbox event or the
    job makes them if they are not there yet)."""
    from models.contracts import Contract, ContractKind
    from services.contracts import signatures
    from services.loans import contracting

    contract = await contracting.contract_for_full_loan(await Loan.get(id=loan_id))
    actor = member_actor(borrower_id)
    # A guaranteed loan's guarantee contract first: the loan contract's signature then
    # finds both signed and the loan is paid out.
    guarantees = await Contract.filter(loan_id=loan_id, kind=ContractKind.GUARANTEE)
    for one in [*guarantees, contract]:
        await signatures.request_signature(actor=actor, contract_id=one.id)
        await signatures.sign(
            actor=actor, contract_id=one.id, code=await code_for(phone), client_ip="127.0.0.1"
        )


@dataclass
class RepayingLoan:
    loan: Loan
    borrower: User
    borrower_phone: str
    lenders: list[tuple[User, str]]  # (user, phone), in bid order


async def repaying_loan(
    scripted: dict[str, Any],
    sandbox: Any,
    *,
    shares: Sequence[int] = (600_000, 400_000),
    rate: str = "0.1200",
    term: int = 12,
    method: RepaymentMethod = RepaymentMethod.EQUAL_INSTALLMENT,
    lenders: Sequence[tuple[User, str]] | None = None,
    before_review: Callable[[Loan], Awaitable[None]] | None = None,
) -> RepayingLoan:
    """A loan of sum(shares) fen, one lender per share, listed, filled (bidding.accept),
    signed, disbursed and settled at the provider, REPAYING with its installments.
    `lenders` (one per share, the same one may bid several shares, each a claim of its
    own) are ready lenders with the money; by default a new one bids each share.

    Tolerant of the repayments code: installments are written from the loan's schedule
    (pricing.price from the day it closed) only when none exist, and START_REPAYING is
    applied only to a loan still DISBURSED."""
    borrower, phone = await verified_borrower(scripted)
    loan = await listed_loan(
        borrower.id,
        sum(shares),
        min_bid_fen=min(shares),
        rate=rate,
        term=term,
        method=method,
        before_review=before_review,
    )
    bidders = []
    for number, share in enumerate(shares, start=1):
        lender = (
            lenders[number - 1] if lenders else await ready_lender(share, name=f"Lender {number}")
        )
        await bidding.accept(
            loan_id=loan.id, lender_id=lender[0].id, requested=share, source=BidSource.MANUAL
        )
        bidders.append(lender)
    await outbox.dispatch_once()
    await borrower_signs(loan.id, borrower.id, phone)
    await settle_everything(sandbox)
    await bidding.disburse(loan.id)  # when the outbox has not done it yet
    await settle_everything(sandbox)
    loan = await Loan.get(id=loan.id)
    assert loan.status in (LoanStatus.DISBURSED, LoanStatus.REPAYING), loan.status
    assert loan.closed_at is not None
    if not await LoanInstallment.filter(loan_id=loan.id).exists():
        priced = price(
            LoanTerms(
                amount_fen=loan.amount_fen,
                annual_rate=Decimal(loan.annual_rate),
                term_months=loan.term_months,
                method=RepaymentMethod(loan.method),
                day_count=DayCount(loan.day_count),
                schedule_rules=ScheduleRules(loan.schedule_rules),
            ),
            Decimal(loan.fee_terms["monthly_service_fee_rate"]),
            loan.closed_at.date(),
        )
        for row in priced.installments:
            await LoanInstallment.create(
                loan_id=loan.id,
                number=row.installment.number,
                due_date=row.installment.due_date,
                principal_fen=row.installment.principal_fen,
                interest_fen=row.installment.interest_fen,
                fee_fen=row.fee_fen,
            )
    if loan.status == LoanStatus.DISBURSED:
        states.transition(loan, states.LoanEvent.START_REPAYING)
        await loan.save(update_fields=["status"])
    return RepayingLoan(loan=loan, borrower=borrower, borrower_phone=phone, lenders=bidders)


async def move_clock_to(day: date) -> date:
    """Move the business clock forward to `day` (never back); returns today."""
    today = await clock.today()
    if day > today:
        await clock.advance(days=(day - today).days)
    return await clock.today()


async def deposit_by_card(user_id: int, amount: int) -> None:
    """Deposit by auto-debit of the member's first bound card (settles at once)."""
    card = await BankCard.filter(user_id=user_id, status="bound").order_by("id").first()
    assert card is not None
    deposit = await accounts.deposit(
        actor=member_actor(user_id),
        amount=amount,
        channel=DepositChannel.AUTO_DEBIT,
        idempotency_key=f"fund-{uuid.uuid4().hex[:16]}",
        card_id=card.id,
    )
    assert deposit.status == "PAID"


async def repay_confirmed(
    borrower_id: int,
    phone: str,
    loan_id: int,
    mode: RepayMode,
    count: int | None = None,
    *,
    amount: int | None = None,
) -> Repayment:
    """Ask to repay and confirm with the SMS code: the repayment as confirmed (`amount`
    for mode AMOUNT)."""
    asked = await repayments.repay(
        actor=member_actor(borrower_id),
        loan_id=loan_id,
        mode=mode,
        count=count,
        amount_fen=amount,
        idempotency_key=f"repay-{uuid.uuid4().hex[:16]}",
    )
    confirmed = await confirmation.confirm_operation(
        actor=member_actor(borrower_id),
        operation_id=str(asked.operation_id),
        code=await code_for(phone),
    )
    assert isinstance(confirmed.target, Repayment)
    return confirmed.target
