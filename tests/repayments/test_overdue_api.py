"""M9.2-M9.4, M2.5/M2.6 hooks, R5: the daily overdue run on the business clock, the
overdue list and collection records for staff, overdue events, the risk-reserve advance."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.credit import CreditLimitChange
from models.loans import Loan
from models.messaging import MessageChannel, MessageStatus, Notice, OutboxEvent, OutgoingMessage
from models.repayments import (
    CollectionRecord,
    InstallmentStatus,
    LoanInstallment,
    ReserveAdvance,
)
from services.credit import scoring
from services.identity.permissions import Actor, Permission
from services.jobs import repayments as repayments_job
from services.kit.broker import get_broker
from services.kit.security import lookup_hash
from services.money import ledger
from services.money.money import format_money
from services.platform import clock, outbox, parameters
from services.repayments import overdue
from services.repayments.events import OVERDUE_EVENTS_CHANNEL, repayment_events_channel
from services.repayments.overdue_policy import WARN_DAYS
from tests.factories import (
    SmtpServer,
    approve_email,
    create_member,
    create_staff,
    dump_all_tables,
    error_codes,
    gql,
    token_for,
)
from tests.lending import (
    RepayingLoan,
    assert_ledger_matches_provider,
    fund_risk_reserve,
    repaying_loan,
    settle_everything,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

END = {"kind": "END"}
PARAMS_ADMIN = Actor(
    user_id=None, kind="staff", permissions=frozenset({Permission.PARAMETERS_MANAGE})
)


def expected_penalty(unpaid_fen: int, days: int, rate: str = "0.0005") -> int:
    """Computed independently: the exact total, rounded half-up once."""
    return int((Decimal(unpaid_fen) * Decimal(rate) * days).quantize(Decimal(1), ROUND_HALF_UP))


async def drain_outbox() -> None:
    """Until every committed event is handled (the app's dispatcher may hold some)."""
    for _ in range(500):
        await outbox.dispatch_once()
        if not await OutboxEvent.filter(
            published_at__isnull=True, attempts__lt=outbox.MAX_ATTEMPTS
        ).exists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("outbox events still waiting")


async def collect(messages: Any, channel: str) -> list[dict[str, Any]]:
    """Everything published on `channel` so far: publish a marker after the outbox is
    drained and read up to it (the broker keeps one channel's order)."""
    await drain_outbox()
    await get_broker().publish(channel, END)
    received = []
    async with asyncio.timeout(10):
        async for message in messages:
            if message == END:
                return received
            received.append(message)
    raise AssertionError("unreachable")


async def advance_to(day: date) -> date:
    today = await clock.today()
    if day > today:
        await clock.advance(days=(day - today).days)
    return await clock.today()


async def snapshot(loan_id: int) -> dict[str, Any]:
    return {
        "installments": await LoanInstallment.filter(loan_id=loan_id)
        .order_by("number")
        .values_list(
            "status",
            "penalty_accrued_fen",
            "penalty_accrued_micro_fen",
            "penalty_accrued_through",
            "overdue_since",
            "warned_on",
        ),
        "loan": (await Loan.get(id=loan_id)).status,
        "events": await OutboxEvent.all().count(),
        "credit": await CreditLimitChange.all().count(),
        "sms": await OutgoingMessage.all().count(),
    }


async def first_installment(loan_id: int) -> LoanInstallment:
    return await LoanInstallment.get(loan_id=loan_id, number=1)


# --- pure rules -------------------------------------------------------------------------


async def test_buckets_and_penalty_arithmetic():
    from services.errors import InvalidInputError
    from services.repayments.overdue_policy import (
        PENALTY_RATE,
        Bucket,
        bucket,
    )

    assert [bucket(d) for d in (-1, 0, 1, 30, 31, 60, 61, 90, 91, 400)] == [
        None,
        None,
        Bucket.M1,
        Bucket.M1,
        Bucket.M2,
        Bucket.M2,
        Bucket.M3,
        Bucket.M3,
        Bucket.M3_PLUS,
        Bucket.M3_PLUS,
    ]
    rate = Decimal("0.0005")
    # Cumulative exact, rounded once: 28 days of 505.0185 fen is 14,140.518 -> 14,141,
    # where rounding each day (505 x 28) would give 14,140.
    micro = overdue.penalty_micro_fen(1_010_037, rate, 28)
    assert micro == 14_140_518_000
    assert overdue.penalty_fen(micro) == 14_141 == expected_penalty(1_010_037, 28)
    # Day by day sums to the same exact figure.
    assert sum(overdue.penalty_micro_fen(1_010_037, rate, 1) for _ in range(28)) == micro
    with pytest.raises(ValueError, match="6 decimal places"):
        overdue.penalty_micro_fen(100, Decimal("0.0000001"), 1)

    # R3: the rate cannot be set where penalty could lift the all-in cost above 36 %.
    with pytest.raises(InvalidInputError):
        PENALTY_RATE.parse({"daily_rate": "0.0010"})
    assert PENALTY_RATE.parse({"daily_rate": "0.0009"}).daily_rate == Decimal("0.0009")


async def test_ninety_days_of_penalty_keep_the_all_in_cost_within_r3():
    """The dearest loan the defaults allow (24 % + the 0.3 % monthly fee), every
    installment paid 3 months late with its penalty (at the default and the highest
    rate): the all-in cost (monthly IRR x 12) stays within 36 %."""
    from services.loans.cost import COST_CAP, annual_cost_rate
    from services.loans.pricing import price
    from services.loans.schedule import LoanTerms, RepaymentMethod, due_date

    start = date(2025, 1, 31)
    for term in (1, 3, 12):
        terms = LoanTerms(
            amount_fen=1_000_000,
            annual_rate=Decimal("0.24"),
            term_months=term,
            method=RepaymentMethod.EQUAL_INSTALLMENT,
        )
        priced = price(terms, Decimal("0.0030"), start)
        assert priced.all_in_cost <= COST_CAP
        for rate in ("0.0005", "0.0009"):
            flows = []
            for row in priced.installments:
                late = due_date(start, row.installment.number + 3)
                days = (late - row.installment.due_date).days  # 89 to 92 days
                penalty = expected_penalty(row.installment.total_fen, days, rate)
                flows.append((late, row.total_due_fen + penalty))
            cost = annual_cost_rate(1_000_000, flows, start=start, nominal=True)
            assert cost <= COST_CAP, (term, rate, cost)


# --- the daily run over a missed installment ---------------------------------------------


async def test_a_missed_installment_day_by_day(app, scripted):
    sandbox = app.state.sandbox.sandbox
    # 10,000.37 over one month at 12 %: one installment, 10,000.37 + 100.00 interest.
    made = await repaying_loan(scripted, sandbox, shares=(600_037, 400_000), term=1)
    loan, borrower = made.loan, made.borrower
    row = await first_installment(loan.id)
    unpaid = row.principal_fen + row.interest_fen
    assert (row.principal_fen, row.interest_fen) == (1_000_037, 10_000)
    due = row.due_date
    limit_before = (await scoring.standing(borrower.id)).limit_fen
    assert limit_before > 0
    broker = get_broker()
    sms_to_borrower = OutgoingMessage.filter(recipient_lookup=lookup_hash(made.borrower_phone))

    async with (
        broker.subscribe(OVERDUE_EVENTS_CHANNEL) as staff_events,
        broker.subscribe(repayment_events_channel(borrower.id)) as own_events,
    ):
        # Five days before: nothing. Three days before (repayments.warnDays): warned once.
        await advance_to(due - timedelta(days=5))
        assert (await overdue.run_daily(await clock.today())).warned == 0
        for day in range(4, -1, -1):  # due - 4 ... the due date itself
            today = await advance_to(due - timedelta(days=day))
            report = await overdue.run_daily(today)
            assert report.warned == (1 if day == 3 else 0), day
            assert report.raised == 0
            assert (await first_installment(loan.id)).status == InstallmentStatus.PENDING
        assert (await first_installment(loan.id)).warned_on == due - timedelta(days=3)
        assert await sms_to_borrower.filter(body__contains="is due on").count() == 1
        assert await Notice.filter(user_id=borrower.id, title="Installment due soon").count() == 1

        # The day after the due date it is overdue; penalty to the fen every day after.
        for days in range(1, 36):
            today = await advance_to(due + timedelta(days=days))
            report = await overdue.run_daily(today)
            row = await first_installment(loan.id)
            assert row.status == InstallmentStatus.OVERDUE, days
            assert row.overdue_since == due + timedelta(days=1)
            assert row.penalty_accrued_through == today
            assert row.penalty_accrued_fen == expected_penalty(unpaid, days), days
            assert report.raised == (1 if days == 1 else 0)
            assert report.bucket_changes == (1 if days == 31 else 0), days
            if days == 1:
                assert (await Loan.get(id=loan.id)).status == "OVERDUE"
                standing = await scoring.standing(borrower.id)
                assert 0 < standing.limit_fen < limit_before  # lowered, not frozen
            if days in (1, 31):
                # The same day again: nothing changes, nothing is sent.
                before = await snapshot(loan.id)
                again = await overdue.run_daily(today)
                assert (again.raised, again.bucket_changes, again.penalty_fen) == (0, 0, 0)
                assert await snapshot(loan.id) == before
        assert row.penalty_accrued_fen == expected_penalty(unpaid, 35) == 17_676

        # Ten weeks without a run: one run catches up to the same exact figure, and
        # tells the one bucket change (M3) however many days passed.
        today = await advance_to(due + timedelta(days=89))
        report = await overdue.run_daily(today)
        assert report.bucket_changes == 1
        row = await first_installment(loan.id)
        assert row.penalty_accrued_fen == expected_penalty(unpaid, 89)
        assert not (await scoring.profile_for(borrower.id)).frozen
        # 90 days (credit.autoAdjustment.freeze_after_days): the limit freezes, once.
        today = await advance_to(due + timedelta(days=90))
        await overdue.run_daily(today)
        profile = await scoring.profile_for(borrower.id)
        assert profile.frozen
        assert (await scoring.standing(borrower.id)).limit_fen == 0
        today = await advance_to(due + timedelta(days=91))
        report = await overdue.run_daily(today)
        assert report.bucket_changes == 1  # M3_PLUS
        key = overdue.installment_key(row)
        assert await CreditLimitChange.filter(event_key=f"overdue:{key}").count() == 1
        assert await CreditLimitChange.filter(event_key=f"freeze:{key}").count() == 1

        # Paying clears it (simulated: the real payment comes with the repayments code).
        row = await first_installment(loan.id)
        async with in_transaction():
            row.paid_principal_fen, row.paid_interest_fen = row.principal_fen, row.interest_fen
            row.paid_fee_fen, row.penalty_paid_fen = row.fee_fen, row.penalty_accrued_fen
            row.status, row.paid_on, row.paid_late = InstallmentStatus.PAID, today, True
            await row.save()
            assert await overdue.overdue_cleared(row) is True
        assert (await Loan.get(id=loan.id)).status == "REPAYING"
        paid_total = row.principal_fen + row.interest_fen + row.fee_fen + row.penalty_paid_fen
        today = await advance_to(today + timedelta(days=1))
        before = await snapshot(loan.id)
        report = await overdue.run_daily(today)
        assert (report.raised, report.penalty_fen) == (0, 0)
        assert (await snapshot(loan.id))["installments"] == before["installments"]

        staff = await collect(staff_events, OVERDUE_EVENTS_CHANNEL)
        own = await collect(own_events, repayment_events_channel(borrower.id))

    assert [(e["kind"], e["installment"], e["days"], e["bucket"]) for e in staff] == [
        ("RAISED", 1, 1, "M1"),
        ("BUCKET_CHANGED", 1, 31, "M2"),
        ("BUCKET_CHANGED", 1, 89, "M3"),
        ("BUCKET_CHANGED", 1, 91, "M3_PLUS"),
        ("PAID", 1, 91, "M3_PLUS"),
    ]
    assert staff[0]["amount_fen"] == unpaid + row.fee_fen + expected_penalty(unpaid, 1)
    assert staff[-1]["amount_fen"] == paid_total
    assert all(e["loan_id"] == loan.id for e in staff)
    assert [(e["kind"], e["installment"]) for e in own] == [("DUE", 1), ("OVERDUE", 1)]
    assert own[0]["amount_fen"] == unpaid + row.fee_fen
    # Warned once and told it was overdue once, by SMS and in the app.
    assert await sms_to_borrower.filter(body__contains="is due on").count() == 1
    assert await sms_to_borrower.filter(body__contains="is overdue").count() == 1
    assert await Notice.filter(user_id=borrower.id, title="Installment overdue").count() == 1


ADDRESS = "borrower.member@example.com"
DEV_OUTBOX = "{ devOutbox(first: 20) { channel recipientMasked subject status } }"


async def test_a_borrower_with_an_email_address_is_warned_and_told_of_the_overdue_by_email(
    app, client, scripted
):
    made = await repaying_loan(
        scripted, app.state.sandbox.sandbox, shares=(600_037, 400_000), term=1
    )
    borrower = made.borrower
    await approve_email(borrower.id, ADDRESS)
    row = await first_installment(made.loan.id)
    due, owed = row.due_date, overdue.amount_due(row)
    ahead = (await parameters.get(WARN_DAYS)).days
    arrived: dict[int, int] = {}  # days from the due date -> e-mails received that day

    with SmtpServer() as server:
        for offset in range(-ahead - 2, 4):
            today = await advance_to(due + timedelta(days=offset))
            before = len(server.messages)
            await overdue.run_daily(today)
            if offset in (-ahead, 1):
                await overdue.run_daily(today)  # the same day again: nothing more is sent
            await drain_outbox()
            arrived[offset] = len(server.messages) - before
            if offset == 1:
                owed_overdue = overdue.amount_due(await first_installment(made.loan.id))

    # One warning `warnDays` before the due date, one overdue notice the day after.
    assert arrived == {offset: int(offset in (-ahead, 1)) for offset in range(-ahead - 2, 4)}
    warning, late = server.messages
    assert (warning["To"], warning["Subject"]) == (ADDRESS, f"Repayment due on {due}")
    assert (late["To"], late["Subject"]) == (ADDRESS, f"Installment overdue (due {due})")
    for message, amount in ((warning, owed), (late, owed_overdue)):
        body = message.get_content()
        assert format_money(amount) in body, body
        assert due.isoformat() in body, body
    assert owed_overdue > owed  # a day of penalty
    # The SMS and the in-app notice still go, once each.
    sms = OutgoingMessage.filter(
        channel=MessageChannel.SMS, recipient_lookup=lookup_hash(made.borrower_phone)
    )
    assert await sms.filter(body__contains="is due on").count() == 1
    assert await sms.filter(body__contains="is overdue").count() == 1
    assert await Notice.filter(user_id=borrower.id, kind="repayment").count() == 2

    # devOutbox shows them, masked; no table holds the address in clear.
    listed = (await gql(client, DEV_OUTBOX))["data"]["devOutbox"]
    assert [m for m in listed if m["channel"] == "email"] == [
        {
            "channel": "email",
            "recipientMasked": "b***@example.com",
            "subject": subject,
            "status": "sent",
        }
        for subject in (late["Subject"], warning["Subject"])
    ]
    assert ADDRESS not in await dump_all_tables()


async def test_a_borrower_without_an_email_address_gets_sms_and_notice_only(app, scripted):
    made = await repaying_loan(scripted, app.state.sandbox.sandbox, shares=(500_000,), term=1)
    due = (await first_installment(made.loan.id)).due_date
    ahead = (await parameters.get(WARN_DAYS)).days

    with SmtpServer() as server:
        for offset in (-ahead, 1):
            await overdue.run_daily(await advance_to(due + timedelta(days=offset)))
        await drain_outbox()

    assert server.messages == []
    assert not await OutgoingMessage.filter(channel=MessageChannel.EMAIL).exists()
    sms = OutgoingMessage.filter(recipient_lookup=lookup_hash(made.borrower_phone))
    assert await sms.filter(body__contains="is due on", status=MessageStatus.SENT).count() == 1
    assert await sms.filter(body__contains="is overdue", status=MessageStatus.SENT).count() == 1
    titles = await Notice.filter(user_id=made.borrower.id, kind="repayment").values_list(
        "title", flat=True
    )
    assert sorted(titles) == ["Installment due soon", "Installment overdue"]


async def test_the_job_runs_once_a_business_day(app, scripted):
    made = await repaying_loan(scripted, app.state.sandbox.sandbox, shares=(500_000,), term=1)
    row = await first_installment(made.loan.id)
    await advance_to(row.due_date + timedelta(days=2))
    repayments_job._last_day.clear()
    assert (await repayments_job.overdue_daily()).startswith("DailyReport(")
    row = await first_installment(made.loan.id)
    assert row.status == InstallmentStatus.OVERDUE
    assert row.penalty_accrued_fen == expected_penalty(row.principal_fen + row.interest_fen, 2)
    before = await snapshot(made.loan.id)
    assert await repayments_job.overdue_daily() == "done today"
    assert await snapshot(made.loan.id) == before


# --- staff: the overdue list, collectors, collection records -------------------------------

OVERDUE_LOANS = """query ($filter: OverdueLoanFilter, $first: Int, $after: String) {
  overdueLoans(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { loanId status amount daysOverdue bucket overdueAmount penalty
      overdueInstallments borrower { id phone } collector { id } } } } }"""
ASSIGN = """mutation ($loanId: ID!, $collectorId: ID!) {
  assignCollector(input: {loanId: $loanId, collectorId: $collectorId}) { __typename
    ... on CollectorAssigned { loanId collector { id } }
    ... on AssignCollectorError { code field } } }"""
ADD_RECORD = """mutation ($input: AddCollectionRecordInput!) {
  addCollectionRecord(input: $input) { __typename
    ... on CollectionRecordAdded { record { id loanId collectorId kind note promisedAmount
      promisedDate } }
    ... on AddCollectionRecordError { code field message } } }"""
RECORDS = """query ($loanId: ID!) { collectionRecords(loanId: $loanId) {
  kind note promisedAmount promisedDate collectorId } }"""


def _global(user_id: int) -> str:
    from strawberry import relay

    return str(relay.GlobalID("User", str(user_id)))


async def _overdue_by(made: RepayingLoan, days: int, today: date) -> None:
    """Move the first installment's due date so it is `days` overdue today (the test's
    own schedule), then run the day."""
    await LoanInstallment.filter(loan_id=made.loan.id, number=1).update(
        due_date=today - timedelta(days=days)
    )


async def test_overdue_loans_filters_pages_and_permissions(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    small = await repaying_loan(scripted, sandbox, shares=(300_000,), term=3)
    large = await repaying_loan(scripted, sandbox, shares=(1_200_000,), term=3)
    current = await repaying_loan(scripted, sandbox, shares=(200_000,), term=3)
    today = await clock.today()
    await _overdue_by(small, 35, today)
    await _overdue_by(large, 5, today)
    report = await overdue.run_daily(today)
    assert report.raised == 2
    small_row = await first_installment(small.loan.id)
    large_row = await first_installment(large.loan.id)
    small_amount = overdue.amount_due(small_row)
    large_amount = overdue.amount_due(large_row)
    assert small_row.penalty_accrued_fen == expected_penalty(
        small_row.principal_fen + small_row.interest_fen, 35
    )
    assert small_amount < large_amount

    collector, collector_phone = await create_staff("collector")
    token = await token_for(collector_phone)

    async def listed(variables: dict[str, Any]) -> dict[str, Any]:
        body = await gql(client, OVERDUE_LOANS, variables, token=token)
        assert "errors" not in body, body
        return dict(body["data"]["overdueLoans"])

    everything = await listed({})
    assert everything["totalCount"] == 2
    nodes = [edge["node"] for edge in everything["edges"]]
    assert [n["loanId"] for n in nodes] == [str(small.loan.id), str(large.loan.id)]
    assert nodes[0] == {
        "loanId": str(small.loan.id),
        "status": "OVERDUE",
        "amount": "3000.00",
        "daysOverdue": 35,
        "bucket": "M2",
        "overdueAmount": f"{Decimal(small_amount) / 100:.2f}",
        "penalty": f"{Decimal(small_row.penalty_accrued_fen) / 100:.2f}",
        "overdueInstallments": 1,
        "borrower": {"id": _global(small.borrower.id), "phone": small.borrower.phone_masked},
        "collector": None,
    }
    assert "*" in nodes[0]["borrower"]["phone"]
    assert (nodes[1]["daysOverdue"], nodes[1]["bucket"]) == (5, "M1")
    assert str(current.loan.id) not in {n["loanId"] for n in nodes}

    async def ids(flt: dict[str, Any]) -> list[str]:
        page = await listed({"filter": flt})
        return [edge["node"]["loanId"] for edge in page["edges"]]

    assert await ids({"bucket": "M2"}) == [str(small.loan.id)]
    assert await ids({"bucket": "M3"}) == []
    above_small = f"{Decimal(small_amount + 1) / 100:.2f}"
    assert await ids({"minAmount": above_small}) == [str(large.loan.id)]
    assert await ids({"maxAmount": f"{Decimal(small_amount) / 100:.2f}"}) == [str(small.loan.id)]
    first_page = await listed({"first": 1})
    assert first_page["pageInfo"]["hasNextPage"] is True
    second = await listed({"first": 1, "after": first_page["pageInfo"]["endCursor"]})
    assert [e["node"]["loanId"] for e in second["edges"]] == [str(large.loan.id)]
    assert second["pageInfo"]["hasNextPage"] is False

    # A collector is assigned; the list filters by them.
    assigned = await gql(
        client,
        ASSIGN,
        {"loanId": str(large.loan.id), "collectorId": _global(collector.id)},
        token=token,
    )
    assert assigned["data"]["assignCollector"] == {
        "__typename": "CollectorAssigned",
        "loanId": str(large.loan.id),
        "collector": {"id": _global(collector.id)},
    }
    assert await ids({"collectorId": _global(collector.id)}) == [str(large.loan.id)]
    cs_staff, cs_phone = await create_staff("cs")
    for loan_id, who, code in (
        (large.loan.id, cs_staff.id, "NOT_A_COLLECTOR"),  # cs may read, not collect
        (large.loan.id, small.borrower.id, "NOT_A_COLLECTOR"),
        (current.loan.id, collector.id, "NOT_OVERDUE"),
        (999_999, collector.id, "NOT_FOUND"),
    ):
        refused = await gql(
            client, ASSIGN, {"loanId": str(loan_id), "collectorId": _global(who)}, token=token
        )
        assert refused["data"]["assignCollector"]["code"] == code
    assert (await Loan.get(id=current.loan.id)).collector_id is None

    # Who may see it: collection:read staff yes, members and finance no.
    cs_token = await token_for(cs_phone)
    assert "errors" not in await gql(client, OVERDUE_LOANS, {}, token=cs_token)
    _member, member_phone = await create_member()
    refused = await gql(client, OVERDUE_LOANS, {}, token=await token_for(member_phone))
    assert error_codes(refused) == ["FORBIDDEN"]
    _finance, finance_phone = await create_staff("finance")
    refused = await gql(client, OVERDUE_LOANS, {}, token=await token_for(finance_phone))
    assert error_codes(refused) == ["FORBIDDEN"]
    bad = await gql(client, OVERDUE_LOANS, {"filter": {"collectorId": "nonsense"}}, token=token)
    assert error_codes(bad) == ["BAD_USER_INPUT"]


async def test_collection_records_and_their_typed_errors(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    late = await repaying_loan(scripted, sandbox, shares=(300_000,), term=3)
    current = await repaying_loan(scripted, sandbox, shares=(200_000,), term=3)
    today = await clock.today()
    await _overdue_by(late, 3, today)
    await overdue.run_daily(today)
    collector, phone = await create_staff("collector")
    token = await token_for(phone)
    loan_id = str(late.loan.id)
    tomorrow = (today + timedelta(days=1)).isoformat()

    async def add(**fields: Any) -> dict[str, Any]:
        body = await gql(client, ADD_RECORD, {"input": {"loanId": loan_id, **fields}}, token=token)
        assert "errors" not in body, body
        return dict(body["data"]["addCollectionRecord"])

    refusals = [
        ({"loanId": "999999", "kind": "CALL", "note": "x"}, "NOT_FOUND", "loanId"),
        ({"loanId": str(current.loan.id), "kind": "CALL", "note": "x"}, "NOT_OVERDUE", "loanId"),
        ({"kind": "CALL", "note": "  "}, "INVALID", "note"),
        ({"kind": "CALL", "note": "n" * 1001}, "INVALID", "note"),
        ({"kind": "VISIT", "note": "went", "promisedAmount": "10.00"}, "INVALID", "promisedAmount"),
        ({"kind": "MESSAGE", "note": "sent", "promisedDate": tomorrow}, "INVALID", "promisedDate"),
        ({"kind": "PROMISE", "promisedDate": tomorrow}, "INVALID", "promisedAmount"),
        (
            {"kind": "PROMISE", "promisedAmount": "0.00", "promisedDate": tomorrow},
            "INVALID",
            "promisedAmount",
        ),
        ({"kind": "PROMISE", "promisedAmount": "500.00"}, "INVALID", "promisedDate"),
        (
            {"kind": "PROMISE", "promisedAmount": "500.00", "promisedDate": today.isoformat()},
            "INVALID",
            "promisedDate",
        ),
    ]
    for fields, code, field in refusals:
        result = await add(**fields)
        assert (result["__typename"], result["code"], result["field"]) == (
            "AddCollectionRecordError",
            code,
            field,
        ), fields
    assert await CollectionRecord.all().count() == 0

    called = await add(kind="CALL", note="Borrower answered, asked for a week")
    assert called["__typename"] == "CollectionRecordAdded"
    promised = await add(kind="PROMISE", note="", promisedAmount="1200.50", promisedDate=tomorrow)
    assert promised["record"] == {
        "id": promised["record"]["id"],
        "loanId": loan_id,
        "collectorId": _global(collector.id),
        "kind": "PROMISE",
        "note": "",
        "promisedAmount": "1200.50",
        "promisedDate": tomorrow,
    }
    listed = await gql(client, RECORDS, {"loanId": loan_id}, token=token)
    assert [r["kind"] for r in listed["data"]["collectionRecords"]] == ["PROMISE", "CALL"]
    assert (await gql(client, RECORDS, {"loanId": "x"}, token=token))["data"] == {
        "collectionRecords": []
    }

    # Members may do neither; auditors read but do not write.
    _member, member_phone = await create_member()
    member_token = await token_for(member_phone)
    refused = await gql(
        client,
        ADD_RECORD,
        {"input": {"loanId": loan_id, "kind": "CALL", "note": "x"}},
        token=member_token,
    )
    assert error_codes(refused) == ["FORBIDDEN"]
    assert error_codes(await gql(client, RECORDS, {"loanId": loan_id}, token=member_token)) == [
        "FORBIDDEN"
    ]
    _auditor, auditor_phone = await create_staff("auditor")
    auditor_token = await token_for(auditor_phone)
    assert (
        len(
            (await gql(client, RECORDS, {"loanId": loan_id}, token=auditor_token))["data"][
                "collectionRecords"
            ]
        )
        == 2
    )
    refused = await gql(
        client,
        ADD_RECORD,
        {"input": {"loanId": loan_id, "kind": "CALL", "note": "x"}},
        token=auditor_token,
    )
    assert error_codes(refused) == ["FORBIDDEN"]
    assert await CollectionRecord.all().count() == 2


# --- risk-reserve advance (R5: off by default) ---------------------------------------------


async def test_the_reserve_advance_is_off_by_default_and_pays_holders_when_on(app, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(600_001, 399_999), term=3)
    lender_ids = [user.id for user, _phone in made.lenders]
    row = await first_installment(made.loan.id)
    unpaid_p, unpaid_i = row.principal_fen, row.interest_fen
    balances = {uid: (await ledger.member_balances(uid))["available"] for uid in lender_ids}
    await fund_risk_reserve(sandbox, 5_000_000)
    reserve_before = await ledger.balance(ledger.RISK_RESERVE)
    assert reserve_before == 5_000_000

    # Off (the default): 45 days overdue, nothing moves.
    await advance_to(row.due_date + timedelta(days=45))
    report = await overdue.run_daily(await clock.today())
    assert report.advanced == 0
    assert await ReserveAdvance.all().count() == 0
    assert await ledger.balance(ledger.RISK_RESERVE) == reserve_before

    await parameters.set_value(
        PARAMS_ADMIN,
        "repayments.reserveAdvance",
        {"enabled": True, "after_days": 30},
        "test: advance",
    )
    # On: installment 1 is 46 days overdue (advanced); installment 2, just overdue, is not.
    today = await advance_to(row.due_date + timedelta(days=46))
    report = await overdue.run_daily(today)
    assert report.advanced == 2
    advances = await ReserveAdvance.all().order_by("claim_id")
    assert [(a.holder_id, a.principal_fen, a.interest_fen) for a in advances] == [
        (
            lender_ids[0],
            (unpaid_p * 600_001 + 500_000) // 1_000_000,
            (unpaid_i * 600_001 + 500_000) // 1_000_000,
        ),
        (
            lender_ids[1],
            unpaid_p - (unpaid_p * 600_001 + 500_000) // 1_000_000,
            unpaid_i - (unpaid_i * 600_001 + 500_000) // 1_000_000,
        ),
    ]
    assert sum(a.principal_fen for a in advances) == unpaid_p
    assert sum(a.interest_fen for a in advances) == unpaid_i
    assert {a.installment_id for a in advances} == {row.id}
    await settle_everything(sandbox)
    assert await ledger.balance(ledger.RISK_RESERVE) == reserve_before - unpaid_p - unpaid_i
    for advance in advances:
        after = (await ledger.member_balances(advance.holder_id))["available"]
        assert after == balances[advance.holder_id] + advance.principal_fen + advance.interest_fen
    # Once per installment.
    assert (await overdue.run_daily(today)).advanced == 0
    today = await advance_to(today + timedelta(days=1))
    assert (await overdue.run_daily(today)).advanced == 0
    from services.repayments import reserve

    assert await reserve.advanced_parts(row.id) == {
        a.claim_id: (a.principal_fen, a.interest_fen) for a in advances
    }
    await assert_ledger_matches_provider(sandbox, lender_ids)


async def test_a_short_reserve_advances_nothing(app, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(300_000, 200_000), term=3)
    row = await first_installment(made.loan.id)
    await fund_risk_reserve(sandbox, 100_000)  # less than the installment
    await parameters.set_value(
        PARAMS_ADMIN,
        "repayments.reserveAdvance",
        {"enabled": True, "after_days": 1},
        "test: advance",
    )
    await advance_to(row.due_date + timedelta(days=2))
    assert (await overdue.run_daily(await clock.today())).advanced == 0
    assert await ReserveAdvance.all().count() == 0
    assert await ledger.balance(ledger.RISK_RESERVE) == 100_000


# --- the overdueEvents subscription ------------------------------------------------------


async def test_overdue_events_reach_staff_over_websocket_and_not_members(app, scripted):
    from tests.api.test_subscriptions import (
        _open,
        _receive,
        _send,
        _server,
        _wait_for_channel,
    )

    made = await repaying_loan(scripted, app.state.sandbox.sandbox, shares=(300_000,), term=3)
    _staff, staff_phone = await create_staff("risk_l1")
    _member, member_phone = await create_member()
    query = "subscription { overdueEvents { kind loanId installment days bucket amount } }"
    async with _server() as url:
        member_ws = await _open(url, "graphql-transport-ws", await token_for(member_phone))
        async with member_ws:
            await _send(member_ws, {"id": "1", "type": "subscribe", "payload": {"query": query}})
            message = await _receive(member_ws)
            assert message["type"] == "error"
            assert [e["extensions"]["code"] for e in message["payload"]] == ["FORBIDDEN"]
        ws = await _open(url, "graphql-transport-ws", await token_for(staff_phone))
        async with ws:
            await _send(ws, {"id": "1", "type": "subscribe", "payload": {"query": query}})
            await _wait_for_channel(OVERDUE_EVENTS_CHANNEL, 1)
            row = await first_installment(made.loan.id)
            await advance_to(row.due_date + timedelta(days=1))
            await overdue.run_daily(await clock.today())
            message = await _receive(ws)
            event = message["payload"]["data"]["overdueEvents"]
            amount = overdue.amount_due(await first_installment(made.loan.id))
            assert event == {
                "kind": "RAISED",
                "loanId": str(made.loan.id),
                "installment": 1,
                "days": 1,
                "bucket": "M1",
                "amount": f"{Decimal(amount) / 100:.2f}",
            }


async def test_paying_an_overdue_installment_through_repay_pays_its_penalty_and_clears_it(
    app, scripted
):
    """The real repayment path (services/repayments/service): penalty accrued through the
    payment day is paid with the installment, the staff PAID event goes out once, and the
    loan is cured."""
    from services.operations import confirmation
    from services.repayments import service
    from services.repayments.due import RepayMode
    from tests.lending import code_for, member_actor

    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox)
    loan, borrower = made.loan, made.borrower
    row = await first_installment(loan.id)
    today = await advance_to(row.due_date + timedelta(days=10))
    await overdue.run_daily(today)
    row = await first_installment(loan.id)
    assert (row.status, (await Loan.get(id=loan.id)).status) == ("OVERDUE", "OVERDUE")
    unpaid = row.principal_fen + row.interest_fen
    penalty = expected_penalty(unpaid, 10)
    assert row.penalty_accrued_fen == penalty
    due = row.principal_fen + row.interest_fen + row.fee_fen + penalty
    # The disbursed money is still in the borrower's account: enough to pay.
    balance = (await ledger.member_balances(borrower.id))["available"]
    assert balance >= due, (balance, due)

    async with get_broker().subscribe(OVERDUE_EVENTS_CHANNEL) as staff:
        asked = await service.repay(
            actor=member_actor(borrower.id),
            loan_id=loan.id,
            mode=RepayMode.NEXT,
            idempotency_key="repay-overdue-1",
        )
        assert asked.amount_fen == due
        await confirmation.confirm_operation(
            actor=member_actor(borrower.id),
            operation_id=str(asked.operation_id),
            code=await code_for(made.borrower_phone),
        )
        await outbox.dispatch_once()
        paid_events = []
        async with asyncio.timeout(5):
            async for message in staff:
                paid_events.append(message)
                if message["kind"] == "PAID":
                    break
    row = await first_installment(loan.id)
    assert row.status == "PAID"
    assert row.paid_late is True
    assert row.penalty_paid_fen == penalty == row.penalty_accrued_fen
    assert (await Loan.get(id=loan.id)).status == "REPAYING"
    assert [m["kind"] for m in paid_events][-1] == "PAID"
    assert (await ledger.check()).ok
