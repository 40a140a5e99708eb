"""The one engine for "pay the holders now, recover later" (`services.repayments.advances`)
beyond the reserve's own case: an advance of principal only, the recovery arithmetic of
a partial cover, and migration 0036 giving the advances made before it their headers and
recoverer.

The loan is the reserve tests' (10,000.00 held 3,333.33 / 3,333.33 / 3,333.34, three
monthly installments, installment 1 missed).
"""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from tortoise import connections

from models.repayments import InstallmentAdvance, LoanInstallment, Receipt, ReserveAdvance
from services.money import ledger
from services.money.money import allocate
from services.repayments import advances, holdings, overdue, reserve, split
from services.repayments.advances import AdvanceOf, Cover
from services.repayments.due import RepayMode
from tests.lending import (
    assert_ledger_matches_provider,
    deposit_by_card,
    fund_risk_reserve,
    move_clock_to,
    repaying_loan,
    settle_everything,
)
from tests.repayments.test_reserve_recovery_api import (
    AFTER_DAYS,
    RESERVE_FUNDS,
    SHARES,
    _advanced_loan,
    _repay,
)

ON_THE_LOOP = pytest.mark.asyncio(loop_scope="session")


def test_a_principal_only_advance_is_recovered_from_principal_paid_since_and_never_interest():
    """Of an installment paid 100.00 of principal and 10.00 of interest before, the payer
    advanced the 400.00 principal left (claims 1 and 2: 240.00 / 160.00) and no interest.
    Paid since: 150.00 principal and all 40.00 interest: it has 150.00 back (the
    receipts say 90.00 / 60.00), none of the interest (today's reserve formula, advance
    less unpaid, would say -30.00)."""
    advance = AdvanceOf(
        recoverer="g:1",
        whole=(40_000, 0, 0),
        before=(10_000, 1_000, 0),
        per_claim={1: (24_000, 0, 0), 2: (16_000, 0, 0)},
    )
    got = advances.recovered_parts(
        advanced={7: advance},
        paid_since={7: (15_000, 4_000, 0)},
        recovered={1: (9_000, 0, 0), 2: (6_000, 0, 0)},
    )
    assert got == {7: {1: (9_000, 0, 0), 2: (6_000, 0, 0)}}
    # All of it paid: each claim its whole advance.
    assert advances.recovered_parts(
        advanced={7: advance},
        paid_since={7: (40_000, 4_000, 0)},
        recovered={1: (24_000, 0, 0), 2: (16_000, 0, 0)},
    ) == {7: {1: (24_000, 0, 0), 2: (16_000, 0, 0)}}
    # Receipts saying interest went to the payer: a bug, refused.
    with pytest.raises(RuntimeError):
        advances.recovered_parts(
            advanced={7: advance},
            paid_since={7: (15_000, 4_000, 0)},
            recovered={1: (9_000, 100, 0), 2: (6_000, 0, 0)},
        )


def test_a_covered_penalty_is_recovered_up_to_what_was_advanced_of_it():
    """Penalty goes on accruing after the advance: of 12.00 paid since, the 8.00 advanced
    is the payer's, the 4.00 accrued later the holders'."""
    advance = AdvanceOf(
        recoverer="g:1",
        whole=(0, 0, 800),
        before=(0, 0, 0),
        per_claim={1: (0, 0, 500), 2: (0, 0, 300)},
    )
    assert advances.recovered_parts(
        advanced={3: advance},
        paid_since={3: (0, 0, 1_200)},
        recovered={1: (0, 0, 500), 2: (0, 0, 300)},
    ) == {3: {1: (0, 0, 500), 2: (0, 0, 300)}}


@ON_THE_LOOP
async def test_a_principal_only_advance_is_paid_back_principal_and_holders_keep_the_interest(
    app, scripted
):
    """The engine with the reserve as payer and principal cover: each holder is paid
    their share of installment 1's principal now; when the borrower repays installment
    1 (7 days late) the reserve gets exactly that principal back per claim, the holders
    the interest and the penalty, split towards their targets; over the whole loan each
    holder had exactly their principal and their interest target."""
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES, term=3)
    await fund_risk_reserve(sandbox, RESERVE_FUNDS)
    await deposit_by_card(made.borrower.id, 100_000)
    lender_ids = [user.id for user, _phone in made.lenders]
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    today = await move_clock_to(first.due_date + timedelta(days=AFTER_DAYS))
    await overdue.run_daily(today)  # the reserve's own advance is off: nothing advanced
    assert not await InstallmentAdvance.filter(loan_id=made.loan.id).exists()

    found = await advances.advance_installment(
        first.id, payer=reserve.RESERVE, cover=Cover.PRINCIPAL
    )
    assert found is not None
    assert (found.principal_fen, found.interest_fen, found.penalty_fen) == (
        first.principal_fen,
        0,
        0,
    )
    rows = await ReserveAdvance.filter(loan_id=made.loan.id).order_by("claim_id")
    assert [(r.holder_id, r.principal_fen, r.interest_fen) for r in rows] == [
        (holder, part, 0)
        for holder, part in zip(
            lender_ids, allocate(first.principal_fen, list(SHARES)), strict=True
        )
    ]
    assert await ledger.balance(ledger.RISK_RESERVE) == RESERVE_FUNDS - first.principal_fen
    # Advanced once: a second call moves nothing.
    assert (
        await advances.advance_installment(first.id, payer=reserve.RESERVE, cover=Cover.PRINCIPAL)
        is None
    )

    today = await move_clock_to(first.due_date + timedelta(days=AFTER_DAYS + 2))
    await overdue.run_daily(today)
    done = await _repay(made, RepayMode.NEXT)
    first = await LoanInstallment.get(id=first.id)
    assert done.details["reserve_recovery_fen"] == first.principal_fen
    recovery = await Receipt.filter(repayment_id=done.id, to_reserve=True).order_by("claim_id")
    assert [(r.recoverer, r.principal_fen, r.interest_fen, r.penalty_fen) for r in recovery] == [
        ("p:risk_reserve", row.principal_fen, 0, 0) for row in rows
    ]
    own = await Receipt.filter(repayment_id=done.id, to_reserve=False).order_by("claim_id")
    assert all(r.recoverer is None and r.principal_fen == 0 for r in own)
    assert sum(r.interest_fen for r in own) == first.interest_fen
    assert sum(r.penalty_fen for r in own) == first.penalty_paid_fen > 0
    assert await ledger.balance(ledger.RISK_RESERVE) == RESERVE_FUNDS

    for row in (await LoanInstallment.filter(loan_id=made.loan.id).order_by("number"))[1:]:
        await move_clock_to(row.due_date)
        await _repay(made, RepayMode.NEXT)
    all_rows = await LoanInstallment.filter(loan_id=made.loan.id)
    targets = split.interest_targets(sum(r.interest_fen for r in all_rows), list(SHARES))
    claims = [row.claim_id for row in rows]
    had = await holdings.had(claims)
    assert [(had[c].principal_fen, had[c].interest_fen) for c in claims] == list(
        zip(SHARES, targets, strict=True)
    )
    assert (await ledger.check()).ok
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [made.borrower.id, *lender_ids])


@ON_THE_LOOP
async def test_migration_0036_gives_the_reserves_advances_their_headers_and_recoverer(
    app, scripted
):
    """Advances and recoveries made the way the reserve made them before 0036 (no header
    row, recovery receipts naming nobody) get, from 0036's statements, exactly the rows
    the engine writes now, and every figure read from them is the same."""
    made, lender_ids = await _advanced_loan(app, scripted)
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    today = await move_clock_to(first.due_date + timedelta(days=AFTER_DAYS + 2))
    await overdue.run_daily(today)
    await _repay(made, RepayMode.NEXT)
    rows = await LoanInstallment.filter(loan_id=made.loan.id)
    claims = list(
        await ReserveAdvance.filter(loan_id=made.loan.id).values_list("claim_id", flat=True)
    )

    def header_of(row: InstallmentAdvance) -> tuple[object, ...]:
        return (
            row.loan_id,
            row.installment_id,
            row.recoverer,
            row.principal_fen,
            row.interest_fen,
            row.penalty_fen,
            row.paid_principal_before_fen,
            row.paid_interest_before_fen,
            row.penalty_paid_before_fen,
        )

    async def state() -> tuple[object, ...]:
        return (
            [header_of(row) for row in await InstallmentAdvance.all().order_by("installment_id")],
            await Receipt.filter(loan_id=made.loan.id)
            .order_by("id")
            .values_list("to_reserve", "recoverer"),
            await holdings.had(claims),
            await advances.recovered_of_loan(made.loan.id, rows),
        )

    now = await state()
    assert now[0] == [
        (made.loan.id, first.id, "p:risk_reserve", first.principal_fen, first.interest_fen)
        + (0,) * 4
    ]
    await InstallmentAdvance.all().delete()
    await Receipt.filter(loan_id=made.loan.id).update(recoverer=None)
    migration = importlib.import_module("migrations.0036_advance_recoverers").Migration
    connection = connections.get("default")
    statements = [op.sql for op in migration.operations if hasattr(op, "sql")]
    assert len(statements) == 3
    for sql in statements:
        await connection.execute_script(sql)
    assert await state() == now
    assert lender_ids
