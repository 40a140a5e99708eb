"""The demo data `scripts/start` seeds: idempotent, with a verified borrower, a review
queue for the demo credit officer and, given the embedded sandbox provider, a loan's
life from publishing to its first repayment with the money settled at the provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise

from models.bids import Claim
from models.contracts import Contract, ContractStatus
from models.credit import VerificationStatus, VerificationSubmission
from models.help import HelpArticle
from models.loans import Loan, LoanStatus
from models.members import User
from models.payments import ProviderAccount
from models.repayments import InstallmentStatus, LoanInstallment, Receipt, Repayment
from services import demo, demo_help
from services.credit import eligibility, scorecard, scoring
from services.demo import DemoRefusedError, seed_demo_data
from services.help import reading
from services.identity.permissions import ANONYMOUS
from services.kit.security import lookup_hash
from services.kit.settings import Environment, get_settings
from services.kit.storage import LocalStorage, set_storage
from services.money import ledger
from services.repayments import views

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[None]:
    set_storage(LocalStorage(tmp_path / "storage"))
    yield
    set_storage(None)


async def _member(number: int) -> User:
    return await User.get(phone_lookup=lookup_hash(f"1990000{1000 + number}"))


async def _row_counts() -> dict[str, int]:
    return {name: await model.all().count() for name, model in Tortoise.apps["models"].items()}


async def test_demo_data_has_a_verified_borrower_and_a_queue_and_seeds_once():
    await seed_demo_data()
    users, submissions = await User.all().count(), await VerificationSubmission.all().count()
    await seed_demo_data()
    assert (await User.all().count(), await VerificationSubmission.all().count()) == (
        users,
        submissions,
    )

    # The help centre has its demo articles, once, and the Chinese search finds them.
    assert await HelpArticle.filter(status="PUBLISHED").count() == len(demo_help.ARTICLES)
    found = await reading.list_articles(
        actor=ANONYMOUS,
        status=None,
        category_id=None,
        search="逾期",
        order=None,
        first=5,
        after=None,
    )
    assert found.rows[0][0].slug == "overdue-repayment"

    borrower = await _member(1)
    waiting = await _member(2)
    assert await VerificationSubmission.filter(
        user_id=borrower.id, status=VerificationStatus.APPROVED
    ).count() == len(scorecard.REQUIRED_FOR_BORROWING)
    assert await VerificationSubmission.filter(
        user_id=waiting.id, status=VerificationStatus.SUBMITTED
    ).count() == len(scorecard.REQUIRED_FOR_BORROWING)
    standing = await scoring.standing(borrower.id)
    assert standing.profile.explanation["missing"] == []
    assert standing.limit_fen > 0, standing.reasons
    # The lenders were verified to lend (submitted, and approved by the credit officer).
    for number in (3, 4):
        lender = await _member(number)
        assert await eligibility.missing_for_lending(lender.id) == []
        assert await VerificationSubmission.filter(
            user_id=lender.id, status=VerificationStatus.APPROVED
        ).count() == len(eligibility.required_for_lending())
    # No provider, no money: the lending demo waits for the embedded sandbox.
    assert not await Loan.exists()


async def test_demo_lending_repays_a_loan_settled_at_the_provider_and_seeds_once(app: Any):
    sandbox = app.state.sandbox.sandbox
    lines = await seed_demo_data(sandbox)
    counts = await _row_counts()
    assert await seed_demo_data(sandbox) == lines
    assert await _row_counts() == counts

    borrower = await _member(1)
    lenders = [await _member(3), await _member(4)]
    loan = await Loan.get(borrower_id=borrower.id, purpose=demo.REPAYING_LOAN.purpose)
    assert loan.status == LoanStatus.REPAYING
    installments = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    assert len(installments) == loan.term_months == 12
    assert [row.status for row in installments] == [InstallmentStatus.PAID] + [
        InstallmentStatus.PENDING
    ] * 11
    first = installments[0]
    assert (first.paid_principal_fen, first.paid_interest_fen, first.paid_fee_fen) == (
        first.principal_fen,
        first.interest_fen,
        first.fee_fen,
    )
    (repayment,) = await Repayment.filter(loan_id=loan.id)
    assert repayment.status == "DONE"
    assert repayment.amount_fen == first.principal_fen + first.interest_fen + first.fee_fen

    # Each lender: their share as a claim, their part of the installment as a receipt,
    # and their money to the fen: deposited, lent, received.
    claims = await Claim.filter(loan_id=loan.id).order_by("id")
    assert [(c.holder_id, c.principal_fen) for c in claims] == [
        (lender.id, share) for lender, share in zip(lenders, demo.REPAYING_LOAN.shares, strict=True)
    ]
    receipts = await Receipt.filter(loan_id=loan.id)
    assert sum(r.principal_fen for r in receipts) == first.principal_fen
    assert sum(r.interest_fen for r in receipts) == first.interest_fen
    for lender, claim in zip(lenders, claims, strict=True):
        (receipt,) = [r for r in receipts if r.holder_id == lender.id]
        assert receipt.claim_id == claim.id
        (receivable,) = await views.receivables_of(lender.id)
        assert receivable.received_principal_fen == receipt.principal_fen
        assert receivable.received_interest_fen == receipt.interest_fen
        assert receivable.expected_principal_fen == claim.principal_fen - receipt.principal_fen
        assert receivable.next_due_date == installments[1].due_date
        balances = await ledger.member_balances(lender.id)
        assert balances == {
            "available": demo.LENDER_DEPOSIT_FEN
            - claim.principal_fen
            + receipt.principal_fen
            + receipt.interest_fen,
            "frozen": 0,
            "withdrawing": 0,
        }
    assert (await ledger.member_balances(borrower.id))["available"] == (
        loan.amount_fen - repayment.amount_fen
    )

    contract = await Contract.get(loan_id=loan.id)
    assert contract.status == ContractStatus.SIGNED

    listed = await Loan.get(borrower_id=borrower.id, purpose=demo.LISTED_LOAN.purpose)
    assert listed.status == LoanStatus.LISTED
    assert listed.funded_fen == 0

    # The books balance, and every member's money at the provider equals the ledger's.
    report = await ledger.check()
    assert report.ok, report
    for member in [borrower, *lenders]:
        account = await ProviderAccount.get(owner_code=f"m:{member.id}")
        provider = await sandbox.balance(account.provider_account_id)
        books = await ledger.member_balances(member.id)
        assert (provider.available_fen, provider.frozen_fen) == (
            books["available"] + books["withdrawing"],
            books["frozen"],
        ), member.id

    said = "\n".join(lines)
    assert f"loan {loan.id} is repaying" in said
    assert "1 of 12 installments paid" in said
    assert f"loan {listed.id}" in said
    assert "listed" in said


async def test_demo_data_is_never_seeded_in_prod(monkeypatch: pytest.MonkeyPatch):
    prod = get_settings().model_copy(update={"app_env": Environment.PROD})
    monkeypatch.setattr(demo, "get_settings", lambda: prod)
    with pytest.raises(DemoRefusedError):
        await seed_demo_data()
    assert not await User.filter(phone_lookup=lookup_hash("19900001001")).exists()
