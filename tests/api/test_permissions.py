"""Gate 1 through HTTP: every root field declares @auth or @public, every field enforces
what it declares for every kind of caller, and role changes apply on the next request."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from strawberry import relay
from strawberry.permission import PermissionExtension

from models.access import RefreshToken, RevokedAccessToken, RolePermission, UserRole
from models.bids import AutoBidRule, Bid
from models.cases import CaseMessage, ServiceCase
from models.collateral import CollateralItem, CollateralValuation
from models.contracts import Contract, ContractConsent, ContractEmail, ContractTemplate
from models.credit import (
    CreditLimitChange,
    MaterialFile,
    VerificationReview,
    VerificationSubmission,
)
from models.customers import AccountStatusChange, DataDeletionRequest
from models.guarantees import GuaranteeCompany, GuaranteePolicy, GuarantorStaff
from models.help import ArticleStatus, HelpArticle, HelpArticleVersion, HelpCategory
from models.lending import RiskAssessment, RiskNoticeConfirmation
from models.loans import Loan, LoanReview, LoanStatus
from models.members import User
from models.payments import (
    BankCard,
    Deposit,
    IdempotencyRecord,
    PaymentInstruction,
    PendingOperation,
    ProviderAccount,
)
from models.repayments import CollectionRecord
from models.system import ClockState, PersonalDataReveal, PlatformParameter
from schema.build import build_schema
from schema.directives import AllowAnyone, AuthDirective, PublicDirective, RequirePermission
from schema.documents import manifest
from services.identity.permissions import DEFAULT_ROLES, Permission
from services.kit.settings import get_settings
from services.partners import keys as partner_keys
from services.platform import clock
from tests import conftest
from tests.analytics.disclosure_helpers import published_month
from tests.factories import (
    approve_verifications,
    create_member,
    create_staff,
    error_codes,
    gql,
    lending_kinds,
    new_id_number,
    token_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "PUBLIC"
ACTORS = ("anonymous", "member", "staff_without", "staff_with")
# A complete set of answers to the lender risk questionnaire.
RISK_ANSWERS = {
    "age": "B",
    "income": "C",
    "investableShare": "C",
    "experience": "C",
    "lossTolerance": "C",
    "horizon": "C",
    "p2pKnowledge": "C",
    "purpose": "C",
}
# Phones of the 17799990xxx block: never handed out by tests.factories (1770000xxxx).
UNUSED_PHONE = "17799990001"
NEW_STAFF_PHONE = "17799990002"


def _root_fields(schema: Any) -> dict[str, dict[str, Any]]:
    """{"Query": {graphqlName: StrawberryField}, "Mutation": ..., "Subscription": ...}."""
    convert = schema.config.name_converter.get_graphql_name
    return {
        root: {convert(field): field for field in schema.get_type_by_name(root).fields}
        for root in ("Query", "Mutation", "Subscription")
    }


def _enforced(field: Any) -> list[Any]:
    """The permission classes that actually run for a field (not just its SDL)."""
    return [
        permission
        for extension in field.extensions
        if isinstance(extension, PermissionExtension)
        for permission in extension.permissions
    ]


# --- 1. Every root field says who may call it -------------------------------------------


async def test_every_root_field_declares_auth_or_public():
    schema = build_schema(get_settings())
    roots = _root_fields(schema)
    assert roots["Query"]
    assert roots["Mutation"]
    assert "notifications" in roots["Subscription"]
    known = {str(code) for code in Permission}
    undeclared, both, unknown, not_enforced = [], [], [], []
    for root, fields in roots.items():
        for name, field in fields.items():
            where = f"{root}.{name}"
            auth = [d for d in field.directives if isinstance(d, AuthDirective)]
            public = [d for d in field.directives if isinstance(d, PublicDirective)]
            if not auth and not public:
                undeclared.append(where)
                continue
            if auth and public:
                both.append(where)
            enforced = _enforced(field)
            for directive in auth:
                if directive.permission not in known:
                    unknown.append(f"{where}: {directive.permission}")
                if not any(
                    isinstance(p, RequirePermission) and str(p.permission) == directive.permission
                    for p in enforced
                ):
                    not_enforced.append(where)
            if public and not any(isinstance(p, AllowAnyone) for p in enforced):
                not_enforced.append(where)
    assert undeclared == [], f"root fields with neither @auth nor @public: {undeclared}"
    assert both == [], f"root fields with both @auth and @public: {both}"
    assert unknown == [], f"@auth with a permission that does not exist: {unknown}"
    assert not_enforced == [], f"directive in the SDL but no permission class: {not_enforced}"


async def test_printed_sdl_shows_the_directives():
    sdl = build_schema(get_settings()).as_str()
    assert "directive @auth(permission: String!) on FIELD_DEFINITION" in sdl
    assert "directive @public on FIELD_DEFINITION" in sdl
    assert 'roles: [RoleType!]! @auth(permission: "roles:read")' in sdl
    assert "businessClock: BusinessClock! @public" in sdl
    assert 'notifications: Notice! @auth(permission: "notices:read")' in sdl


# --- 2. The permission matrix -------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    field: str
    document: str
    permission: str  # a Permission code, or PUBLIC
    role_with: str  # a staff role holding the permission (any role for PUBLIC)
    role_without: str  # a staff role lacking it (for PUBLIC: still allowed)
    # False where the allowed call answers with a typed error because the test does not
    # set up its preconditions (a bound card, a pending operation): the gate is what is
    # tested here; the flows have their own tests.
    changes_state: bool = True

    @property
    def is_mutation(self) -> bool:
        return self.document.lstrip().startswith("mutation")


MATRIX = [
    # Query
    Row("me", "{ me { roles } }", "profile:read", "cs", "partner"),
    Row("roles", "{ roles { name permissions } }", "roles:read", "admin", "cs"),
    Row("permissionCodes", "{ permissionCodes }", "roles:read", "auditor", "finance"),
    Row("operationLog", "{ operationLog(first: 1) { totalCount } }", "oplog:read", "admin", "cs"),
    Row(
        "verifyOperationLog",
        "{ verifyOperationLog { valid checked } }",
        "oplog:verify",
        "auditor",
        "admin",
    ),
    Row("node", "query ($id: ID!) { node(id: $id) { id } }", "profile:read", "cs", "partner"),
    Row("businessClock", "{ businessClock { now today } }", PUBLIC, "admin", "partner"),
    Row("myNotices", "{ myNotices(first: 1) { totalCount } }", "notices:read", "cs", "partner"),
    Row("devOutbox", "{ devOutbox(first: 1) { channel } }", PUBLIC, "admin", "partner"),
    # Mutation
    Row(
        "requestSmsCode",
        f'mutation {{ requestSmsCode(input: {{phone: "{UNUSED_PHONE}", purpose: REGISTER}})'
        " { __typename } }",
        PUBLIC,
        "admin",
        "partner",
    ),
    Row(
        "register",
        f'mutation {{ register(input: {{phone: "{UNUSED_PHONE}", password: "Secret123",'
        ' smsCode: "000000"}) { __typename } }',
        PUBLIC,
        "admin",
        "partner",
    ),
    Row(
        "login",
        f'mutation {{ login(input: {{phone: "{UNUSED_PHONE}", password: "Secret123"}})'
        " { __typename } }",
        PUBLIC,
        "admin",
        "partner",
    ),
    Row(
        "refreshToken",
        'mutation { refreshToken(input: {refreshToken: "nothing.here"}) { __typename } }',
        PUBLIC,
        "admin",
        "partner",
    ),
    Row("logout", "mutation { logout { ok } }", "session:logout", "cs", "partner"),
    Row(
        "resetPassword",
        f'mutation {{ resetPassword(input: {{phone: "{UNUSED_PHONE}", smsCode: "000000",'
        ' newPassword: "Secret123"}) { __typename } }',
        PUBLIC,
        "admin",
        "partner",
    ),
    Row(
        "createStaffUser",
        f'mutation {{ createStaffUser(input: {{phone: "{NEW_STAFF_PHONE}",'
        ' password: "Secret123", displayName: "New Staff", roles: ["cs"]}) { __typename } }',
        "staff:create",
        "admin",
        "cs",
    ),
    Row(
        "setRolePermissions",
        'mutation { setRolePermissions(input: {role: "cs", permissions: ["profile:read"]})'
        " { __typename } }",
        "roles:manage",
        "admin",
        "auditor",
    ),
    Row(
        "assignRoles",
        'mutation ($userId: ID!) { assignRoles(input: {userId: $userId, roles: ["collector"]})'
        " { __typename } }",
        "roles:manage",
        "admin",
        "auditor",
    ),
    Row(
        "devAdvanceClock",
        "mutation { devAdvanceClock(input: {days: 1}) { __typename } }",
        "clock:advance",
        "admin",
        "cs",
    ),
]
MATRIX += [
    Row("myAccount", "{ myAccount { available frozen } }", "account:use", "member", "cs"),
    Row("myTransactions", "{ myTransactions { totalCount } }", "account:use", "member", "cs"),
    Row("myTransactionsCsv", "{ myTransactionsCsv }", "account:use", "member", "auditor"),
    Row(
        "openAccount",
        'mutation ($id: String!) { openAccount(input: {realName: "Test Name", idNumber: $id})'
        " { __typename } }",
        "account:use",
        "member",
        "finance",
    ),
    Row(
        "bindBankCard",
        'mutation { bindBankCard(input: {cardNumber: "6222020200112233446"}) { __typename } }',
        "account:use",
        "member",
        "finance",
        changes_state=False,
    ),
    Row(
        "deposit",
        'mutation { deposit(input: {amount: "10.00", channel: GATEWAY,'
        ' idempotencyKey: "k-12345678"}) { __typename } }',
        "account:use",
        "member",
        "finance",
        changes_state=False,
    ),
    Row(
        "withdraw",
        'mutation { withdraw(input: {amount: "10.00", speed: T1, cardId: "1",'
        ' idempotencyKey: "k-12345678"}) { __typename } }',
        "account:use",
        "member",
        "finance",
        changes_state=False,
    ),
    Row(
        "confirmOperation",
        'mutation { confirmOperation(input: {operationId: "00000000-0000-0000-0000-000000000000",'
        ' code: "123456"}) { __typename } }',
        "account:use",
        "member",
        "finance",
        changes_state=False,
    ),
    Row(
        "resendOperationCode",
        "mutation { resendOperationCode(input:"
        ' {operationId: "00000000-0000-0000-0000-000000000000"}) { __typename } }',
        "account:use",
        "member",
        "finance",
        changes_state=False,  # answers NOT_FOUND: there is no such operation
    ),
]
MATRIX += [
    Row("platformAccounts", "{ platformAccounts { fee } }", "finance:read", "finance", "cs"),
    Row(
        "fundTransactions",
        "{ fundTransactions(first: 5) { totalCount } }",
        "finance:read",
        "auditor",
        "cs",
    ),
    Row(
        "reconciliationBreaks",
        "{ reconciliationBreaks(state: OPEN) { totalCount } }",
        "finance:read",
        "finance",
        "risk_l1",
    ),
    Row("adjustments", "{ adjustments { totalCount } }", "finance:read", "auditor", "collector"),
    Row(
        "runReconciliation",
        'mutation { runReconciliation(input: {day: "2020-01-06"}) { __typename } }',
        "finance:read",
        "finance",
        "cs",
        changes_state=False,  # writes a run, which the matrix's state does not cover
    ),
    Row(
        "requestAdjustmentConsent",
        'mutation { requestAdjustmentConsent(input: {memberId: "999999", amount: "1.00",'
        ' reason: "matrix test"}) { __typename } }',
        "finance:adjust:propose",
        "finance",
        "auditor",
        changes_state=False,
    ),
    Row(
        "proposeAdjustment",
        'mutation { proposeAdjustment(input: {reason: "matrix test", entries: ['
        '{accountCode: "p:fee", amount: "-1.00"}, {accountCode: "p:margin", amount: "1.00"}],'
        ' idempotencyKey: "k-12345678"}) { __typename } }',
        "finance:adjust:propose",
        "finance",
        "auditor",
        changes_state=False,
    ),
    Row(
        "approveAdjustment",
        'mutation { approveAdjustment(input: {adjustmentId: "1"}) { __typename } }',
        "finance:adjust:approve",
        "finance",
        "auditor",
        changes_state=False,
    ),
    Row(
        "rejectAdjustment",
        'mutation { rejectAdjustment(input: {adjustmentId: "1", reason: "matrix test"})'
        " { __typename } }",
        "finance:adjust:approve",
        "finance",
        "auditor",
        changes_state=False,
    ),
]
MATRIX += [
    Row(
        "verificationKinds",
        "{ verificationKinds { code tier score } }",
        PUBLIC,
        "credit",
        "partner",
    ),
    Row("myVerifications", "{ myVerifications { id kind } }", "account:use", "member", "credit"),
    Row(
        "verifyMaterial",
        "query ($fileId: ID!) { verifyMaterial(fileId: $fileId) { valid } }",
        "credit:review",
        "credit",
        "cs",
        changes_state=False,
    ),
    Row(
        "submitVerification",
        'mutation { submitVerification(input: {kind: "EMAIL",'
        ' fields: [{name: "email", value: "someone@example.com"}]}) { __typename } }',
        "account:use",
        "member",
        "credit",
    ),
]
MATRIX += [
    Row("customers", "{ customers(first: 5) { totalCount } }", "customers:read", "cs", "guarantor"),
    Row(
        "customer",
        "query ($userId: ID!) { customer(id: $userId) { customer { grade } } }",
        "customers:read",
        "cs",
        "guarantor",
    ),
    Row(
        "pendingAccountStatusChanges",
        "{ pendingAccountStatusChanges(first: 5) { totalCount } }",
        "customers:manage",
        "cs",
        "finance",
    ),
    Row(
        "setAccountStatus",
        "mutation ($userId: ID!) { setAccountStatus(input: {userId: $userId, status: LOCKED,"
        ' reason: "matrix check"}) { __typename } }',
        "customers:manage",
        "cs",
        "finance",
    ),
    Row(
        "requestDataDeletion",
        'mutation { requestDataDeletion(input: {reason: "leaving"}) { __typename } }',
        "account:use",
        "member",
        "cs",
    ),
    Row(
        "decideAccountStatusChange",
        "mutation ($change: ID!) { decideAccountStatusChange(input: {changeId: $change,"
        ' approve: false, reason: "not this time"}) { __typename } }',
        "customers:manage",
        "cs",
        "finance",
    ),
]
MATRIX += [
    Row(
        "revealPersonalData",
        "mutation ($userId: ID!) { revealPersonalData(input: {userId: $userId, field: PHONE,"
        ' reason: "caller asked to verify"}) { __typename } }',
        "pii:view",
        "cs",
        "finance",
    ),
]
MATRIX += [
    Row(
        "platformParameters",
        "{ platformParameters { name value } }",
        "parameters:manage",
        "admin",
        "finance",
    ),
    Row("parameterHistory", "{ parameterHistory { name } }", "parameters:manage", "admin", "cs"),
    Row(
        "setPlatformParameter",
        'mutation { setPlatformParameter(input: {name: "credit.autoAdjustment",'
        ' value: {raise_per_on_time: "0.0300", max_raise: "0.5000",'
        ' lower_per_overdue: "0.1000", freeze_after_days: 60}, reason: "policy review"})'
        " { __typename } }",
        "parameters:manage",
        "admin",
        "credit",
    ),
]
_CREDIT = "{ score grade limit available history { kind } }"
MATRIX += [
    Row(
        "verificationQueue",
        "{ verificationQueue { totalCount edges { node { member { id } } } } }",
        "credit:review",
        "credit",
        "risk_l1",
    ),
    Row("myCredit", "{ myCredit " + _CREDIT + " }", "account:use", "member", "credit"),
    Row(
        "memberCredit",
        "query ($userId: ID!) { memberCredit(userId: $userId) " + _CREDIT + " }",
        "credit:review",
        "credit",
        "cs",
    ),
    Row(
        "reviewVerification",
        "mutation ($id: ID!) { reviewVerification(input: {verificationId: $id,"
        ' decision: REQUEST_MORE, reason: "the photo is blurred"}) { __typename } }',
        "credit:review",
        "credit",
        "finance",
    ),
    Row(
        "freezeCreditLimit",
        "mutation ($userId: ID!) { freezeCreditLimit(input: {userId: $userId,"
        ' reason: "seriously overdue"}) { __typename } }',
        "credit:review",
        "credit",
        "collector",
    ),
    Row(
        "unfreezeCreditLimit",
        "mutation ($userId: ID!) { unfreezeCreditLimit(input: {userId: $userId,"
        ' reason: "paid back in full"}) { __typename } }',
        "credit:review",
        "credit",
        "collector",
        changes_state=False,  # answers NOT_FROZEN: the limit was never frozen
    ),
    Row(
        "setTemporaryCreditLimit",
        "mutation ($userId: ID!) { setTemporaryCreditLimit(input: {userId: $userId,"
        ' amount: "1000.00", expiresOn: "2099-01-01", evidenceId: "1",'
        ' reason: "extra proof given"}) { __typename } }',
        "credit:review",
        "credit",
        "cs",
        changes_state=False,  # answers INVALID or EVIDENCE_REQUIRED: no approved proof
    ),
]
MATRIX += [
    Row(
        "riskQuestionnaire",
        "{ riskQuestionnaire { version questions { code } } }",
        PUBLIC,
        "member",
        "partner",
    ),
    Row("myRiskProfile", "{ myRiskProfile { status } }", "bid:place", "member", "cs"),
    Row(
        "submitRiskAssessment",
        "mutation { submitRiskAssessment(input: {answers: ["
        + ", ".join(f'{{question: "{q}", option: "{o}"}}' for q, o in RISK_ANSWERS.items())
        + "]}) { __typename } }",
        "bid:place",
        "member",
        "cs",
    ),
    Row(
        "confirmRiskNotice",
        "mutation ($assessmentId: ID!) { confirmRiskNotice(input: {assessmentId: $assessmentId})"
        " { __typename } }",
        "bid:place",
        "member",
        "finance",
    ),
]
_LOAN = "{ id status progress { funded bidders } }"
MATRIX += [
    Row(
        "loanSchedulePreview",
        '{ loanSchedulePreview(amount: "10000.00", annualRate: "0.1200", termMonths: 12,'
        " method: EQUAL_INSTALLMENT) { totalInterest allInAnnualCost } }",
        PUBLIC,
        "risk_l1",
        "partner",
    ),
    Row("loans", "{ loans(first: 5) { totalCount } }", PUBLIC, "risk_l1", "partner"),
    Row(
        "loan",
        "query ($id: ID!) { loan(id: $id) " + _LOAN + " }",
        PUBLIC,
        "risk_l1",
        "partner",
    ),
    Row("myLoans", "{ myLoans " + _LOAN + " }", "loan:publish", "member", "risk_l1"),
    Row(
        "loanReviewQueue",
        "{ loanReviewQueue(level: 1) { totalCount } }",
        "loan:review",
        "risk_l1",
        "credit",
    ),
    Row(
        "publishLoan",
        'mutation { publishLoan(input: {amount: "1000.00", annualRate: "0.1200",'
        ' termMonths: 12, method: EQUAL_INSTALLMENT, purpose: "matrix test", biddingDays: 5,'
        ' minBid: "50.00", maxBid: "1000.00", idempotencyKey: "k-12345678"})'
        " { __typename } }",
        "loan:publish",
        "member",
        "risk_l1",
        changes_state=False,  # answers CREDIT_LIMIT_EXCEEDED: the caller has no limit
    ),
    Row(
        "reviewLoan",
        "mutation ($id: ID!) { reviewLoan(input: {loanId: $id, level: 1, decision: APPROVE,"
        ' reason: "matrix test"}) { __typename } }',
        "loan:review",
        "risk_l1",
        "credit",
    ),
]
MATRIX += [
    Row("myBids", "{ myBids { totalCount } }", "bid:place", "member", "cs"),
    Row(
        "placeBid",
        'mutation { placeBid(input: {loanId: "999999", amount: "100.00",'
        ' idempotencyKey: "bid-12345678"}) { __typename } }',
        "bid:place",
        "member",
        "risk_l1",
        changes_state=False,  # answers NOT_FOUND: there is no such loan
    ),
    Row(
        "myAutoBidRule",
        "{ myAutoBidRule { id enabled queuePlace } }",
        "bid:place",
        "member",
        "cs",
    ),
    Row(
        "setAutoBidRule",
        'mutation { setAutoBidRule(input: {minRate: "0.0800", maxRate: "0.2000", minTerm: 1,'
        ' maxTerm: 36, grades: ["AA", "A"], methods: [EQUAL_INSTALLMENT],'
        ' amountPerLoan: "500.00", keepBalance: "0.00"}) { __typename } }',
        "bid:place",
        "member",
        "risk_l1",
    ),
    Row(
        "disableAutoBidRule",
        "mutation { disableAutoBidRule { __typename } }",
        "bid:place",
        "member",
        "cs",
    ),
]
MATRIX += [
    Row(
        "transferListings",
        "{ transferListings(first: 5) { totalCount } }",
        PUBLIC,
        "risk_l1",
        "partner",
    ),
    Row("myTransfers", "{ myTransfers(first: 5) { totalCount } }", "bid:place", "member", "cs"),
    Row(
        "collateralItems",
        "query ($loan: ID!) { collateralItems(loanId: $loan) { loanId loanToValue } }",
        "profile:read",
        "risk_l1",
        "partner",
    ),
    Row(
        "addCollateralItem",
        "mutation ($loan: ID!) { addCollateralItem(input: {loanId: $loan, kind: PROPERTY,"
        ' description: "A flat", registrationNumber: "R-2", registrationAuthority:'
        ' "Registry", lienRank: 1}) { __typename ... on CollateralItemAdded { item { id } } } }',
        "loan:review",
        "risk_l1",
        "finance",
    ),
    Row(
        "addCollateralValuation",
        "mutation ($item: ID!) { addCollateralValuation(input: {itemId: $item, appraiser:"
        ' "Appraiser Co", method: "MARKET", value: "1000.00", valuedOn: "2026-12-01"}) {'
        " __typename ... on CollateralValued { loanToValue } } }",
        "loan:review",
        "risk_l1",
        "finance",
    ),
    Row(
        "requestCollateralTransfer",
        "mutation ($item: ID!) { requestCollateralTransfer(input: {itemId: $item, to: HOLDERS,"
        ' reason: "In default"}) { __typename ... on CollateralTransferError { code } } }',
        "loan:review",
        "risk_l1",
        "finance",
        changes_state=False,
    ),
    Row(
        "approveCollateralTransfer",
        'mutation { approveCollateralTransfer(transferId: "999999") { __typename'
        " ... on CollateralTransferError { code } } }",
        "loan:review:l3",
        "risk_l3",
        "risk_l1",
        changes_state=False,
    ),
    Row(
        "recordCollateralDisposal",
        "mutation ($item: ID!) { recordCollateralDisposal(input: {itemId: $item, buyer:"
        ' "Buyer", price: "100.00", costs: "1.00", soldOn: "2026-12-01", channel: GATEWAY,'
        ' idempotencyKey: "matrix-disposal-1"}) { __typename'
        " ... on RecordCollateralDisposalError { code } } }",
        "loan:review",
        "risk_l1",
        "finance",
        changes_state=False,
    ),
    Row(
        "myTransferListings",
        "{ myTransferListings(first: 5) { totalCount } }",
        "bid:place",
        "member",
        "cs",
    ),
    Row(
        "claimTransfers",
        "{ claimTransfers(first: 5) { totalCount } }",
        "finance:read",
        "finance",
        "cs",
    ),
    Row(
        "listClaimForTransfer",
        'mutation { listClaimForTransfer(input: {claimId: "999999", principal: "100.00",'
        ' rate: "-0.0200", idempotencyKey: "list-12345678"}) { __typename } }',
        "bid:place",
        "member",
        "risk_l1",
        changes_state=False,  # answers NOT_FOUND: there is no such claim
    ),
    Row(
        "buyClaim",
        'mutation { buyClaim(input: {listingId: "999999", principal: "100.00", version: 1,'
        ' idempotencyKey: "buy-12345678"}) { __typename } }',
        "bid:place",
        "member",
        "risk_l1",
        changes_state=False,  # answers NOT_FOUND: there is no such listing
    ),
    Row(
        "cancelTransferListing",
        'mutation { cancelTransferListing(input: {listingId: "999999"}) { __typename } }',
        "bid:place",
        "member",
        "cs",
        changes_state=False,  # answers NOT_FOUND: there is no such listing
    ),
]
MATRIX += [
    Row("contracts", "{ contracts(first: 1) { totalCount } }", "profile:read", "cs", "partner"),
    Row(
        "createDownloadLink",
        'mutation { createDownloadLink(input: {kind: CONTRACT, id: "999999"}) { __typename } }',
        "profile:read",
        "cs",
        "partner",
        changes_state=False,  # NOT_FOUND: there is no such contract (a link writes nothing)
    ),
    Row(
        "contract",
        "query ($id: ID!) { contract(id: $id) { number } }",
        "profile:read",
        "auditor",
        "partner",
    ),
    Row(
        "verifyContract",
        '{ verifyContract(sha256: "' + "0" * 64 + '") { valid } }',
        PUBLIC,
        "admin",
        "partner",
    ),
    Row(
        "contractTemplates",
        "{ contractTemplates { kind version } }",
        "contracts:manage",
        "admin",
        "cs",
    ),
    Row(
        "contractEmails",
        "{ contractEmails(first: 1) { totalCount } }",
        "contracts:read",
        "auditor",
        "credit",
    ),
    Row(
        "requestContractSignature",
        'mutation { requestContractSignature(input: {contractId: "999999"}) { __typename } }',
        "contracts:sign",
        "guarantor",
        "cs",
        changes_state=False,  # NOT_FOUND: the caller is party to no contract
    ),
    Row(
        "signContract",
        'mutation { signContract(input: {contractId: "999999", code: "123456"}) { __typename } }',
        "contracts:sign",
        "member",
        "finance",
        changes_state=False,
    ),
    Row(
        "emailContract",
        'mutation { emailContract(input: {contractId: "999999"}) { __typename } }',
        "contracts:read",
        "cs",
        "credit",
        changes_state=False,
    ),
    Row(
        "publishContractTemplate",
        "mutation { publishContractTemplate(input: {kind: CLAIM_TRANSFER,"
        ' title: "Transfer v2", body: "# Transfer $number"}) { __typename } }',
        "contracts:manage",
        "admin",
        "auditor",
    ),
]
MATRIX += [
    Row(
        "mySchedule",
        "query ($loanId: ID!) { mySchedule(loanId: $loanId) { loanId status } }",
        "account:use",
        "member",
        "cs",
    ),
    Row("myReceivables", "{ myReceivables { claimId } }", "account:use", "member", "cs"),
    Row("myRepayments", "{ myRepayments { totalCount } }", "account:use", "member", "cs"),
    Row(
        "repay",
        'mutation { repay(input: {loanId: "999999", mode: NEXT,'
        ' idempotencyKey: "repay-12345678"}) { __typename } }',
        "account:use",
        "member",
        "risk_l1",
        changes_state=False,  # answers NOT_FOUND: there is no such loan
    ),
]
MATRIX += [
    Row(
        "overdueLoans",
        "{ overdueLoans(first: 5) { totalCount } }",
        "collection:read",
        "collector",
        "finance",
    ),
    Row(
        "collectionRecords",
        '{ collectionRecords(loanId: "999999") { kind note } }',
        "collection:read",
        "auditor",
        "credit",
    ),
    Row(
        "addCollectionRecord",
        'mutation { addCollectionRecord(input: {loanId: "999999", kind: CALL,'
        ' note: "matrix test"}) { __typename } }',
        "collection:write",
        "collector",
        "cs",
        changes_state=False,  # NOT_FOUND: there is no such loan
    ),
    Row(
        "assignCollector",
        'mutation { assignCollector(input: {loanId: "999999", collectorId: "VXNlcjox"})'
        " { __typename } }",
        "collection:write",
        "collector",
        "auditor",
        changes_state=False,  # NOT_A_COLLECTOR / NOT_FOUND: nothing to assign
    ),
    # Partner fields: "staff_with" is a partner's key running the document by id (keys
    # never send bodies); a login holding the partner role is tested in each domain.
    Row(
        "industryCreditQuery",
        "query ($id: String!) { industryCreditQuery(input: {idNumber: $id,"
        ' purpose: "matrix test"}) { known } }',
        "partner:query",
        "partner",
        "credit",
    ),
    Row(
        "partnerUsage",
        "{ partnerUsage { day operation outcome count } }",
        "partner:query",
        "partner",
        "credit",
    ),
]
MATRIX += [
    # Investor returns (M12.3): anyone logged in reads their own; the platform's needs
    # analytics:read (another lender's too: tests/analytics/test_returns.py).
    Row("lenderReturns", "{ lenderReturns { invested } }", "profile:read", "cs", "partner"),
    Row("platformReturns", "{ platformReturns { invested } }", "analytics:read", "auditor", "cs"),
]
MATRIX += [
    # Platform and risk figures (M12.1, M12.2): tests/analytics/test_figures.py.
    Row(
        "platformFigures",
        "{ platformFigures { cumulativeVolume } }",
        "analytics:read",
        "risk_l1",
        "cs",
    ),
    Row("riskFigures", "{ riskFigures { overdueAmount } }", "analytics:read", "finance", "cs"),
]
MATRIX += [
    # The monthly disclosure (R7), for anyone: tests/analytics/test_disclosure.py.
    Row("disclosures", "{ disclosures { month } }", PUBLIC, "admin", "partner"),
    Row("disclosure", "{ disclosure { month } }", PUBLIC, "admin", "partner"),
]
MATRIX += [
    # Guarantees (issue 21): the flows are tests/guarantees/test_guarantees_api.py. Staff
    # callers act for a company with a request waiting (`_guarantee_company`).
    Row(
        "guaranteePolicies",
        "{ guaranteePolicies(first: 5) { totalCount } }",
        "profile:read",
        "guarantor",
        "partner",
    ),
    Row(
        "guarantorExposure",
        "{ guarantorExposure { exposure requiredMargin } }",
        "guarantee:read",
        "guarantor",
        "cs",
    ),
    Row(
        "requestGuarantee",
        "mutation ($loan: ID!, $company: ID!) { requestGuarantee(input: {loanId: $loan,"
        " companyId: $company}) { __typename ... on GuaranteeRequested { policy { id } } } }",
        "loan:publish",
        "member",
        "risk_l1",
    ),
    Row(
        "issueGuaranteePolicy",
        "mutation ($policy: ID!) { issueGuaranteePolicy(input: {policyId: $policy,"
        " coverage: PRINCIPAL, coversPenalty: false, triggerDays: 30, mayDrawMargin: true})"
        " { __typename } }",
        "guarantee:manage",
        "guarantor",
        "finance",
        changes_state=False,  # MARGIN_INSUFFICIENT: the company has no margin
    ),
    Row(
        "declineGuaranteeRequest",
        "mutation ($policy: ID!) { declineGuaranteeRequest(input: {policyId: $policy,"
        ' reason: "matrix test"}) { __typename ... on GuaranteeRequestDeclined'
        " { policy { status } } } }",
        "guarantee:manage",
        "guarantor",
        "auditor",
    ),
    Row(
        "compensateInstallment",
        "mutation ($policy: ID!) { compensateInstallment(input: {policyId: $policy,"
        " installment: 1}) { __typename ... on CompensateInstallmentError { code } } }",
        "guarantee:manage",
        "guarantor",
        "auditor",
        changes_state=False,
    ),
    Row(
        "createGuaranteeCompany",
        'mutation { createGuaranteeCompany(input: {name: "Matrix Guarantee Co.",'
        ' licenceNumber: "GL-MATRIX-1"}) { __typename ... on GuaranteeCompanyCreated'
        " { company { id } } } }",
        "guarantors:manage",
        "admin",
        "finance",
    ),
    Row(
        "addGuarantorStaff",
        "mutation ($company: ID!, $userId: ID!) { addGuarantorStaff(input: {companyId:"
        " $company, userId: $userId}) { __typename ... on GuarantorStaffAdded { userId } } }",
        "guarantors:manage",
        "admin",
        "auditor",
    ),
    Row(
        "depositToGuarantor",
        'mutation { depositToGuarantor(input: {amount: "10.00", channel: GATEWAY,'
        ' idempotencyKey: "k-12345678"}) { __typename ... on DepositStarted'
        " { deposit { payUrl } } } }",
        "guarantee:manage",
        "guarantor",
        "finance",
    ),
    Row(
        "fundGuaranteeMargin",
        'mutation { fundGuaranteeMargin(input: {amount: "10.00",'
        ' idempotencyKey: "k-12345678"}) { __typename } }',
        "guarantee:manage",
        "guarantor",
        "cs",
        changes_state=False,  # INSUFFICIENT_FUNDS: nothing was deposited
    ),
    Row(
        "releaseGuaranteeMargin",
        'mutation { releaseGuaranteeMargin(input: {amount: "10.00",'
        ' idempotencyKey: "k-12345678"}) { __typename } }',
        "guarantee:manage",
        "guarantor",
        "risk_l1",
        changes_state=False,  # MARGIN_BELOW_REQUIRED: there is no margin to release
    ),
]
MATRIX += [
    Row(
        "serviceCases", "{ serviceCases(first: 5) { totalCount } }", "profile:read", "cs", "partner"
    ),
    Row(
        "openServiceCase",
        'mutation { openServiceCase(input: {kind: ENQUIRY, subject: "Hello", text: "A question"})'
        " { __typename ... on ServiceCaseSaved { case { id } } } }",
        "profile:read",
        "member",
        "partner",
    ),
    Row(
        "answerServiceCase",
        'mutation ($case: ID!) { answerServiceCase(input: {caseId: $case, text: "An answer"})'
        " { __typename ... on ServiceCaseSaved { case { id } } } }",
        "profile:read",
        "cs",
        "partner",
    ),
    Row(
        "assignServiceCase",
        "mutation ($case: ID!, $assignee: ID!) { assignServiceCase(input: {caseId: $case,"
        " assigneeId: $assignee}) { __typename ... on ServiceCaseSaved { case { id } } } }",
        "cases:manage",
        "cs",
        "finance",
    ),
    Row(
        "escalateServiceCase",
        'mutation ($case: ID!) { escalateServiceCase(input: {caseId: $case, reason: "Hard"})'
        " { __typename ... on ServiceCaseSaved { case { id } } } }",
        "cases:manage",
        "cs",
        "risk_l1",
    ),
    Row(
        "closeServiceCase",
        'mutation ($case: ID!) { closeServiceCase(input: {caseId: $case, resolution: "Done"})'
        " { __typename ... on ServiceCaseSaved { case { id } } } }",
        "cases:manage",
        "cs",
        "collector",
    ),
    Row(
        "reopenServiceCase",
        'mutation ($case: ID!) { reopenServiceCase(input: {caseId: $case, text: "Again"})'
        " { __typename ... on ServiceCaseSaved { case { id } } } }",
        "profile:read",
        "member",
        "partner",
    ),
    Row(
        "rateServiceCase",
        "mutation ($case: ID!) { rateServiceCase(input: {caseId: $case, rating: 5})"
        " { __typename ... on ServiceCaseSaved { case { id } } } }",
        "profile:read",
        "member",
        "partner",
    ),
]
MATRIX += [
    # The help centre (issue 22, M1.13): tests/help. Reading is for anyone; writing needs
    # help:manage (cs and admin). Each case has a published article (`_help_article`).
    Row("helpCategories", "{ helpCategories { slug } }", PUBLIC, "cs", "partner"),
    Row("helpArticles", "{ helpArticles(first: 5) { totalCount } }", PUBLIC, "cs", "partner"),
    Row(
        "helpArticle",
        "query ($article: ID!) { helpArticle(id: $article) { slug } }",
        PUBLIC,
        "cs",
        "partner",
    ),
    Row(
        "helpArticleVersions",
        "query ($article: ID!) { helpArticleVersions(articleId: $article) { number } }",
        "help:manage",
        "cs",
        "finance",
    ),
    Row(
        "saveHelpCategory",
        'mutation { saveHelpCategory(input: {slug: "matrix", name: "Matrix"}) { __typename'
        " ... on HelpCategorySaved { category { id } } } }",
        "help:manage",
        "admin",
        "auditor",
    ),
    Row(
        "saveHelpArticle",
        "mutation ($article: ID!, $category: ID!) { saveHelpArticle(input: {articleId:"
        ' $article, categoryId: $category, slug: "matrix-article", title: "改", body: "改",'
        " status: DRAFT}) { __typename ... on HelpArticleSaved { article { version } } } }",
        "help:manage",
        "cs",
        "finance",
    ),
    Row(
        "rateHelpArticle",
        "mutation ($article: ID!) { rateHelpArticle(input: {articleId: $article, helpful:"
        ' true, visitorKey: "matrix-visitor-key"}) { __typename'
        " ... on HelpArticleRated { article { helpfulCount } } } }",
        PUBLIC,
        "cs",
        "partner",
    ),
]
MATRIX_BY_FIELD = {row.field: row for row in MATRIX}


def _grants(role: str) -> set[str]:
    return {str(code) for code in DEFAULT_ROLES[role][2]}


async def test_matrix_covers_every_root_field_with_its_declared_permission():
    assert len(MATRIX_BY_FIELD) == len(MATRIX), "a field is listed twice"
    roots = _root_fields(build_schema(get_settings()))
    schema_fields = {**roots["Query"], **roots["Mutation"]}
    assert set(MATRIX_BY_FIELD) == set(schema_fields), (
        "add a matrix row for every new root field (and drop rows of removed ones): "
        f"missing {sorted(set(schema_fields) - set(MATRIX_BY_FIELD))}, "
        f"stale {sorted(set(MATRIX_BY_FIELD) - set(schema_fields))}"
    )
    for name, field in schema_fields.items():
        row = MATRIX_BY_FIELD[name]
        declared = [d.permission for d in field.directives if isinstance(d, AuthDirective)]
        assert declared == ([] if row.permission == PUBLIC else [row.permission]), name
        assert row.is_mutation == (name in roots["Mutation"]), name
        assert f"{name}(" in row.document or f"{name} " in row.document, name
        if row.permission != PUBLIC:
            assert row.permission in _grants(row.role_with), (name, row.role_with)
            assert row.permission not in _grants(row.role_without), (name, row.role_without)


async def _state() -> dict[str, Any]:
    """Everything a protected mutation of the matrix could change."""
    return {
        "users": sorted(await User.all().values_list("id", "kind", "status", "password_hash")),
        "grants": sorted(await RolePermission.all().values_list("role_id", "permission")),
        "user_roles": sorted(await UserRole.all().values_list("user_id", "role_id")),
        "clock": await ClockState.all().values_list("offset_seconds", flat=True),
        "revoked_access": await RevokedAccessToken.all().count(),
        "revoked_refresh": await RefreshToken.filter(revoked_at__isnull=False).count(),
        "reveals": await PersonalDataReveal.all().count(),
        "status_changes": sorted(await AccountStatusChange.all().values_list("id", "state")),
        "deletion_requests": await DataDeletionRequest.all().count(),
        "custody": await ProviderAccount.all().count(),
        "cards": await BankCard.all().count(),
        "deposits": await Deposit.all().count(),
        "pending_operations": await PendingOperation.all().count(),
        "instructions": await PaymentInstruction.all().count(),
        "verifications": await VerificationSubmission.all().count(),
        "parameters": await PlatformParameter.all().count(),
        "reviews": await VerificationReview.all().count(),
        "credit_changes": await CreditLimitChange.all().count(),
        "risk_assessments": await RiskAssessment.all().count(),
        "risk_notice_confirmations": await RiskNoticeConfirmation.all().count(),
        "loans": sorted(await Loan.all().values_list("id", "status", "collector_id")),
        "collateral": (
            await CollateralItem.all().count(),
            await CollateralValuation.all().count(),
        ),
        "loan_reviews": await LoanReview.all().count(),
        "bids": await Bid.all().count(),
        "auto_bid_rules": sorted(
            await AutoBidRule.all().values_list("id", "enabled", "amount_per_loan_fen")
        ),
        "idempotency": await IdempotencyRecord.all().count(),
        "contracts": sorted(await Contract.all().values_list("id", "status")),
        "contract_consents": await ContractConsent.all().count(),
        "contract_emails": await ContractEmail.all().count(),
        "contract_templates": await ContractTemplate.all().count(),
        "collection_records": await CollectionRecord.all().count(),
        "help": (
            sorted(await HelpCategory.all().values_list("id", "slug")),
            sorted(await HelpArticle.all().values_list("id", "version", "helpful_count")),
            await HelpArticleVersion.all().count(),
        ),
        "service_cases": (
            sorted(
                await ServiceCase.all().values_list(
                    "id", "status", "level", "assignee_id", "rating", "reopened"
                )
            ),
            await CaseMessage.all().count(),
        ),
        "guarantees": (
            sorted(await GuaranteeCompany.all().values_list("id", "status")),
            sorted(await GuarantorStaff.all().values_list("company_id", "user_id")),
            sorted(await GuaranteePolicy.all().values_list("id", "status", "version")),
        ),
    }


async def _caller(actor: str, row: Row) -> tuple[User | None, str | None]:
    """A fresh user and token per case (logout revokes the token it is called with); for
    a partner field's "staff_with", a partner's key."""
    if actor == "anonymous":
        return None, None
    if actor == "staff_with" and row.role_with == "partner":
        issued = await partner_keys.add_partner(
            code="matrix", name="Matrix", sets=["matrix"], rate_per_minute=100, daily_quota=100
        )
        return None, issued.key
    if actor == "member" or (actor == "staff_with" and row.role_with == "member"):
        user, phone = await create_member()
    else:
        user, phone = await create_staff(
            row.role_with if actor == "staff_with" else row.role_without
        )
    return user, await token_for(phone)


def _global_id(user: User) -> str:
    return str(relay.GlobalID("User", str(user.id)))


async def _variables(row: Row, caller: User | None) -> dict[str, Any]:
    if row.field == "industryCreditQuery":
        return {"id": new_id_number()}
    if row.field == "decideAccountStatusChange":
        target, _phone = await create_member()
        proposer, _phone = await create_staff("cs")
        change = await AccountStatusChange.create(
            user_id=target.id,
            from_status="active",
            to_status="closed",
            reason="Member asked to leave",
            state="PENDING",
            proposed_by_id=proposer.id,
            created_at=await clock.now(),
        )
        return {"change": str(change.id)}
    if row.field in (
        "revealPersonalData",
        "customer",
        "setAccountStatus",
        "memberCredit",
        "freezeCreditLimit",
        "unfreezeCreditLimit",
        "setTemporaryCreditLimit",
    ):
        target, _phone = await create_member()
        return {"userId": _global_id(target)}
    if row.field == "reviewVerification":
        file_id = await _stored_material_file()
        return {"id": str((await MaterialFile.get(id=int(file_id))).submission_id)}
    if row.field == "loan":
        return {"id": str(await _loan(listed=True))}
    if row.field == "collateralItems":
        # A member sees the collateral of their own loan; reviewers see any.
        mine = caller is not None and caller.kind == "member"
        return {"loan": str(await _loan(listed=True, borrower_id=caller.id if mine else None))}
    if row.field == "addCollateralItem":
        return {"loan": str(await _loan(listed=True))}
    if row.field in (
        "addCollateralValuation",
        "requestCollateralTransfer",
        "recordCollateralDisposal",
    ):
        loan_id = await _loan(listed=True)
        item = await CollateralItem.create(
            loan_id=loan_id,
            owner_id=(await Loan.get(id=loan_id)).borrower_id,
            kind="PROPERTY",
            description="A flat",
            registration_number="R-1",
            registration_authority="Registry",
            lien_rank=1,
            recorded_by=1,
            created_at=await clock.now(),
            updated_at=await clock.now(),
        )
        return {"item": str(item.id)}
    if row.field in _HELP_FIELDS:
        return await _help_article(row)
    if row.field in _ACTING_FOR_A_COMPANY:
        _company_id, policy_id = await _guarantee_company(caller)
        return {"policy": str(policy_id)} if "$policy" in row.document else {}
    if row.field == "requestGuarantee":
        # The caller's own loan in review when a member (another member's otherwise).
        mine = caller is not None and caller.kind == "member"
        company_id, _policy_id = await _guarantee_company(None)
        loan_id = await _loan(listed=False, borrower_id=caller.id if mine else None)
        return {"loan": str(loan_id), "company": str(company_id)}
    if row.field == "addGuarantorStaff":
        company_id, _policy_id = await _guarantee_company(None)
        target, _phone = await create_staff("guarantor")
        return {"company": str(company_id), "userId": _global_id(target)}
    if row.field in _ON_A_CASE:
        return await _case_variables(row, caller)
    if row.field == "reviewLoan":
        return {"id": str(await _loan(listed=False))}
    if row.field == "assignRoles":
        target, _phone = await create_staff("cs")
        return {"userId": _global_id(target)}
    if row.field == "openAccount":
        return {"id": new_id_number()}
    if row.field == "verifyMaterial":
        return {"fileId": await _stored_material_file()}
    if row.field == "confirmRiskNotice":
        return {"assessmentId": await _risk_assessment_of(caller)}
    if row.field == "setAutoBidRule" and caller is not None:
        # A member who may lend (the verifications required for lending approved), so
        # the rule is really saved.
        await approve_verifications(caller.id, lending_kinds())
    if row.field in ("myAutoBidRule", "disableAutoBidRule") and caller is not None:
        # An enabled rule of the caller's, so there is one to show or to disable.
        await _auto_bid_rule_of(caller)
    if row.field == "disclosure":
        await published_month()  # a month published, so there is one to show
    if row.field == "contract":
        # A contract the caller is party to (members see only those); staff see any.
        return {"id": await _contract_of(caller)}
    if row.field == "mySchedule":
        # A loan being repaid whose borrower is the caller (a new member's otherwise).
        return {"loanId": str(await _repaying_loan_of(caller))}
    if row.field == "node":
        # The caller's own account: anyone logged in may see it, so it is never null.
        target = caller or (await create_member())[0]
        return {"id": _global_id(target)}
    return {}


async def _loan(*, listed: bool, borrower_id: int | None = None) -> int:
    """Another member's loan (or `borrower_id`'s), listed or waiting for level 1 (written
    directly: the flow has its own tests)."""
    from decimal import Decimal

    if borrower_id is None:
        borrower, _phone = await create_member()
        borrower_id = borrower.id
    loan = await Loan.create(
        borrower_id=borrower_id,
        amount_fen=100_000,
        annual_rate=Decimal("0.12"),
        term_months=12,
        method="EQUAL_INSTALLMENT",
        day_count="MONTHLY_30_360",
        purpose="matrix test",
        bid_window_days=5,
        min_bid_fen=5_000,
        max_bid_fen=100_000,
        status=LoanStatus.LISTED if listed else LoanStatus.PENDING_REVIEW,
        listed_at=await clock.now() if listed else None,
        required_levels=[1, 2],
        next_review_level=None if listed else 1,
        all_in_cost=Decimal("0.183546"),
        fee_terms={"monthly_service_fee_rate": "0.0030"},
        created_at=await clock.now(),
    )
    return loan.id


_ACTING_FOR_A_COMPANY = {
    "guaranteePolicies",
    "guarantorExposure",
    "issueGuaranteePolicy",
    "declineGuaranteeRequest",
    "compensateInstallment",
    "depositToGuarantor",
    "fundGuaranteeMargin",
    "releaseGuaranteeMargin",
}


_ON_A_CASE = {
    "answerServiceCase",
    "assignServiceCase",
    "escalateServiceCase",
    "closeServiceCase",
    "reopenServiceCase",
    "rateServiceCase",
}


async def _case_variables(row: Row, caller: User | None) -> dict[str, Any]:
    """A case of the caller's when a member (another member's otherwise), closed for
    reopening and rating (written directly: the flows have their own tests); assignments
    go to the caller (case staff when allowed)."""
    member = caller if caller is not None and str(caller.kind) == "member" else None
    if member is None:
        member = (await create_member())[0]
    now = await clock.now()
    closed = row.field in ("reopenServiceCase", "rateServiceCase")
    case = await ServiceCase.create(
        member_id=member.id,
        kind="ENQUIRY",
        subject="Matrix",
        status="CLOSED" if closed else "OPEN",
        opened_at=now,
        waiting_since=None if closed else now,
        warn_at=None if closed else now + timedelta(hours=40),
        due_at=None if closed else now + timedelta(hours=48),
        closed_at=now if closed else None,
        updated_at=now,
    )
    await CaseMessage.create(
        case_id=case.id, entry="MEMBER", author_id=member.id, text="Matrix", created_at=now
    )
    variables = {"case": str(case.id)}
    if row.field == "assignServiceCase":
        variables["assignee"] = str(caller.id if caller is not None else 1)
    return variables


async def _guarantee_company(caller: User | None) -> tuple[int, int]:
    """A guarantee company (custody account open at the provider, no money) with a
    borrower's request on a loan in review; a staff caller acts for it (written directly:
    only guarantors may, which the flows test). Returns the company and policy ids."""
    from services.guarantees import companies
    from services.identity.permissions import Actor

    company = await companies.create_company(
        actor=Actor(kind="staff"), name="Matrix Guarantor Ltd.", licence_number="GL-MATRIX-0"
    )
    if caller is not None and caller.kind == "staff":
        await GuarantorStaff.create(
            company_id=company.id, user_id=caller.id, created_at=await clock.now()
        )
    loan_id = await _loan(listed=False)
    policy = await GuaranteePolicy.create(
        loan_id=loan_id,
        company_id=company.id,
        requested_by=(await Loan.get(id=loan_id)).borrower_id,
        created_at=await clock.now(),
    )
    return company.id, policy.id


_HELP_FIELDS = {"helpArticle", "helpArticleVersions", "saveHelpArticle", "rateHelpArticle"}


async def _help_article(row: Row) -> dict[str, Any]:
    """A published help article in a category (written through the service: its flows
    have their own tests)."""
    from services.help import articles
    from services.identity.permissions import Actor

    writer = Actor(user_id=1, kind="staff")
    category = await articles.save_category(
        actor=writer, category_id=None, slug="matrix-help", name="帮助", description="", position=0
    )
    article = await articles.save_article(
        actor=writer,
        article_id=None,
        draft=articles.ArticleDraft(
            slug="matrix-help-article",
            category_id=category.id,
            title="逾期还款",
            body="逾期还款怎么办",
            status=ArticleStatus.PUBLISHED,
        ),
    )
    found = {"article": str(article.id)}
    if "$category" in row.document:
        found["category"] = str(category.id)
    return found


async def _repaying_loan_of(caller: User | None) -> int:
    """A loan being repaid, the caller's when a member (written directly: the flow has
    its own tests)."""
    from decimal import Decimal

    borrower = caller if caller is not None and str(caller.kind) == "member" else None
    if borrower is None:
        borrower, _phone = await create_member()
    now = await clock.now()
    loan = await Loan.create(
        borrower_id=borrower.id,
        amount_fen=100_000,
        annual_rate=Decimal("0.12"),
        term_months=12,
        method="EQUAL_INSTALLMENT",
        day_count="MONTHLY_30_360",
        purpose="matrix test",
        bid_window_days=5,
        min_bid_fen=5_000,
        max_bid_fen=100_000,
        status=LoanStatus.REPAYING,
        listed_at=now,
        closed_at=now,
        disbursed_at=now,
        required_levels=[1, 2],
        all_in_cost=Decimal("0.183546"),
        fee_terms={"monthly_service_fee_rate": "0.0030"},
        created_at=now,
    )
    return loan.id


async def _auto_bid_rule_of(caller: User) -> None:
    """An enabled automatic bidding rule of the caller's (written directly: the opt-in
    flow has its own tests)."""
    from decimal import Decimal

    now = await clock.now()
    await AutoBidRule.create(
        user_id=caller.id,
        enabled=True,
        min_rate=Decimal("0.05"),
        max_rate=Decimal("0.20"),
        min_term=1,
        max_term=36,
        grades=["AA", "A", "B"],
        methods=["EQUAL_INSTALLMENT"],
        amount_per_loan_fen=50_000,
        keep_balance_fen=0,
        queue_position=1,
        opted_in_at=now,
        created_at=now,
        updated_at=now,
    )


async def _stored_material_file() -> str:
    """A member's submission with one file; returns the file id."""
    from services.credit import materials
    from services.identity.permissions import Actor

    owner, _phone = await create_member()
    png = b"\x89PNG\r\n\x1a\n" + b"matrix" * 10
    submission = await materials.submit(
        Actor(user_id=owner.id, kind="member"),
        "LIFE_PHOTOS",
        {},
        [("photo.png", "image/png", png)],
    )
    return str(submission.files[0].id)


async def _contract_of(caller: User | None) -> str:
    """A loan contract whose borrower is the caller when a member, else a new member."""
    from services.contracts import create_loan_contract
    from tests.factories import full_loan_data

    borrower = caller if caller is not None and str(caller.kind) == "member" else None
    contract = await create_loan_contract(await full_loan_data(borrower=borrower))
    return str(contract.id)


async def _risk_assessment_of(caller: User | None) -> str:
    """The caller's assessment (a new member's for anonymous callers); returns its id."""
    from services.credit import risk_assessment
    from services.identity.permissions import Actor

    owner = caller or (await create_member())[0]
    assessment = await risk_assessment.submit_assessment(
        Actor(user_id=owner.id, kind=str(owner.kind)), RISK_ANSWERS
    )
    return str(assessment.id)


def _expected(actor: str, row: Row) -> str | None:
    """The error code the caller must get, or None when the call must go through."""
    if row.permission == PUBLIC:
        return None
    if actor == "anonymous":
        return "UNAUTHENTICATED"
    role = {"member": "member", "staff_without": row.role_without, "staff_with": row.role_with}
    return None if row.permission in _grants(role[actor]) else "FORBIDDEN"


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("row", MATRIX, ids=[row.field for row in MATRIX])
async def test_permission_matrix(client, row, actor):
    caller, token = await _caller(actor, row)
    variables = await _variables(row, caller)
    before = await _state()

    if actor == "staff_with" and row.role_with == "partner":
        body = await _by_partner_key(client, row, variables, token)
    else:
        body = await gql(client, row.document, variables, token=token)

    expected = _expected(actor, row)
    if expected is None:
        assert "errors" not in body, body
        assert body["data"][row.field] is not None, body
        if row.is_mutation and row.permission != PUBLIC and row.changes_state:
            # The protected mutation really ran (so "unchanged" below means something).
            assert await _state() != before, body
    else:
        assert error_codes(body) == [expected], body
        # Non-null fields null the whole `data`; nullable ones (node) only themselves.
        assert (body["data"] or {}).get(row.field) is None, body
        if row.is_mutation:
            assert await _state() == before, "a refused mutation changed something"


async def _by_partner_key(
    client: httpx.AsyncClient, row: Row, variables: dict[str, Any], key: str | None
) -> dict[str, Any]:
    """The row's document published (named Matrix, in the partner's set) and run by id."""
    document = row.document
    body = (
        document.replace("query (", "query Matrix(", 1)
        if document.startswith("query (")
        else "query Matrix " + document
    )
    operation = manifest.Operation(manifest.document_id(body), "Matrix", "query", body)
    schema = build_schema(get_settings())._schema
    await manifest.load(
        manifest.render([operation]), schema, manifest.render_sets({"matrix": ["Matrix"]})
    )
    response = await client.post(
        "/graphql",
        json={"documentId": f"sha256:{operation.id}", "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_matrix_expectations_match_the_roles():
    """Guards the matrix itself: members get through exactly where their role says so."""
    member_allowed = {row.field for row in MATRIX if _expected("member", row) is None}
    assert member_allowed >= {"me", "myNotices", "logout", "businessClock", "login"}
    assert member_allowed.isdisjoint(
        {"roles", "permissionCodes", "operationLog", "verifyOperationLog", "createStaffUser"}
    )
    assert all(
        _expected("anonymous", r) == "UNAUTHENTICATED" for r in MATRIX if r.permission != PUBLIC
    )


# --- 3. Role changes apply on the next request -----------------------------------------------

ROLES = "{ roles { name permissions } }"
VERIFY = "{ verifyOperationLog { valid checked } }"
SET_PERMISSIONS = """
mutation ($role: String!, $permissions: [String!]!) {
  setRolePermissions(input: {role: $role, permissions: $permissions}) {
    __typename
    ... on RoleUpdated { role { name permissions } }
    ... on SetRolePermissionsError { code message }
  }
}"""
ASSIGN_ROLES = """
mutation ($userId: ID!, $roles: [String!]!) {
  assignRoles(input: {userId: $userId, roles: $roles}) {
    __typename
    ... on RolesAssigned { roles }
    ... on AssignRolesError { code message }
  }
}"""


async def _member_permissions(client, admin_token: str) -> list[str]:
    body = await gql(client, ROLES, token=admin_token)
    return next(r["permissions"] for r in body["data"]["roles"] if r["name"] == "member")


async def _set_member_permissions(client, admin_token: str, permissions: list[str]) -> None:
    body = await gql(
        client,
        SET_PERMISSIONS,
        {"role": "member", "permissions": permissions},
        token=admin_token,
    )
    result = body["data"]["setRolePermissions"]
    assert result["__typename"] == "RoleUpdated", result
    assert result["role"]["permissions"] == sorted(permissions)


async def test_role_permission_change_applies_on_the_next_request(client):
    _member, member_phone = await create_member()
    member_token = await token_for(member_phone)
    _admin, admin_phone = await create_staff("admin")
    admin_token = await token_for(admin_phone)

    # The member's permissions are read (and cached) before the change.
    refused = await gql(client, ROLES, token=member_token)
    assert error_codes(refused) == ["FORBIDDEN"]

    original = await _member_permissions(client, admin_token)
    assert "roles:read" not in original
    await _set_member_permissions(client, admin_token, [*original, "roles:read"])

    allowed = await gql(client, ROLES, token=member_token)
    assert "errors" not in allowed, allowed
    member_role = next(r for r in allowed["data"]["roles"] if r["name"] == "member")
    assert "roles:read" in member_role["permissions"]

    # Taking it away works just as fast.
    await _set_member_permissions(client, admin_token, original)
    assert error_codes(await gql(client, ROLES, token=member_token)) == ["FORBIDDEN"]


async def test_assigning_a_role_applies_on_the_next_request(client):
    staff, staff_phone = await create_staff("cs")
    staff_token = await token_for(staff_phone)
    _admin, admin_phone = await create_staff("admin")
    admin_token = await token_for(admin_phone)
    staff_id = _global_id(staff)

    assert error_codes(await gql(client, VERIFY, token=staff_token)) == ["FORBIDDEN"]

    assigned = await gql(
        client, ASSIGN_ROLES, {"userId": staff_id, "roles": ["cs", "auditor"]}, token=admin_token
    )
    assert assigned["data"]["assignRoles"] == {
        "__typename": "RolesAssigned",
        "roles": ["auditor", "cs"],
    }

    verified = await gql(client, VERIFY, token=staff_token)
    assert "errors" not in verified, verified
    assert verified["data"]["verifyOperationLog"]["valid"] is True

    # And removing it again takes the permission away from the same token.
    removed = await gql(
        client, ASSIGN_ROLES, {"userId": staff_id, "roles": ["cs"]}, token=admin_token
    )
    assert removed["data"]["assignRoles"]["__typename"] == "RolesAssigned"
    assert error_codes(await gql(client, VERIFY, token=staff_token)) == ["FORBIDDEN"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def _second_api_process(startup_seconds: float = 20.0) -> AsyncIterator[str]:
    """Another API process on the same database and Redis; yields its base URL."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "uvicorn",
            "--factory",
            "app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=log,
        )

        def output() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")[-4000:]

        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + startup_seconds
            async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as http:
                while True:
                    if process.returncode is not None:
                        pytest.fail(f"the second API process exited early:\n{output()}")
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if loop.time() > deadline:
                        pytest.fail(f"the second API process did not start:\n{output()}")
                    await asyncio.sleep(0.2)
            yield base_url
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), timeout=10)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def test_role_permission_change_reaches_another_process(client):
    if conftest.BACKEND != "postgres":
        pytest.skip(
            "cross-process cache invalidation needs PostgreSQL + Redis; on SQLite the "
            "embedded mode runs a single process by design"
        )
    _member, member_phone = await create_member()
    member_token = await token_for(member_phone)
    _admin, admin_phone = await create_staff("admin")
    admin_token = await token_for(admin_phone)
    original = await _member_permissions(client, admin_token)

    async with (
        _second_api_process() as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as other,
    ):
        # Fills the other process's caches (role grants, this token's actor) with the old state.
        refused = await gql(other, ROLES, token=member_token)
        assert error_codes(refused) == ["FORBIDDEN"]

        await _set_member_permissions(client, admin_token, [*original, "roles:read"])
        allowed = await gql(other, ROLES, token=member_token)
        assert "errors" not in allowed, allowed
        member_role = next(r for r in allowed["data"]["roles"] if r["name"] == "member")
        assert "roles:read" in member_role["permissions"]

        await _set_member_permissions(client, admin_token, original)
        assert error_codes(await gql(other, ROLES, token=member_token)) == ["FORBIDDEN"]
