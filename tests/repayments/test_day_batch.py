"""The day's auto-debit in sets (services/repayments/daybatch.py) leaves the books exactly
as the one-loan path does (issue 16, P3).

For each seed: loans of several sizes and rates, held in odd shares by lenders who hold
several claims (on one loan and on several), one loan short of the terms to settle in
the run, one borrower without the money and without a card (refused, then overdue: the
one-loan path's cases), all falling due on the same days. On each due day the day's
batch runs twice from the same state: first the one-loan path alone
(REPAYMENT_BATCH_LOANS=0) in a transaction rolled back, then in sets (of one loan, of
three, of all: one size a day), committed. Every table the settlement writes is
compared, normalised only by the repayment ids (the sequence is not rolled back):
repayments, installments, every ledger account's balance, every journal with its
postings and running balances, the provider instructions with their split, receipts,
each member's event stream, notices, credit profiles and their history, loan states and
the contracts' retention.

Replay one seed: `pytest tests/repayments/test_day_batch.py -k "seed_7"`.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.contracts import Contract
from models.credit import CreditLimitChange, CreditProfile
from models.ledger import Journal, LedgerAccount, Posting
from models.loans import Loan, LoanStatus
from models.messaging import Notice, OutboxEvent
from models.payments import BankCard, PaymentInstruction
from models.repayments import LoanInstallment, Receipt, Repayment, RepaymentStatus
from services.identity.permissions import Actor
from services.kit.settings import get_settings
from services.money import ledger
from services.payments.params import open_params
from services.platform import outbox, parameters
from services.repayments import autodebit
from tests.factories import withdraw_confirmed
from tests.lending import deposit_by_card, move_clock_to, ready_lender, repaying_loan

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SEEDS = [7, 2026, 90210]


class _RolledBack(Exception):
    pass


def _norm(text: str, names: dict[int, str]) -> str:
    return re.sub(r"repayment:(\d+)", lambda m: f"repayment:{names.get(int(m[1]), m[1])}", text)


def _normed(value: Any, names: dict[int, str]) -> Any:
    if isinstance(value, str):
        return _norm(value, names)
    if isinstance(value, dict):
        return {key: _normed(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_normed(item, names) for item in value]
    return value


async def _books() -> dict[str, Any]:
    """Everything the settlement writes, with repayment ids replaced by what they are."""
    repayments = await Repayment.all().order_by("id")
    names: dict[int, str] = {}
    seen: dict[str, int] = {}
    for one in sorted(repayments, key=lambda r: (r.loan_id, str(r.installments), r.status, r.id)):
        base = f"{one.loan_id}/{one.installments}/{one.kind}/{one.status}"
        seen[base] = seen.get(base, 0) + 1
        names[one.id] = f"{base}/{seen[base]}"
    journals = {journal.id: journal for journal in await Journal.all()}
    codes = dict(await LedgerAccount.all().values_list("id", "code"))
    postings: dict[str, list[tuple[str, int, int]]] = {}
    for posting in await Posting.all().order_by("id"):
        key = _norm(journals[posting.journal_id].idempotency_key, names)
        postings.setdefault(key, []).append(
            (codes[posting.account_id], posting.amount, posting.balance_after)
        )
    streams: dict[str, list[dict[str, Any]]] = {}
    for event in await OutboxEvent.all().order_by("id"):
        for topic, body in outbox.messages(event.topic, event.payload):
            payload = {k: v for k, v in body.items() if k not in ("id", "created_at")}
            if "at" in payload:
                payload["at"] = payload["at"][:10]
            streams.setdefault(topic, []).append(_normed(payload, names))
    return {
        "repayments": sorted(
            (
                names[r.id],
                r.borrower_id,
                r.amount_fen,
                r.principal_fen,
                r.interest_fen,
                r.fee_fen,
                r.penalty_fen,
                r.early_fee_fen,
                r.refusal,
                r.details,
                r.operation_id,
                # The business clock runs on between the two runs: the day, not the time.
                r.created_at.date(),
                r.done_at.date() if r.done_at else None,
            )
            for r in repayments
        ),
        "installments": [
            (
                row.loan_id,
                row.number,
                row.status,
                row.principal_fen,
                row.interest_fen,
                row.fee_fen,
                row.paid_principal_fen,
                row.paid_interest_fen,
                row.paid_fee_fen,
                row.penalty_accrued_fen,
                row.penalty_paid_fen,
                row.paid_on,
                row.paid_late,
                row.overdue_since,
            )
            for row in await LoanInstallment.all().order_by("loan_id", "number")
        ],
        "balances": sorted(await LedgerAccount.all().values_list("code", "balance")),
        "journals": sorted(
            (_norm(j.idempotency_key, names), j.kind, j.business_date, j.memo)
            for j in journals.values()
        ),
        "postings": sorted(postings.items()),
        "instructions": sorted(
            (
                one.kind,
                one.status,
                one.amount,
                _norm(one.business_ref, names),
                repr(_normed(open_params(one.params), names)),
            )
            for one in await PaymentInstruction.all()
        ),
        "receipts": sorted(
            (
                names[r.repayment_id],
                r.claim_id,
                r.holder_id,
                r.loan_id,
                r.principal_fen,
                r.interest_fen,
                r.penalty_fen,
                r.to_reserve,
            )
            for r in await Receipt.all()
        ),
        "events": sorted(streams.items()),
        "notices": sorted(
            await Notice.all().values_list("user_id", "kind", "title", "body", "read_at")
        ),
        "credit": sorted(
            await CreditProfile.all().values_list(
                "user_id",
                "score",
                "grade",
                "limit_fen",
                "used_fen",
                "on_time_count",
                "overdue_count",
                "frozen",
                "explanation",
            )
        ),
        "credit_changes": [
            (
                c.user_id,
                c.kind,
                c.old_limit_fen,
                c.new_limit_fen,
                c.old_grade,
                c.new_grade,
                c.score,
                c.reason,
                c.event_key,
                c.created_at.date(),
            )
            for c in await CreditLimitChange.all().order_by("user_id", "id")
        ],
        "loans": sorted(await Loan.all().values_list("id", "status")),
        "retention": sorted(await Contract.all().values_list("id", "retain_until")),
    }


async def _one_loan_path_books(monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    """What the one-loan path pays and leaves, rolled back afterwards."""
    monkeypatch.setattr(get_settings(), "repayment_batch_loans", 0)
    found: dict[str, Any] = {}
    try:
        async with in_transaction():
            found["paid"] = await autodebit.auto_debit_due()
            found["books"] = await _books()
            raise _RolledBack
    except _RolledBack:
        pass
    return found["paid"], found["books"]


async def _scenario(seed: int, scripted: dict[str, Any], sandbox: Any) -> list[Any]:
    rng = random.Random(seed)
    # A share of each fee to the risk reserve: the settlement's third leg.
    await parameters.set_value(
        Actor(user_id=None, kind="staff"),
        "repayments.riskReserveShare",
        {"share": rng.choice(("0.3333", "0.2500"))},
        "day batch test",
    )
    shared = [await ready_lender(3_000_000, name=f"Shared {n}") for n in range(2)]
    loans = []
    for number in range(5):
        count = rng.randint(2, 4)
        shares = [rng.randint(1_000, 4_000) * 100 + rng.choice((0, 100, 300)) for _ in range(count)]
        lenders = [
            shared[rng.randint(0, 1)]
            if rng.random() < 0.5
            else await ready_lender(share, name=f"Lender {number}-{index}")
            for index, share in enumerate(shares)
        ]
        loans.append(
            await repaying_loan(
                scripted,
                sandbox,
                shares=shares,
                rate=rng.choice(("0.0800", "0.1200", "0.1536")),
                term=2 if number == 1 else rng.choice((3, 6, 12)),
                lenders=lenders,
            )
        )
    # Every other borrower has the money for three months; the borrower of loan 3
    # spends the loan. No borrower keeps a card: a top-up by card goes to the provider,
    # which a rolled-back run cannot take back (the one-loan path's own tests have it).
    for other in loans:
        if other is not loans[3]:
            await deposit_by_card(other.borrower.id, 1_000_000)
            await BankCard.filter(user_id=other.borrower.id).update(status="unbound")
    short = loans[3].borrower
    card = await BankCard.get(user_id=short.id, status="bound")
    await withdraw_confirmed(
        short.id, card.id, (await ledger.member_balances(short.id))["available"] - 200
    )
    await BankCard.filter(id=card.id).update(status="unbound")
    return loans


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed_{seed}" for seed in SEEDS])
async def test_the_day_batch_leaves_the_books_the_one_loan_path_leaves(
    seed: int, scripted: dict[str, Any], quiet_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = quiet_app.state.sandbox.sandbox
    loans = await _scenario(seed, scripted, sandbox)
    paid_in_sets = 0
    # A set of one loan, of three (a set boundary inside a borrower's day), of all.
    for month, size in ((1, 1), (2, 3), (3, 100)):
        due = await LoanInstallment.get(loan_id=loans[0].loan.id, number=month)
        await move_clock_to(due.due_date)
        paid, expected = await _one_loan_path_books(monkeypatch)
        monkeypatch.setattr(get_settings(), "repayment_batch_loans", size)
        assert await autodebit.auto_debit_due() == paid
        books = await _books()
        for table in expected:
            assert books[table] == expected[table], f"seed {seed}, month {month}: {table}"
        assert (await ledger.check()).ok
        paid_in_sets += paid
    # The cases both paths went through: paid in sets, settled, refused.
    assert paid_in_sets >= 8
    assert (await Loan.get(id=loans[1].loan.id)).status == LoanStatus.SETTLED
    assert await Repayment.filter(loan_id=loans[3].loan.id, status=RepaymentStatus.REFUSED).exists()


async def test_a_balance_spent_under_the_set_sends_its_installments_the_one_loan_way(
    scripted: dict[str, Any], quiet_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The set reads the borrowers' balances before the ledger locks them: when the
    money is gone by then (here drained inside the set's own transaction, right after
    its reads), the ledger refuses the whole set, nothing of it stays, and every
    installment is then settled once by the one-loan path."""
    from services.repayments import daybatch

    sandbox = quiet_app.state.sandbox.sandbox
    loans = [await repaying_loan(scripted, sandbox) for _ in range(2)]
    first = await LoanInstallment.get(loan_id=loans[0].loan.id, number=1)
    await move_clock_to(first.due_date)
    read = daybatch._read
    drained: list[int] = []

    async def read_then_drain(chunk: Any, borrowers: dict[int, int]) -> Any:
        found = await read(chunk, borrowers)
        for user_id in sorted(set(borrowers.values())):
            available = await ledger.balance(ledger.available(user_id))
            await ledger.post(
                key=f"drain:{user_id}",
                kind="test_drain",
                entries=[(ledger.available(user_id), -available), (ledger.FEE, available)],
            )
            drained.append(user_id)
        return found

    monkeypatch.setattr(daybatch, "_read", read_then_drain)
    monkeypatch.setattr(get_settings(), "repayment_batch_loans", 2)
    assert await autodebit.auto_debit_due() == 2
    assert drained  # the set was tried, and refused
    assert not await Journal.filter(idempotency_key__startswith="drain:").exists()
    for repaying in loans:
        [paid] = await Repayment.filter(loan_id=repaying.loan.id)
        assert (paid.status, paid.installments) == (RepaymentStatus.DONE, [1])
        row = await LoanInstallment.get(loan_id=repaying.loan.id, number=1)
        assert row.status == "PAID"
        receipts = await Receipt.filter(repayment_id=paid.id, to_reserve=False)
        assert sum(r.principal_fen + r.interest_fen for r in receipts) == (
            row.principal_fen + row.interest_fen
        )
    assert (await ledger.check()).ok
