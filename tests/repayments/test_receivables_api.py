"""`myReceivables` (`views.receivables_of`) in a fixed number of queries.

The view reads every claim a lender holds with the loan's claims, installments, the
claim's own receipts and the risk reserve's advances: a handful of queries for the lot,
the same for one claim as for thirty across ten loans (pinned here so it cannot slip
back to queries per claim), and the same figures to the fen as computed a claim at a
time (the oracle below, written from the raw rows), on loans being repaid, advanced by
the reserve and recovered, advanced and still overdue, and settled.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

from models.bids import Claim
from models.loans import Loan
from models.repayments import InstallmentStatus, LoanInstallment, Receipt, ReserveAdvance
from services.identity.permissions import Actor, Permission
from services.platform import parameters
from services.repayments import overdue, split, views
from services.repayments.due import RepayMode
from tests.factories import gql, token_for
from tests.lending import (
    RepayingLoan,
    deposit_by_card,
    fund_risk_reserve,
    move_clock_to,
    ready_lender,
    repay_confirmed,
    repaying_loan,
    settle_everything,
)
from tests.statements import recording_statements

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

ADMIN = Actor(user_id=None, kind="staff", permissions=frozenset({Permission.PARAMETERS_MANAGE}))
RECEIVABLES = """{ myReceivables { claimId loanId loanStatus principal receivedPrincipal
  receivedInterest receivedPenalty expectedPrincipal expectedInterest nextDate } }"""
QUERY_BUDGET = 6  # held claims, loans, their claims, installments, receipts, advances
AFTER_DAYS = 5


class Row(NamedTuple):
    """One receivable's figures, in fen."""

    claim_id: int
    loan_id: int
    loan_status: str
    received_principal: int
    received_interest: int
    received_penalty: int
    expected_principal: int
    expected_interest: int
    next_date: date | None


def _rows(found: list[views.Receivable]) -> list[Row]:
    return [
        Row(
            item.claim.id,
            item.loan.id,
            str(item.loan.status),
            item.received_principal_fen,
            item.received_interest_fen,
            item.received_penalty_fen,
            item.expected_principal_fen,
            item.expected_interest_fen,
            item.next_due_date,
        )
        for item in found
    ]


async def _claim_at_a_time(user_id: int) -> list[Row]:
    """The oracle: each held claim (newest first) from its own rows, as the view was
    computed before it was batched. Received = own receipts (not those `to_reserve`) plus
    the reserve's advances; expected interest = the claim's largest-remainder share of
    the loan's interest less what was received, nothing once the loan is repaid."""
    answer: list[Row] = []
    for claim in await Claim.filter(holder_id=user_id).order_by("-id"):
        loan = await Loan.get(id=claim.loan_id)
        claims = await Claim.filter(loan_id=loan.id).order_by("id")
        rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
        targets = split.interest_targets(
            sum(row.interest_fen for row in rows), [c.principal_fen for c in claims]
        )
        target = targets[[c.id for c in claims].index(claim.id)]
        receipts = await Receipt.filter(claim_id=claim.id, to_reserve=False)
        advances = await ReserveAdvance.filter(claim_id=claim.id)
        principal = sum(r.principal_fen for r in receipts) + sum(a.principal_fen for a in advances)
        interest = sum(r.interest_fen for r in receipts) + sum(a.interest_fen for a in advances)
        penalty = sum(r.penalty_fen for r in receipts)
        open_rows = [row for row in rows if row.status != InstallmentStatus.PAID]
        answer.append(
            Row(
                claim.id,
                loan.id,
                str(loan.status),
                principal,
                interest,
                penalty,
                claim.principal_fen - principal,
                max(0, target - interest) if open_rows else 0,
                open_rows[0].due_date if open_rows else None,
            )
        )
    return answer


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def _as_graphql(rows: list[Row]) -> list[dict[str, Any]]:
    return [
        {
            "claimId": str(row.claim_id),
            "loanId": str(row.loan_id),
            "loanStatus": row.loan_status,
            "principal": _yuan(row.received_principal + row.expected_principal),
            "receivedPrincipal": _yuan(row.received_principal),
            "receivedInterest": _yuan(row.received_interest),
            "receivedPenalty": _yuan(row.received_penalty),
            "expectedPrincipal": _yuan(row.expected_principal),
            "expectedInterest": _yuan(row.expected_interest),
            "nextDate": row.next_date.isoformat() if row.next_date else None,
        }
        for row in rows
    ]


async def _repay(made: RepayingLoan, mode: RepayMode) -> None:
    done = await repay_confirmed(made.borrower.id, made.borrower_phone, made.loan.id, mode)
    assert done.status == "DONE"


# --- the tests ---------------------------------------------------------------------------


async def test_receivables_take_the_same_few_queries_for_one_claim_and_for_thirty(
    app, client, scripted
):
    sandbox = app.state.sandbox.sandbox
    share = 50_000
    many = await ready_lender(30 * share, name="Many Claims")
    one = await ready_lender(share, name="One Claim")
    await repaying_loan(scripted, sandbox, shares=(share,) * 4, term=3, lenders=[many] * 3 + [one])
    for _ in range(9):
        await repaying_loan(scripted, sandbox, shares=(share,) * 3, term=3, lenders=[many] * 3)
    nobody = await ready_lender(0, name="No Claims")

    with recording_statements() as none_queries:
        assert await views.receivables_of(nobody[0].id) == []
    with recording_statements() as one_queries:
        assert len(await views.receivables_of(one[0].id)) == 1
    with recording_statements() as many_queries:
        found = await views.receivables_of(many[0].id)
    assert len(found) == 30
    assert len({item.loan.id for item in found}) == 10
    assert len(none_queries) == 1
    assert len(many_queries) == len(one_queries) <= QUERY_BUDGET, many_queries

    # The whole request as well: authentication and all, no query per claim.
    tokens = [await token_for(phone) for _user, phone in (one, many)]
    counts = []
    for token in tokens:
        await gql(client, RECEIVABLES, token=token)  # caches (actor, permissions) warm
        with recording_statements() as seen:
            body = await gql(client, RECEIVABLES, token=token)
        assert "errors" not in body, body
        counts.append(len(seen))
    assert counts[0] == counts[1], counts


async def test_receivables_match_the_claim_at_a_time_figures_in_every_loan_state(
    app, client, scripted
):
    """One lender holding two claims of a loan being repaid (installment 1 paid), one of
    a loan whose installment 1 the reserve advanced and the borrower then repaid (the
    recovery receipts not counted again), one of a loan advanced and still overdue, and
    one of a loan repaid early in full."""
    sandbox = app.state.sandbox.sandbox
    lender = await ready_lender(1_000_000, name="Holder")
    other = await ready_lender(600_000, name="Other Holder")
    repaying = await repaying_loan(
        scripted,
        sandbox,
        shares=(200_000, 150_000, 250_000),
        term=3,
        lenders=[lender, other, lender],
    )
    recovered = await repaying_loan(
        scripted, sandbox, shares=(300_000, 200_000), term=3, lenders=[lender, other]
    )
    settled = await repaying_loan(
        scripted, sandbox, shares=(150_000, 100_000), term=3, lenders=[other, lender]
    )
    advanced = await repaying_loan(scripted, sandbox, shares=(120_000,), term=3, lenders=[lender])
    for made in (repaying, recovered, settled):
        await deposit_by_card(made.borrower.id, 100_000)
    await fund_risk_reserve(sandbox, 2_000_000)
    await parameters.set_value(
        ADMIN,
        "repayments.reserveAdvance",
        {"enabled": True, "after_days": AFTER_DAYS},
        "test: advance",
    )

    await _repay(settled, RepayMode.EARLY_FULL)
    first_due = (await LoanInstallment.get(loan_id=repaying.loan.id, number=1)).due_date
    await move_clock_to(first_due)
    await _repay(repaying, RepayMode.NEXT)
    await overdue.run_daily(await move_clock_to(first_due + timedelta(days=1)))
    report = await overdue.run_daily(await move_clock_to(first_due + timedelta(days=AFTER_DAYS)))
    assert report.advanced == 3  # the two claims of `recovered`, the one of `advanced`
    await settle_everything(sandbox)
    await overdue.run_daily(await move_clock_to(first_due + timedelta(days=AFTER_DAYS + 2)))
    await _repay(recovered, RepayMode.NEXT)
    await settle_everything(sandbox)

    found = _rows(await views.receivables_of(lender[0].id))
    assert found == await _claim_at_a_time(lender[0].id)
    assert [row.claim_id for row in found] == sorted((row.claim_id for row in found), reverse=True)
    by_loan: dict[int, list[Row]] = {}
    for row in found:
        by_loan.setdefault(row.loan_id, []).append(row)
    assert [len(by_loan[made.loan.id]) for made in (repaying, recovered, settled, advanced)] == [
        2,
        1,
        1,
        1,
    ]
    second_due = (await LoanInstallment.get(loan_id=repaying.loan.id, number=2)).due_date
    for row in by_loan[repaying.loan.id]:
        assert (row.loan_status, row.received_penalty, row.next_date) == (
            "REPAYING",
            0,
            second_due,
        )
        assert row.received_principal > 0
        assert row.received_interest > 0
        assert row.expected_principal > 0
        assert row.expected_interest > 0

    [row] = by_loan[recovered.loan.id]
    advance = await ReserveAdvance.get(loan_id=recovered.loan.id, holder_id=lender[0].id)
    assert (row.loan_status, row.received_principal, row.received_interest, row.next_date) == (
        "REPAYING",
        advance.principal_fen,
        advance.interest_fen,
        second_due,
    )
    assert row.received_penalty > 0  # the holders' penalty; the recovery went to the reserve

    [row] = by_loan[advanced.loan.id]
    advance = await ReserveAdvance.get(loan_id=advanced.loan.id)
    assert (
        row.loan_status,
        row.received_principal,
        row.received_interest,
        row.received_penalty,
        row.next_date,
    ) == ("OVERDUE", advance.principal_fen, advance.interest_fen, 0, first_due)

    [row] = by_loan[settled.loan.id]
    assert (
        row.loan_status,
        row.received_principal,
        row.expected_principal,
        row.expected_interest,
        row.next_date,
    ) == ("SETTLED", 100_000, 0, 0, None)

    body = await gql(client, RECEIVABLES, token=await token_for(lender[1]))
    assert body["data"]["myReceivables"] == _as_graphql(found)
