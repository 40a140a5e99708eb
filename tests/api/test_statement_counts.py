"""Every list read takes a constant number of SQL statements (issue 15).

The test walks the schema the API serves: every root field that returns a list or a
`...Connection` must have an entry in `CASES` (a new list field without one fails
`test_every_list_field_has_a_case`), and every list of objects reachable from a root
field (a loan's reviews, a fund transaction's postings, ...) must be selected by at
least one case's query. Each case seeds its rows (1, then 50), asks its field as the
role that may read it with every nested field selected (to `MAX_DEPTH`), `first: 1`
then `first: 50` for a page, and the number of statements the request sent must be the
same at both sizes. The rows are written straight to the tables: the services that
make them have their own tests, and this one counts reads.

`STATEMENT_COUNTS_REPORT=<file>` appends one line per case (field, statements at 1 and
at 50) to that file: how `docs/statement-counts-before.md` was made.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
)
from strawberry import relay

from models.access import Role
from models.bids import Bid, BidSource, BidStatus, Claim
from models.cases import CaseAttachment, CaseKind, CaseMessage, EntryKind, ServiceCase
from models.collateral import CollateralDocument, CollateralItem, CollateralValuation
from models.contracts import (
    ConsentMethod,
    Contract,
    ContractConsent,
    ContractEmail,
    ContractKind,
    ContractParty,
    ContractStatus,
    ContractTemplate,
    PartyRole,
)
from models.credit import (
    CreditChangeKind,
    CreditLimitChange,
    CreditProfile,
    MaterialFile,
    ReviewDecision,
    VerificationReview,
    VerificationStatus,
    VerificationSubmission,
)
from models.customers import AccountStatusChange
from models.disclosures import MonthlyDisclosure
from models.finance import Adjustment, AdjustmentStatus, BreakKind, ReconciliationBreak
from models.guarantees import (
    Coverage,
    GuaranteeCompany,
    GuaranteeCompensation,
    GuaranteePolicy,
    PolicyStatus,
)
from models.help import ArticleStatus, HelpArticle, HelpArticleVersion, HelpCategory
from models.loans import Loan, LoanReview, LoanReviewDecision, LoanStatus
from models.members import User
from models.messaging import MessageChannel, Notice, OutgoingMessage
from models.partners import PartnerUsage
from models.payments import BankCard
from models.repayments import (
    CollectionKind,
    CollectionRecord,
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from models.system import ParameterChange
from models.transfers import ClaimTransfer, TransferListing, TransferStatus
from schema.build import build_schema
from schema.documents import manifest
from services.analytics import disclosure
from services.contracts.signatures import signed_payload
from services.credit.catalogue import KINDS
from services.identity.permissions import ANONYMOUS
from services.kit import signing
from services.kit.security import lookup_hash
from services.kit.settings import get_settings
from services.money import ledger
from services.partners import keys as partner_keys
from services.platform import clock, oplog
from tests.analytics.disclosure_helpers import published_month
from tests.factories import create_member, create_staff, gql, new_phone, token_for
from tests.statements import Statement, recording_statements

pytestmark = pytest.mark.asyncio(loop_scope="session")

SIZES = (1, 50)
MAX_DEPTH = 5  # object levels selected below the root field
STAFF_ROLES = ("admin", "finance", "credit", "risk_l1", "collector")
_serial = itertools.count(1)


# --- the world a case seeds into -----------------------------------------------------------


@dataclass
class World:
    member: User
    member_token: str
    other: User  # a second member: the borrower of the member's bids and claims
    staff: User
    staff_token: str
    partner_id: int  # a partner's system: runs published documents by id with its key
    partner_key: str
    made: dict[str, Any] = field(default_factory=dict)  # what a case keeps between sizes


async def _now() -> datetime:
    return await clock.now()


async def _loan(
    borrower_id: int,
    status: LoanStatus = LoanStatus.LISTED,
    *,
    next_review_level: int | None = None,
    reviews: int = 2,
) -> Loan:
    now = await _now()
    listed = status not in (LoanStatus.PENDING_REVIEW, LoanStatus.IN_REVIEW)
    loan = await Loan.create(
        borrower_id=borrower_id,
        amount_fen=1_000_000,
        annual_rate=Decimal("0.12"),
        term_months=12,
        method="EQUAL_INSTALLMENT",
        day_count="MONTHLY_30_360",
        purpose="Working capital",
        bid_window_days=10,
        bidding_opens_at=now if listed else None,
        bidding_closes_at=now + timedelta(days=14) if listed else None,
        min_bid_fen=5_000,
        max_bid_fen=1_000_000,
        status=status,
        funded_fen=0,
        required_levels=[1, 2],
        next_review_level=next_review_level,
        auto_review=[{"rule": "grade", "passed": True, "detail": "C"}] * 2,
        all_in_cost=Decimal("0.15"),
        fee_terms={"monthly_service_fee_rate": "0.003"},
        created_at=now,
        listed_at=now if listed else None,
        closed_at=now if status in (LoanStatus.REPAYING, LoanStatus.OVERDUE) else None,
    )
    for level in range(1, reviews + 1):
        await LoanReview.create(
            loan_id=loan.id,
            level=level,
            reviewer_id=1,
            decision=LoanReviewDecision.APPROVE,
            reason="",
            created_at=now,
        )
    return loan


async def _installments(loan: Loan, count: int, *, overdue: int = 0) -> None:
    today = await clock.today()
    for number in range(1, count + 1):
        late = number <= overdue
        await LoanInstallment.create(
            loan_id=loan.id,
            number=number,
            due_date=today - timedelta(days=40 - number)
            if late
            else today + timedelta(30 * number),
            principal_fen=80_000,
            interest_fen=10_000,
            fee_fen=3_000,
            status=InstallmentStatus.OVERDUE if late else InstallmentStatus.PENDING,
            penalty_accrued_fen=500 if late else 0,
            overdue_since=today - timedelta(days=39 - number) if late else None,
        )


# --- seeds: each adds `count` rows to what the case reads and returns its arguments --------

Seed = Callable[[World, int], Awaitable[dict[str, Any]]]


async def _no_rows(world: World, count: int) -> dict[str, Any]:
    return {}


async def seed_roles(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await Role.create(name=f"extra_{next(_serial)}", description="seeded", is_staff=True)
    return {}


async def seed_cards(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        number = f"62220202001{next(_serial):08d}"
        await BankCard.create(
            user_id=world.member.id,
            card_cipher="x",
            card_lookup=hashlib.sha256(number.encode()).hexdigest(),
            card_masked=f"6222 **** {number[-4:]}",
            bank_name="Bank",
            status="bound",
        )
    return {}


async def seed_journals(world: World, count: int) -> dict[str, Any]:
    await ledger.ensure_member_accounts(world.member.id)
    for _ in range(count):
        await ledger.post(
            key=f"seed-{next(_serial)}",
            kind="deposit",
            entries=[(ledger.BANK, -100), (ledger.available(world.member.id), 100)],
            memo="seeded",
        )
    return {}


async def seed_breaks(world: World, count: int) -> dict[str, Any]:
    today = await clock.today()
    for _ in range(count):
        await ReconciliationBreak.create(
            key=f"break-{next(_serial)}", day=today, kind=BreakKind.AMOUNT_MISMATCH
        )
    return {}


async def seed_adjustments(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        found = await ReconciliationBreak.create(
            key=f"break-{next(_serial)}", day=await clock.today(), kind=BreakKind.AMOUNT_MISMATCH
        )
        await Adjustment.create(
            reconciliation_break_id=found.id,
            reason="seeded",
            entries=[
                {"account": ledger.FEE, "amount": 100},
                {"account": ledger.BANK, "amount": -100},
            ],
            status=AdjustmentStatus.PROPOSED,
            proposed_by_id=world.staff.id,
        )
    return {}


async def _submissions(user_id: int, count: int) -> None:
    kind = KINDS[0]
    now = await _now()
    for _ in range(count):
        row = await VerificationSubmission.create(
            user_id=user_id, kind=kind.code, status=VerificationStatus.SUBMITTED
        )
        for _file in range(2):
            serial = next(_serial)
            await MaterialFile.create(
                submission_id=row.id,
                storage_key=f"seed-{serial}",
                filename=f"f{serial}.png",
                content_type="image/png",
                size=1,
                sha256="0" * 64,
                signature="x",
            )
        await VerificationReview.create(
            submission_id=row.id,
            reviewer_id=user_id,  # a review names its reviewer by id only
            decision=ReviewDecision.APPROVE,
            created_at=now,
        )


async def seed_my_verifications(world: World, count: int) -> dict[str, Any]:
    await _submissions(world.member.id, count)
    return {}


async def seed_queue(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        member, _phone = await create_member()
        await _submissions(member.id, 1)
    return {}


async def _credit_history(user_id: int, count: int) -> None:
    now = await _now()
    for _ in range(count):
        await CreditLimitChange.create(
            user_id=user_id,
            kind=CreditChangeKind.EVALUATED,
            old_limit_fen=0,
            new_limit_fen=100,
            old_grade="HR",
            new_grade="C",
            score=60,
            reason="seeded",
            created_at=now,
        )


async def seed_my_credit(world: World, count: int) -> dict[str, Any]:
    await _credit_history(world.member.id, count)
    return {}


async def seed_member_credit(world: World, count: int) -> dict[str, Any]:
    await _credit_history(world.member.id, count)
    return {"userId": str(relay.GlobalID("User", str(world.member.id)))}


async def _collateral_document(
    item_id: int, valuation_id: int | None, user_id: int, now: datetime
) -> None:
    """A document's record (its `verified` fails on the signature: no file is read)."""
    await CollateralDocument.create(
        item_id=item_id,
        valuation_id=valuation_id,
        storage_key=f"{item_id}-{valuation_id}",
        filename="deed.pdf",
        content_type="application/pdf",
        size=1,
        sha256="0" * 64,
        signature="not-a-signature",
        uploaded_by=user_id,
        created_at=now,
    )


async def seed_service_cases(world: World, count: int) -> dict[str, Any]:
    """`count` cases of the member's, each with two messages, the first with a file
    (its `verified` fails on the signature: no file is read)."""
    now = await _now()
    for _ in range(count):
        case = await ServiceCase.create(
            member_id=world.member.id,
            kind=CaseKind.COMPLAINT,
            subject="Seeded",
            opened_at=now,
            waiting_since=now,
            warn_at=now + timedelta(hours=96),
            due_at=now + timedelta(hours=120),
            assignee_id=world.staff.id,
            updated_at=now,
        )
        first = await CaseMessage.create(
            case_id=case.id,
            entry=EntryKind.MEMBER,
            author_id=world.member.id,
            text="x",
            created_at=now,
        )
        await CaseMessage.create(
            case_id=case.id,
            entry=EntryKind.STAFF,
            author_id=world.staff.id,
            text="y",
            created_at=now,
        )
        await CaseAttachment.create(
            case_id=case.id,
            message_id=first.id,
            storage_key=f"case-{case.id}",
            filename="statement.pdf",
            content_type="application/pdf",
            size=1,
            sha256="0" * 64,
            signature="not-a-signature",
            uploaded_by=world.member.id,
            created_at=now,
        )
    return {}


async def seed_collateral(world: World, count: int) -> dict[str, Any]:
    """`count` items on the member's loan, each with a document and two valuations, each
    valuation with its report."""
    if "collateral_loan" not in world.made:
        world.made["collateral_loan"] = await _loan(world.member.id, LoanStatus.LISTED)
    loan = world.made["collateral_loan"]
    now = await _now()
    for number in range(count):
        item = await CollateralItem.create(
            loan_id=loan.id,
            owner_id=world.member.id,
            kind="PROPERTY",
            description=f"Item {number}",
            registration_number=f"R-{number}",
            registration_authority="Registry",
            lien_rank=1,
            recorded_by=world.member.id,
            created_at=now,
            updated_at=now,
        )
        await _collateral_document(item.id, None, world.member.id, now)
        for value in (100_000, 90_000):
            valuation = await CollateralValuation.create(
                item_id=item.id,
                loan_id=loan.id,
                appraiser="Appraiser",
                method="MARKET",
                value_fen=value,
                valued_on=now.date(),
                recorded_by=world.member.id,
                created_at=now,
            )
            await _collateral_document(item.id, valuation.id, world.member.id, now)
    return {"loanId": str(loan.id)}


async def seed_guarantee_policies(world: World, count: int) -> dict[str, Any]:
    """`count` policies issued on the member's listed loans, each with two compensations
    (the rows only: the figures are the flows' to test)."""
    if "guarantor" not in world.made:
        world.made["guarantor"] = await GuaranteeCompany.create(
            name="Counts Guarantee Co.", licence_number="GL-COUNTS-1", created_at=await _now()
        )
    company = world.made["guarantor"]
    now = await _now()
    for _ in range(count):
        loan = await _loan(world.member.id, LoanStatus.LISTED)
        policy = await GuaranteePolicy.create(
            loan_id=loan.id,
            company_id=company.id,
            requested_by=world.member.id,
            status=PolicyStatus.ISSUED,
            coverage=Coverage.PRINCIPAL,
            trigger_days=30,
            issued_at=now,
            margin_at_issue_fen=200_000,
            required_at_issue_fen=100_000,
            created_at=now,
        )
        for _installment in range(2):
            await GuaranteeCompensation.create(
                policy_id=policy.id,
                company_id=company.id,
                loan_id=loan.id,
                installment_id=next(_serial) + 10**9,
                amount_fen=10_000,
                created_at=now,
            )
    return {}


async def seed_listed(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await _loan(world.other.id)
    return {}


async def seed_one_loan(world: World, count: int) -> dict[str, Any]:
    if "loan" not in world.made:
        world.made["loan"] = await _loan(world.other.id)
    return {"id": str(world.made["loan"].id)}


async def seed_my_loans(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await _loan(world.member.id)
    return {}


async def seed_review_queue(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await _loan(world.other.id, LoanStatus.PENDING_REVIEW, next_review_level=1, reviews=0)
    return {"level": 1}


async def seed_bids(world: World, count: int) -> dict[str, Any]:
    now = await _now()
    for _ in range(count):
        loan = await _loan(world.other.id)
        await Bid.create(
            loan_id=loan.id,
            lender_id=world.member.id,
            requested_fen=10_000,
            amount_fen=10_000,
            status=BidStatus.ACCEPTED,
            source=BidSource.MANUAL,
            created_at=now,
            decided_at=now,
        )
    return {}


async def seed_schedule(world: World, count: int) -> dict[str, Any]:
    if "loan" not in world.made:
        world.made["loan"] = await _loan(world.member.id, LoanStatus.REPAYING)
        world.made["installments"] = 0
    loan = world.made["loan"]
    today = await clock.today()
    for _ in range(count):
        world.made["installments"] += 1
        number = world.made["installments"]
        await LoanInstallment.create(
            loan_id=loan.id,
            number=number,
            due_date=today + timedelta(days=30 * number),
            principal_fen=80_000,
            interest_fen=10_000,
            fee_fen=3_000,
        )
    return {"loanId": str(loan.id)}


async def _repayment(loan: Loan, borrower_id: int) -> Repayment:
    now = await _now()
    return await Repayment.create(
        loan_id=loan.id,
        borrower_id=borrower_id,
        kind=RepaymentKind.INSTALLMENTS,
        status=RepaymentStatus.DONE,
        installments=[1],
        amount_fen=93_000,
        principal_fen=80_000,
        interest_fen=10_000,
        fee_fen=3_000,
        created_at=now,
        done_at=now,
    )


async def seed_receivables(world: World, count: int) -> dict[str, Any]:
    now = await _now()
    for _ in range(count):
        loan = await _loan(world.other.id, LoanStatus.REPAYING)
        await _installments(loan, 3)
        bid = await Bid.create(
            loan_id=loan.id,
            lender_id=world.member.id,
            requested_fen=1_000_000,
            amount_fen=1_000_000,
            status=BidStatus.ACCEPTED,
            source=BidSource.MANUAL,
            created_at=now,
        )
        claim = await Claim.create(
            loan_id=loan.id,
            holder_id=world.member.id,
            bid_id=bid.id,
            principal_fen=1_000_000,
            created_at=now,
        )
        repayment = await _repayment(loan, world.other.id)
        await Receipt.create(
            repayment_id=repayment.id,
            claim_id=claim.id,
            holder_id=world.member.id,
            loan_id=loan.id,
            principal_fen=80_000,
            interest_fen=10_000,
            penalty_fen=0,
            created_at=now,
        )
    return {}


async def _listing(world: World, seller_id: int) -> TransferListing:
    """An open listing of a claim on a REPAYING loan with its schedule."""
    now = await _now()
    loan = await _loan(world.other.id, LoanStatus.REPAYING)
    await _installments(loan, 3)
    claim = await Claim.create(
        loan_id=loan.id, holder_id=seller_id, principal_fen=1_000_000, created_at=now
    )
    return await TransferListing.create(
        claim_id=claim.id,
        loan_id=loan.id,
        seller_id=seller_id,
        principal_fen=500_000,
        listed_fen=500_000,
        rate=Decimal("-0.02"),
        expires_at=now + timedelta(days=30),
        created_at=now,
    )


async def seed_listings(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await _listing(world, world.other.id)
    return {}


async def seed_my_listings(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await _listing(world, world.member.id)
    return {}


async def seed_transfers(world: World, count: int) -> dict[str, Any]:
    now = await _now()
    for _ in range(count):
        listing = await _listing(world, world.other.id)
        await ClaimTransfer.create(
            listing_id=listing.id,
            loan_id=listing.loan_id,
            seller_id=world.other.id,
            buyer_id=world.member.id,
            requested_fen=100_000,
            listing_version=1,
            principal_fen=100_000,
            price_fen=98_000,
            accrued_interest_fen=300,
            fee_fen=490,
            seller_claim_id=listing.claim_id,
            status=TransferStatus.DONE,
            created_at=now,
            decided_at=now,
        )
    return {}


async def seed_repayments(world: World, count: int) -> dict[str, Any]:
    if "loan" not in world.made:
        world.made["loan"] = await _loan(world.member.id, LoanStatus.REPAYING)
    for _ in range(count):
        await _repayment(world.made["loan"], world.member.id)
    return {}


async def seed_overdue(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        loan = await _loan(world.other.id, LoanStatus.OVERDUE)
        loan.collector_id = world.staff.id
        await loan.save(update_fields=["collector_id"])
        await _installments(loan, 4, overdue=2)
    return {}


async def seed_collection_records(world: World, count: int) -> dict[str, Any]:
    if "loan" not in world.made:
        world.made["loan"] = loan = await _loan(world.other.id, LoanStatus.OVERDUE)
        await _installments(loan, 2, overdue=1)
    loan = world.made["loan"]
    now = await _now()
    for _ in range(count):
        await CollectionRecord.create(
            loan_id=loan.id,
            collector_id=world.staff.id,
            kind=CollectionKind.CALL,
            note="called",
            created_at=now,
        )
    return {"loanId": str(loan.id)}


async def _template() -> ContractTemplate:
    found = await ContractTemplate.filter(kind=ContractKind.LOAN).order_by("-version").first()
    if found is not None:
        return found
    return await ContractTemplate.create(kind=ContractKind.LOAN, version=1, title="Loan", body="x")


async def _contract(world: World, *, signed: bool = False) -> Contract:
    template = await _template()
    serial = next(_serial)
    sha = hashlib.sha256(f"contract-{serial}".encode()).hexdigest()
    number = f"LB-LOAN-20261203-{serial:06d}"
    now = await _now()
    contract = await Contract.create(
        number=number,
        kind=ContractKind.LOAN,
        order_key=f"seed-{serial}",
        data_sha256=sha,
        loan_ref=f"L{serial}",
        template_id=template.id,
        template_version=template.version,
        title="Loan contract",
        amount_fen=1_000_000,
        status=ContractStatus.SIGNED if signed else ContractStatus.SIGNING,
        storage_key=f"contract-{serial}",
        sha256=sha,
        size=1,
        signature=signing.sign(signed_payload(sha, number)) if signed else None,
        signed_at=now if signed else None,
    )
    for position, (user, role) in enumerate(
        ((world.other, PartyRole.BORROWER), (world.member, PartyRole.LENDER))
    ):
        await ContractParty.create(
            contract_id=contract.id,
            position=position,
            role=role,
            user_id=user.id,
            name_masked="张**",
            id_masked="1101**********1234",
            amount_fen=1_000_000 if role == PartyRole.LENDER else None,
        )
        await ContractConsent.create(
            contract_id=contract.id,
            user_id=user.id,
            role=role,
            method=ConsentMethod.SMS_CODE,
            document_sha256=sha,
            created_at=now,
        )
    return contract


async def seed_contracts(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await _contract(world)
    return {}


async def seed_one_contract(world: World, count: int) -> dict[str, Any]:
    if "contract" not in world.made:
        world.made["contract"] = await _contract(world)
    return {"id": str(world.made["contract"].id)}


async def seed_signed_contract(world: World, count: int) -> dict[str, Any]:
    if "contract" not in world.made:
        world.made["contract"] = await _contract(world, signed=True)
    return {"sha256": world.made["contract"].sha256}


async def seed_templates(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        newest = await ContractTemplate.filter(kind=ContractKind.LOAN).order_by("-version").first()
        await ContractTemplate.create(
            kind=ContractKind.LOAN,
            version=(newest.version + 1) if newest else 1,
            title="Loan",
            body="x",
        )
    return {}


async def seed_contract_emails(world: World, count: int) -> dict[str, Any]:
    if "contract" not in world.made:
        world.made["contract"] = await _contract(world)
    for _ in range(count):
        await ContractEmail.create(
            contract_id=world.made["contract"].id,
            user_id=world.member.id,
            recipient_cipher="x",
            recipient_masked="a***@example.com",
        )
    return {}


async def seed_parameter_history(world: World, count: int) -> dict[str, Any]:
    now = await _now()
    for _ in range(count):
        await ParameterChange.create(
            name="loan.amount_range",
            old_value={"a": 1},
            new_value={"a": 2},
            actor_id=world.staff.id,
            reason="seeded",
            created_at=now,
        )
    return {}


async def seed_oplog(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await oplog.append(
            actor=ANONYMOUS,
            operation="seed",
            arguments={},
            client_ip="127.0.0.1",
            user_agent="",
            result="ok",
            trace_id="0" * 32,
        )
    return {}


async def seed_notices(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await Notice.create(user_id=world.member.id, kind="seed", title="Seeded", body="x")
    return {}


async def seed_customers(world: World, count: int) -> dict[str, Any]:
    """Members, each with a credit profile, ledger accounts and an overdue loan."""
    for _ in range(count):
        phone = new_phone()
        user = await User.create(
            kind="member",
            phone_lookup=lookup_hash(phone),
            phone_cipher="seed",
            phone_masked=phone[:3] + "****" + phone[-4:],
            display_name=f"Customer {next(_serial)}",
            password_hash="seed",
        )
        await ledger.ensure_member_accounts(user.id)
        await CreditProfile.create(user_id=user.id, grade="B")
        await _loan(user.id, LoanStatus.OVERDUE)
    return {}


async def seed_customer_file(world: World, count: int) -> dict[str, Any]:
    """The member's loans, claims, contracts, notices, messages and status changes."""
    for _ in range(count):
        loan = await _loan(world.member.id, LoanStatus.REPAYING)
        await Claim.create(
            loan_id=loan.id, holder_id=world.member.id, principal_fen=5_000, created_at=await _now()
        )
        await _contract(world)
        await Notice.create(user_id=world.member.id, kind="seed", title="Seeded", body="x")
        await OutgoingMessage.create(
            channel=MessageChannel.SMS,
            recipient_lookup=world.member.phone_lookup,
            recipient_masked=world.member.phone_masked,
            body="x",
            provider="seed",
        )
        await AccountStatusChange.create(
            user_id=world.member.id,
            from_status="active",
            to_status="locked",
            reason="Seeded change",
            state="REJECTED",
            proposed_by_id=world.staff.id,
            created_at=await _now(),
        )
    return {"id": relay.to_base64("User", world.member.id)}


async def seed_status_changes(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await AccountStatusChange.create(
            user_id=world.member.id,
            from_status="locked",
            to_status="active",
            reason="Seeded change",
            state="PENDING",
            proposed_by_id=world.staff.id,
            created_at=await _now(),
        )
    return {}


async def seed_partner_usage(world: World, count: int) -> dict[str, Any]:
    today = await clock.today()
    for _ in range(count):
        await PartnerUsage.create(
            partner_id=world.partner_id,
            day=today,
            operation=f"Seeded{next(_serial)}",
            outcome="ok",
            count=1,
        )
    return {}


async def seed_disclosures(world: World, count: int) -> dict[str, Any]:
    """One report built for real (November 2026), then copies of it for the months
    before, each with its own month, hash and signature (the list checks them)."""
    if "disclosure" not in world.made:
        world.made["disclosure"] = (await published_month()).report
        world.made["disclosure months"] = 1
        count -= 1
    template: dict[str, Any] = world.made["disclosure"]
    for _ in range(count):
        back = world.made["disclosure months"]
        month = date(2026 - (back + 1) // 12, (10 - back) % 12 + 1, 1)
        world.made["disclosure months"] = back + 1
        report = {**template, "month": disclosure.label(month)}
        digest = disclosure.report_sha256(report)
        pdf_hash = "0" * 64
        await MonthlyDisclosure.create(
            month=month,
            as_of=disclosure.month_end(month),
            report=report,
            report_sha256=digest,
            signature=signing.sign(disclosure.signed_payload(digest, pdf_hash, month)),
            pdf_storage_key=f"seeded-{month}",
            pdf_sha256=pdf_hash,
            pdf_size=0,
            created_at=await _now(),
        )
    return {}


async def seed_cohorts(world: World, count: int) -> dict[str, Any]:
    """Loans paid out in `count` more months before this one: one vintage cohort each."""
    today = await clock.today()
    for _ in range(count):
        back = world.made.get("cohorts", 0) + 1
        world.made["cohorts"] = back
        year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
        loan = await _loan(world.other.id, LoanStatus.REPAYING)
        paid_out = datetime(year, month + 1, 5, 10, tzinfo=UTC)
        await Loan.filter(id=loan.id).update(disbursed_at=paid_out, closed_at=paid_out)
    return {}


async def seed_outbox(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await OutgoingMessage.create(
            channel=MessageChannel.SMS,
            recipient_lookup=f"seed-{next(_serial)}",
            recipient_masked="177****0000",
            body="seeded",
            provider="log",
        )
    return {}


async def _help_category(world: World) -> HelpCategory:
    if "help category" not in world.made:
        now = await _now()
        world.made["help category"] = await HelpCategory.create(
            slug=f"counts-{next(_serial)}", name="帮助", created_at=now, updated_at=now
        )
    category: HelpCategory = world.made["help category"]
    return category


async def _help_article(world: World) -> HelpArticle:
    now = await _now()
    n = next(_serial)
    return await HelpArticle.create(
        slug=f"counts-article-{n}",
        category_id=(await _help_category(world)).id,
        title=f"逾期还款 {n}",
        body="逾期还款怎么办",
        status=ArticleStatus.PUBLISHED,
        read_count=n,
        first_published_at=now,
        created_by=world.staff.id,
        updated_by=world.staff.id,
        created_at=now,
        updated_at=now,
    )


async def seed_help_categories(world: World, count: int) -> dict[str, Any]:
    """Categories, each with a published article (its count is in the answer)."""
    for _ in range(count):
        now = await _now()
        world.made["help category"] = await HelpCategory.create(
            slug=f"counts-{next(_serial)}", name="帮助", created_at=now, updated_at=now
        )
        await _help_article(world)
    return {}


async def seed_help_articles(world: World, count: int) -> dict[str, Any]:
    for _ in range(count):
        await _help_article(world)
    return {}


async def seed_help_versions(world: World, count: int) -> dict[str, Any]:
    """Versions of one article."""
    if "help article" not in world.made:
        world.made["help article"] = await _help_article(world)
    article: HelpArticle = world.made["help article"]
    for _ in range(count):
        await HelpArticleVersion.create(
            article_id=article.id,
            number=next(_serial),
            slug=article.slug,
            category_id=article.category_id,
            title=article.title,
            body=article.body,
            status=ArticleStatus.PUBLISHED,
            saved_by=world.staff.id,
            saved_at=await _now(),
        )
    return {"articleId": str(article.id)}


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """How to read one root field: as whom, its rows (`seed`; None when the list is the
    platform's own and does not grow with data), whether it pages (`first`), and where
    the rows are in its answer (dotted path from the field; "" for the field itself)."""

    who: str  # "anonymous", "member" or "staff"
    seed: Seed | None
    paged: bool = False
    rows: str = ""


CASES: dict[str, Case] = {
    "roles": Case("staff", seed_roles),
    "permissionCodes": Case("staff", None),
    "myAccount": Case("member", seed_cards, rows="bankCards"),
    "myTransactions": Case("member", seed_journals, paged=True),
    "fundTransactions": Case("staff", seed_journals, paged=True),
    "reconciliationBreaks": Case("staff", seed_breaks, paged=True),
    "adjustments": Case("staff", seed_adjustments, paged=True),
    "verificationKinds": Case("anonymous", None),
    "myVerifications": Case("member", seed_my_verifications),
    "verificationQueue": Case("staff", seed_queue, paged=True),
    "myCredit": Case("member", seed_my_credit, rows="history"),
    "memberCredit": Case("staff", seed_member_credit, rows="history"),
    "riskQuestionnaire": Case("anonymous", None),
    "loanSchedulePreview": Case("anonymous", None),
    "loans": Case("anonymous", seed_listed, paged=True),
    "loan": Case("anonymous", seed_one_loan),
    "myLoans": Case("member", seed_my_loans),
    "loanReviewQueue": Case("staff", seed_review_queue, paged=True),
    "myBids": Case("member", seed_bids, paged=True),
    "transferListings": Case("anonymous", seed_listings, paged=True),
    "myTransfers": Case("member", seed_transfers, paged=True),
    "myTransferListings": Case("member", seed_my_listings, paged=True),
    "claimTransfers": Case("staff", seed_transfers, paged=True),
    "mySchedule": Case("member", seed_schedule, rows="installments"),
    "myReceivables": Case("member", seed_receivables),
    "collateralItems": Case("member", seed_collateral, rows="items"),
    "guaranteePolicies": Case("member", seed_guarantee_policies, paged=True),
    "serviceCases": Case("member", seed_service_cases, paged=True),
    "myRepayments": Case("member", seed_repayments, paged=True),
    "overdueLoans": Case("staff", seed_overdue, paged=True),
    "collectionRecords": Case("staff", seed_collection_records),
    "contracts": Case("member", seed_contracts, paged=True),
    "contract": Case("member", seed_one_contract),
    "verifyContract": Case("anonymous", seed_signed_contract),
    "contractTemplates": Case("staff", seed_templates),
    "contractEmails": Case("staff", seed_contract_emails, paged=True),
    "platformParameters": Case("staff", None),
    "parameterHistory": Case("staff", seed_parameter_history),
    "operationLog": Case("staff", seed_oplog, paged=True),
    "myNotices": Case("member", seed_notices, paged=True),
    "customers": Case("staff", seed_customers, paged=True),
    "customer": Case("staff", seed_customer_file, rows="loans.nodes"),
    "pendingAccountStatusChanges": Case("staff", seed_status_changes, paged=True),
    "devOutbox": Case("anonymous", seed_outbox, paged=True),
    "partnerUsage": Case("partner", seed_partner_usage),
    "disclosures": Case("anonymous", seed_disclosures, paged=True),
    "riskFigures": Case("staff", seed_cohorts, rows="vintages"),
    "helpCategories": Case("anonymous", seed_help_categories),
    "helpArticles": Case("anonymous", seed_help_articles, paged=True),
    "helpArticleVersions": Case("staff", seed_help_versions),
}

# Arguments a field needs that no seed gives (the platform's own lists).
FIXED_ARGUMENTS: dict[str, dict[str, Any]] = {
    "loanSchedulePreview": {
        "amount": "10000.00",
        "annualRate": "0.1200",
        "termMonths": 12,
        "method": "EQUAL_INSTALLMENT",
    },
}
ENUM_ARGUMENTS = {"method"}


# --- walking the schema ----------------------------------------------------------------------


def _graphql_schema() -> GraphQLSchema:
    return build_schema(get_settings())._schema


def _unwrap(kind: Any) -> tuple[GraphQLNamedType, bool]:
    is_list = False
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(kind, GraphQLList)
        kind = kind.of_type
    return kind, is_list


def _composite(kind: GraphQLNamedType) -> bool:
    return isinstance(kind, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)


def _is_list_root(root: GraphQLField) -> bool:
    kind, is_list = _unwrap(root.type)
    return is_list or kind.name.endswith("Connection")


def _needs_arguments(definition: GraphQLField) -> bool:
    return any(
        isinstance(argument.type, GraphQLNonNull) and argument.default_value is None
        for argument in definition.args.values()
    )


def _fields_of(kind: GraphQLNamedType) -> dict[str, GraphQLField]:
    if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
        return dict(kind.fields)
    return {}


def _selection(kind: GraphQLNamedType, depth: int, path: tuple[str, ...], lists: set[str]) -> str:
    """Every field of `kind` that takes no required argument, objects `depth` levels down
    (a type already on the path is not entered again). `lists` collects the coordinates
    (Type.field) of the object lists selected."""
    if isinstance(kind, GraphQLUnionType):
        parts = ["__typename"]
        for member in kind.types:
            inner = _selection(member, depth, path, lists)
            if inner:
                parts.append(f"... on {member.name} {{ {inner} }}")
        return " ".join(parts)
    parts = []
    for name, definition in _fields_of(kind).items():
        if _needs_arguments(definition):
            continue
        inner_kind, is_list = _unwrap(definition.type)
        if isinstance(inner_kind, GraphQLScalarType | GraphQLEnumType):
            parts.append(name)
            continue
        if depth <= 0 or inner_kind.name in path:
            continue
        inner = _selection(inner_kind, depth - 1, (*path, inner_kind.name), lists)
        if inner:
            if is_list:
                lists.add(f"{kind.name}.{name}")
            parts.append(f"{name} {{ {inner} }}")
    return " ".join(parts)


def _literal(name: str, value: Any) -> str:
    if isinstance(value, bool | int):
        return json.dumps(value)
    if name in ENUM_ARGUMENTS:
        return str(value)
    return json.dumps(value)


def build_query(name: str, arguments: dict[str, Any], lists: set[str] | None = None) -> str:
    schema = _graphql_schema()
    root = schema.query_type
    assert root is not None
    definition = root.fields[name]
    kind, _is_list = _unwrap(definition.type)
    seen = lists if lists is not None else set()
    if _is_list_root(definition) and _composite(kind):
        seen.add(f"Query.{name}")
    args = ", ".join(f"{key}: {_literal(key, value)}" for key, value in arguments.items())
    head = f"{name}({args})" if args else name
    if not _composite(kind):
        return f"query {{ {head} }}"
    return f"query {{ {head} {{ {_selection(kind, MAX_DEPTH, (kind.name,), seen)} }} }}"


def _object_lists(schema: GraphQLSchema) -> set[str]:
    """Every list of objects reachable from Query (Type.field), Query's own included."""
    root = schema.query_type
    assert root is not None
    found: set[str] = set()
    visited: set[str] = set()
    pending: list[GraphQLNamedType] = [root]
    while pending:
        kind = pending.pop()
        if kind.name in visited:
            continue
        visited.add(kind.name)
        members = list(kind.types) if isinstance(kind, GraphQLUnionType) else []
        pending.extend(members)
        for name, definition in _fields_of(kind).items():
            inner, is_list = _unwrap(definition.type)
            if not _composite(inner):
                continue
            if is_list:
                found.add(f"{kind.name}.{name}")
            pending.append(inner)
    return found


# --- the tests -------------------------------------------------------------------------------


async def test_every_list_field_has_a_case() -> None:
    """A root list or connection without a case, and a list of objects no case's query
    selects, fail here: add the field to CASES with a seed."""
    schema = _graphql_schema()
    root = schema.query_type
    assert root is not None
    roots = {name for name, definition in root.fields.items() if _is_list_root(definition)}
    assert roots - set(CASES) == set(), "list fields without a case in CASES"
    assert set(CASES) - set(root.fields) == set(), "cases of fields the schema does not have"
    selected: set[str] = set()
    for name in CASES:
        arguments = dict.fromkeys(_required_arguments(root.fields[name]), 1)
        build_query(name, arguments, selected)
    assert _object_lists(schema) - selected == set(), "lists no case's query selects"


def _required_arguments(definition: GraphQLField) -> list[str]:
    return [
        key
        for key, argument in definition.args.items()
        if isinstance(argument.type, GraphQLNonNull) and argument.default_value is None
    ]


async def _world() -> World:
    member, member_phone = await create_member(name="Statement Member")
    other, _phone = await create_member(name="Other Member")
    staff, staff_phone = await create_staff(*STAFF_ROLES)
    partner = await partner_keys.add_partner(
        code="counts", name="Counts", sets=[PARTNER_SET], rate_per_minute=1000, daily_quota=1000
    )
    return World(
        member=member,
        member_token=await token_for(member_phone),
        other=other,
        staff=staff,
        staff_token=await token_for(staff_phone),
        partner_id=partner.partner.id,
        partner_key=partner.key,
    )


def _rows(answer: Any, path: str) -> int:
    for step in [part for part in path.split(".") if part]:
        answer = answer[step]
    if isinstance(answer, dict) and "edges" in answer:
        return len(answer["edges"])
    assert isinstance(answer, list), answer
    return len(answer)


async def _statements(
    client: httpx.AsyncClient, query: str, token: str | None
) -> tuple[list[Statement], dict[str, Any]]:
    """The statements of one request, the second of two alike: the first fills the
    caches (actor, parameters, clock) that a change made by the seed emptied. A partner's
    key sends the query published (as `Counts`, in its set) by id, as partners must."""
    if token is not None and token.startswith("lbp_"):
        query, send = await _publish(query), _by_id
    else:
        send = gql
    await send(client, query, token=token)
    with recording_statements() as seen:
        body = await send(client, query, token=token)
    assert "errors" not in body, (query, body["errors"])
    return list(seen), body["data"]


PARTNER_SET = "counts"


async def _publish(query: str) -> str:
    """The query as the one operation (`Counts`) of the partner's set; its id."""
    body = (
        query.replace("query ", "query Counts ", 1)
        if query.startswith("query ")
        else "query Counts " + query
    )
    operation = manifest.Operation(manifest.document_id(body), "Counts", "query", body)
    await manifest.load(
        manifest.render([operation]),
        _graphql_schema(),
        manifest.render_sets({PARTNER_SET: ["Counts"]}),
    )
    return operation.id


async def _by_id(client: httpx.AsyncClient, doc_id: str, *, token: str | None) -> Any:
    response = await client.post(
        "/graphql",
        json={"documentId": f"sha256:{doc_id}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _read(statements: list[Statement]) -> int:
    return sum(statement.rows for statement in statements)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_list_reads_take_the_same_statements_at_1_and_50(
    client: httpx.AsyncClient, name: str
) -> None:
    """The same number of statements for 1 row and for 50; and a page of one row over
    50 reads about what it reads over 1 (the page is cut in SQL, not in Python)."""
    case = CASES[name]
    world = await _world()
    token = {
        "anonymous": None,
        "member": world.member_token,
        "staff": world.staff_token,
        "partner": world.partner_key,
    }[case.who]
    counts: dict[int, int] = {}
    statements: dict[int, list[Statement]] = {}
    rows: dict[int, int] = {}
    made = 0
    arguments: dict[str, Any] = dict(FIXED_ARGUMENTS.get(name, {}))
    for size in SIZES:
        if case.seed is not None:
            arguments |= await case.seed(world, size - made)
            made = size
        if case.paged:
            arguments["first"] = size
        seen, data = await _statements(client, build_query(name, arguments), token)
        counts[size], statements[size] = len(seen), seen
        if case.seed is not None and case.seed not in SINGLE_ROW_SEEDS:
            rows[size] = _rows(data[name], case.rows)
    one_of_many: int | None = None
    if case.paged:
        seen, _data = await _statements(client, build_query(name, arguments | {"first": 1}), token)
        one_of_many = _read(seen)
    report = os.environ.get("STATEMENT_COUNTS_REPORT")
    if report:
        with Path(report).open("a", encoding="utf-8") as out:  # noqa: ASYNC230 (a test report)
            line = {
                "field": name,
                "statements": counts,
                "rows read, first 1 of 1": _read(statements[SIZES[0]]) if case.paged else None,
                "rows read, first 1 of 50": one_of_many,
            }
            out.write(json.dumps(line) + "\n")
    if rows:
        assert rows[SIZES[-1]] - rows[SIZES[0]] == SIZES[-1] - SIZES[0], (name, rows)
    assert counts[SIZES[0]] == counts[SIZES[-1]], (
        name,
        counts,
        [statement.sql for statement in statements[SIZES[-1]]],
    )
    if one_of_many is not None and name not in CUT_AFTER_THE_SERVICE:
        assert one_of_many - _read(statements[SIZES[0]]) <= PAGE_SLACK, (
            name,
            one_of_many,
            [(statement.sql, statement.rows) for statement in statements[SIZES[0]]],
        )


# A page of one over 50 rows also reads the row after it (to tell that a next page
# exists) and what is read with that row; never the other 48.
PAGE_SLACK = 10
# Pages still cut in Python after the service's scoped read: their statements are
# counted, the rows they read are not compared. guaranteePolicies: policies.visible()
# pages in SQL, but first brings the open policies of the caller's scope in line with
# their loans (follow_loans reads their ids and their loans' statuses): those rows are
# read whatever the page (docs/guarantees.md).
CUT_AFTER_THE_SERVICE = {"guaranteePolicies"}

# Seeds of one object whose nested lists are bounded by the platform (a loan has at most
# three review levels, a contract its few parties): the count is still compared.
SINGLE_ROW_SEEDS: set[Seed] = {seed_one_loan, seed_one_contract, seed_signed_contract}
