"""Issue 17 (D2, R6): the retention purge on a repaid loan, to the row.

A loan of 10,000.00 (borrower and two lenders) is repaid in full on day E; another
member's loan is still listed. The parties' notices, SMS and e-mail, the loan's
collection record, their operation-log entries, credit materials and the personal data
in their provider instructions pass their period (5 years) after E; the loan contract
is kept to its `retain_until` (5 years after its maturity, later). One day before each
period's end nothing goes; one day after exactly those rows go (ids per table), the
rest is intact (ledger balanced, operation log still verifying); a second run removes
nothing; a period below the legal minimum stops the purge with nothing removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from tortoise.models import Model

from models.bids import Bid, Claim
from models.cases import CaseAttachment, CaseKind, CaseMessage, ServiceCase
from models.contracts import Contract, ContractConsent, ContractEmail, ContractParty
from models.credit import (
    CreditProfile,
    MaterialFile,
    ReviewDecision,
    VerificationReview,
    VerificationSubmission,
)
from models.external import ExternalCheck
from models.ledger import Journal, LedgerAccount, Posting
from models.loans import Loan, LoanStatus
from models.members import User
from models.messaging import Notice, OutgoingMessage
from models.payments import BankCard, PaymentInstruction, ProviderAccount
from models.repayments import CollectionKind, CollectionRecord, LoanInstallment, Receipt, Repayment
from models.system import OperationLogEntry, PlatformParameter
from services.cases import cases
from services.credit import review
from services.errors import InvalidInputError
from services.identity.permissions import Actor
from services.jobs import retention
from services.jobs.retention_rows import PERSONAL_PARAMS, PURGED
from services.kit.access_log import AccessLogStore, file_name
from services.kit.security import lookup_hash
from services.kit.settings import get_settings
from services.kit.storage import get_storage
from services.money import ledger
from services.platform import clock, mailer, notifier, oplog, parameters
from services.platform.retention import RetentionPolicyError, add_months
from services.repayments.due import RepayMode
from simulation.people import member_actor
from tests.cases.helpers import PNG
from tests.credit.verification_helpers import bank_statement
from tests.factories import approve_email, create_staff
from tests.lending import (
    deposit_by_card,
    listed_loan,
    move_clock_to,
    repay_confirmed,
    repaying_loan,
    verified_borrower,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

TABLES: dict[str, type[Model]] = {
    "contracts": Contract,
    "contract_parties": ContractParty,
    "contract_consents": ContractConsent,
    "contract_emails": ContractEmail,
    "notices": Notice,
    "outgoing_messages": OutgoingMessage,
    "collection_records": CollectionRecord,
    "operation_log": OperationLogEntry,
    "verification_submissions": VerificationSubmission,
    "material_files": MaterialFile,
    "verification_reviews": VerificationReview,
    "external_checks": ExternalCheck,
    "payment_instructions": PaymentInstruction,
    "ledger_journals": Journal,
    "ledger_postings": Posting,
    "ledger_accounts": LedgerAccount,
    "loans": Loan,
    "bids": Bid,
    "claims": Claim,
    "loan_installments": LoanInstallment,
    "repayments": Repayment,
    "receipts": Receipt,
    "users": User,
    "provider_accounts": ProviderAccount,
    "bank_cards": BankCard,
    "credit_profiles": CreditProfile,
    "service_cases": ServiceCase,
    "service_case_messages": CaseMessage,
    "service_case_attachments": CaseAttachment,
}
ADDRESS = "borrower@example.com"


async def _snapshot() -> dict[str, set[int]]:
    return {
        name: {int(i) for i in await model.all().values_list("id", flat=True)}
        for name, model in TABLES.items()
    }


async def _params() -> dict[int, dict[str, Any]]:
    return dict(await PaymentInstruction.all().values_list("id", "params"))


def _day_after(day: date, years: int) -> date:
    return day.replace(year=day.year + years)  # no 29 February in these runs' years


@pytest.fixture
def access_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The purge's access-log folder: this test's own, empty."""
    folder = tmp_path / "access-log"
    settings = get_settings().model_copy(update={"access_log_dir": str(folder)})
    monkeypatch.setattr(retention, "get_settings", lambda: settings)
    return folder


async def _log(user_id: int, operation: str) -> None:
    await oplog.append(
        actor=member_actor(user_id),
        operation=operation,
        arguments={"loanId": "1"},
        client_ip="10.0.0.1",
        user_agent="test",
        result="OK",
        trace_id="t" * 32,
    )


class _Mailer:
    async def send(self, message: EmailMessage) -> None:
        pass


@pytest.fixture
def no_smtp() -> Iterator[None]:
    mailer.set_mailer(_Mailer())
    yield
    mailer.set_mailer(None)


@pytest.mark.usefixtures("no_smtp")
async def test_purge_removes_exactly_what_passed_each_period(app, scripted, access_dir, caplog):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(600_000, 400_000))
    borrower, lenders = made.borrower, [user for user, _phone in made.lenders]
    parties = {borrower.id, *(user.id for user in lenders)}
    # A second borrower's loan is still listed: everything of theirs stays.
    other, _phone = await verified_borrower(scripted)
    await listed_loan(other.id, 500_000)
    await approve_email(borrower.id, ADDRESS)
    assert await notifier.send_email(user_id=borrower.id, subject="Statement", text="Hello")
    # Materials with files, one reviewed: a lender's and the other borrower's.
    credit_officer, _phone = await create_staff("credit")
    for member in (lenders[0], other):
        statement = await bank_statement(member.id, "8000.00", approved=False)
        await review.review(
            Actor(user_id=credit_officer.id, kind="staff"),
            statement.id,
            ReviewDecision.REJECT,
            "unreadable",
        )
    # Service cases (issue 22): the borrower's, with a file (goes from storage too), and
    # the other borrower's (kept).
    mine = await cases.open_case(
        actor=member_actor(borrower.id),
        kind=CaseKind.COMPLAINT,
        subject="Statement missing",
        text="Please send my statement",
        files=[("screen.png", "image/png", PNG)],
    )
    await cases.open_case(
        actor=member_actor(other.id), kind=CaseKind.ENQUIRY, subject="Hello", text="A question"
    )
    collector, _phone = await create_staff("collector")
    record = await CollectionRecord.create(
        loan_id=made.loan.id,
        collector_id=collector.id,
        kind=CollectionKind.CALL,
        note="reminded",
        created_at=await clock.now(),
    )
    # The operation log: two entries of the repaid loan's parties, then the other
    # borrower's (kept), then the borrower again (kept: after a kept entry).
    await _log(borrower.id, "repay")
    await _log(lenders[0].id, "placeBid")
    await _log(other.id, "publishLoan")
    await _log(borrower.id, "me")
    await oplog.seal_all()
    chain = await OperationLogEntry.all().order_by("seq").values_list("id", flat=True)

    await deposit_by_card(borrower.id, 1_200_000)
    await repay_confirmed(borrower.id, made.borrower_phone, made.loan.id, RepayMode.EARLY_FULL)
    ended = await clock.today()
    assert (await Loan.get(id=made.loan.id)).status == LoanStatus.SETTLED
    contract = await Contract.get(loan_id=made.loan.id)
    assert contract.retain_until is not None
    period_end = _day_after(ended, 5)  # the last day the parties' records are kept
    assert contract.retain_until > period_end  # 5 years after the maturity, later than E

    before = await _snapshot()
    params_before = await _params()
    phones = set(await User.filter(id__in=parties).values_list("phone_lookup", flat=True))
    submissions = {
        int(i)
        for i in await VerificationSubmission.filter(user_id__in=parties).values_list(
            "id", flat=True
        )
    }
    refs = [f"account:{a.id}" for a in await ProviderAccount.filter(user_id__in=parties)] + [
        f"card:{c.id}" for c in await BankCard.filter(user_id__in=parties)
    ]
    expected = {
        "notices": {n.id for n in await Notice.filter(user_id__in=parties)},
        "outgoing_messages": {
            m.id
            for m in await OutgoingMessage.filter(
                recipient_lookup__in=[*phones, lookup_hash(ADDRESS)]
            )
        },
        "collection_records": {record.id},
        "service_cases": {mine.id},
        "service_case_messages": {m.id for m in await CaseMessage.filter(case_id=mine.id)},
        "service_case_attachments": {a.id for a in await CaseAttachment.filter(case_id=mine.id)},
        "operation_log": set(chain[:2]),
        "verification_submissions": submissions,
        "material_files": {
            f.id for f in await MaterialFile.filter(submission_id__in=list(submissions))
        },
        "verification_reviews": {
            r.id for r in await VerificationReview.filter(submission_id__in=list(submissions))
        },
        "external_checks": {c.id for c in await ExternalCheck.filter(user_id__in=parties)},
    }
    blanked = {
        i.id
        for i in await PaymentInstruction.filter(business_ref__in=refs)
        if any(name in i.params for name in PERSONAL_PARAMS)
    }
    # Every kind has something to lose, and the other borrower has rows of each kind.
    assert all(expected.values()), expected
    # The real name each party's custody account was opened with (a card's number is
    # already redacted from its instruction once bound).
    assert len(blanked) == 3
    assert await Notice.filter(user_id=other.id).exists()
    assert await VerificationSubmission.filter(user_id=other.id).exists()
    stored_files = [
        get_storage().path_for(key)  # type: ignore[attr-defined]
        for key in await MaterialFile.filter(submission_id__in=list(submissions)).values_list(
            "storage_key", flat=True
        )
    ]
    stored_files += [
        get_storage().path_for(key)  # type: ignore[attr-defined]
        for key in await CaseAttachment.filter(case_id=mine.id).values_list(
            "storage_key", flat=True
        )
    ]
    assert stored_files
    assert all(path.exists() for path in stored_files)

    # One day before the parties' period ends: nothing.
    await move_clock_to(period_end - timedelta(days=1))
    report = await retention.purge()
    assert report.empty
    assert (report.removed, report.files) == ({}, [])
    assert await _snapshot() == before
    assert await _params() == params_before

    # One day after, but with a period below the legal minimum stored: refused, nothing.
    await move_clock_to(period_end + timedelta(days=1))
    with pytest.raises(InvalidInputError):  # the parameter itself refuses it
        await parameters.set_value(
            Actor(user_id=collector.id, kind="staff"),
            "retention.interaction_logs",
            {"years": 4},
            "shorter retention",
        )
    assert not await PlatformParameter.exists(name="retention.interaction_logs")
    await PlatformParameter.create(  # as an older release or a hand edit could leave it
        name="retention.interaction_logs", value={"years": 4}, updated_at=await clock.now()
    )
    caplog.clear()
    with pytest.raises(RetentionPolicyError) as refused:
        await retention.purge()
    assert [r.levelname for r in caplog.records if r.name == retention.__name__] == ["ERROR"]
    assert "retention.interaction_logs" in caplog.records[-1].getMessage()
    assert refused.value.code == "RETENTION_BELOW_MINIMUM"
    assert refused.value.details["problems"][0]["parameter"] == "retention.interaction_logs"
    assert await _snapshot() == before
    assert await _params() == params_before
    await PlatformParameter.filter(name="retention.interaction_logs").delete()

    # One day after: exactly the parties' interaction logs and credit materials, and the
    # personal values of their instructions; contracts, money and the rest stay.
    caplog.clear()
    report = await retention.purge()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == retention.__name__)
    for table, ids in expected.items():  # the count and the ids, never the content
        assert f"{len(ids)} {table} removed (ids {sorted(ids)})" in logged
    assert ADDRESS not in logged
    assert {table: set(ids) for table, ids in report.tables().items()} == {
        **expected,
        "payment_instructions": blanked,
    }
    assert report.counts() == {
        "interaction_logs": {
            table: len(expected[table])
            for table in (
                "notices",
                "outgoing_messages",
                "collection_records",
                "service_case_attachments",
                "service_case_messages",
                "service_cases",
                "operation_log",
            )
        },
        "credit_materials": {
            table: len(expected[table])
            for table in (
                "verification_submissions",
                "material_files",
                "verification_reviews",
                "external_checks",
            )
        },
        "transactions": {"payment_instructions": len(blanked)},
    }
    after = await _snapshot()
    assert after == {table: ids - expected.get(table, set()) for table, ids in before.items()}
    params_after = await _params()
    for instruction_id, params in params_before.items():
        if instruction_id in blanked:
            assert params_after[instruction_id] == {
                name: PURGED if name in PERSONAL_PARAMS else value for name, value in params.items()
            }
        else:
            assert params_after[instruction_id] == params
    assert not any(path.exists() for path in stored_files)
    assert (await ledger.check()).ok
    verified = await oplog.verify()
    assert (verified.valid, verified.checked) == (True, 2), verified

    # Run again: nothing more.
    assert (await retention.purge()).empty
    assert await _snapshot() == after

    # The contract: kept to its retain_until, gone the day after, with its document.
    document = get_storage().path_for(contract.storage_key)  # type: ignore[attr-defined]
    assert document.exists()
    assert before["contracts"] == {contract.id}
    contract_rows = {
        "contracts": {contract.id},
        "contract_parties": {p.id for p in await ContractParty.filter(contract_id=contract.id)},
        "contract_consents": {c.id for c in await ContractConsent.filter(contract_id=contract.id)},
    }
    assert len(contract_rows["contract_parties"]) == 3  # the borrower and both lenders
    assert len(contract_rows["contract_consents"]) == 3
    await move_clock_to(contract.retain_until - timedelta(days=1))
    assert (await retention.purge()).empty
    await move_clock_to(contract.retain_until + timedelta(days=1))
    report = await retention.purge()
    assert {table: set(ids) for table, ids in report.tables().items()} == contract_rows
    assert await _snapshot() == {
        table: ids - contract_rows.get(table, set()) for table, ids in after.items()
    }
    assert not document.exists()
    assert (await retention.purge()).empty
    assert (await ledger.check()).ok
    assert await Loan.filter(id=made.loan.id).exists()  # the loan and its amounts stay


async def test_access_logs_go_the_day_after_six_months(access_dir):
    today = await clock.today()
    store = AccessLogStore(access_dir)
    for day in (today - timedelta(days=1), today):
        at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        store.write({"method": "GET", "path": "/healthz"}, at=at)
    older, newer = file_name(today - timedelta(days=1)), file_name(today)
    last_day = add_months(today - timedelta(days=1), 6)  # the older file's period's end

    await move_clock_to(last_day)
    assert (await retention.purge()).files == []
    # A period below 6 months: refused, nothing removed.
    await PlatformParameter.create(
        name="retention.access_logs", value={"months": 5}, updated_at=await clock.now()
    )
    await move_clock_to(last_day + timedelta(days=1))
    with pytest.raises(RetentionPolicyError):
        await retention.purge()
    assert sorted(path.name for path in access_dir.iterdir()) == [older, newer]
    await PlatformParameter.filter(name="retention.access_logs").delete()

    report = await retention.purge()
    assert report.files == [older]
    assert report.counts() == {"access_logs": {"files": 1}}
    assert sorted(path.name for path in access_dir.iterdir()) == [newer]
    assert (await retention.purge()).files == []
    await move_clock_to(last_day + timedelta(days=2))
    assert (await retention.purge()).files == [newer]


async def test_months_are_calendar_months():
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert add_months(date(2028, 2, 29), 60) == date(2033, 2, 28)
    assert add_months(date(2026, 12, 3), 60) == date(2031, 12, 3)
