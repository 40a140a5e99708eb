"""Issue 21, M1.9, M7.1-M7.2 through the API: guarantee companies, their margin, policies.

The admin registers a company and lets a staff user with the guarantor role act for it.
The staff deposit 3,000.00 through the gateway and fund 2,000.00 of margin: the ledger
has g:<id> 1,000.00 and g:<id>:margin 2,000.00, and the provider's account the same
(available, frozen). A borrower's loan of 10,000.05 in review asks for a guarantee; the
margin required with it is ceil(0.1 x 1,000,005 fen) = 100,001 fen = 1,000.01. With the
margin released to 1,000.00 (one fen short) the company cannot issue; with 0.01 more it
can, exactly. Then releasing 0.01 would take the margin below the required: refused,
nothing moved. Who sees what: a company's staff their company's policies and book,
finance any, a member their own loans' policies; another company's policy or book is
not found, a member's call of guarantorExposure forbidden.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from strawberry import relay

from models.guarantees import GuaranteeCompany, GuaranteeCompensation, GuaranteePolicy
from models.ledger import Journal
from models.loans import Loan
from models.members import User
from models.payments import PaymentInstruction, ProviderAccount
from services.loans import requests
from services.loans.schedule import RepaymentMethod
from services.money import ledger
from services.platform import clock
from simulation.people import member_actor
from tests.factories import create_member, create_staff, error_codes, gql, token_for
from tests.lending import listed_loan, settle_everything, verified_borrower

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

CREATE = """mutation ($name: String!, $licence: String!) {
  createGuaranteeCompany(input: {name: $name, licenceNumber: $licence}) { __typename
    ... on GuaranteeCompanyCreated { company { id name licenceNumber status } }
    ... on CreateGuaranteeCompanyError { code field } } }"""
ADD_STAFF = """mutation ($company: ID!, $user: ID!) {
  addGuarantorStaff(input: {companyId: $company, userId: $user}) { __typename
    ... on GuarantorStaffAdded { company { id } userId }
    ... on AddGuarantorStaffError { code field } } }"""
DEPOSIT = """mutation ($amount: Money!, $key: String!) {
  depositToGuarantor(input: {amount: $amount, channel: GATEWAY, idempotencyKey: $key}) {
    __typename ... on DepositStarted { deposit { id amount status payUrl channel } }
    ... on DepositToGuarantorError { code field } } }"""
MARGIN_FIGURES = "available margin exposure requiredMargin"
FUND = (
    """mutation ($amount: Money!, $key: String!) {
  fundGuaranteeMargin(input: {amount: $amount, idempotencyKey: $key}) { __typename
    ... on GuaranteeMarginMoved { """
    + MARGIN_FIGURES
    + """ } ... on FundGuaranteeMarginError { code field } } }"""
)
RELEASE = (
    """mutation ($amount: Money!, $key: String!) {
  releaseGuaranteeMargin(input: {amount: $amount, idempotencyKey: $key}) { __typename
    ... on GuaranteeMarginMoved { """
    + MARGIN_FIGURES
    + """ } ... on ReleaseGuaranteeMarginError { code field } } }"""
)
POLICY = """id loanId status coverage coversPenalty triggerDays mayDrawMargin declineReason
  marginAtIssue requiredAtIssue company { id name }
  compensations { installmentId amount fromMargin recovered }"""
REQUEST = (
    """mutation ($loan: ID!, $company: ID!) {
  requestGuarantee(input: {loanId: $loan, companyId: $company}) { __typename
    ... on GuaranteeRequested { policy { """
    + POLICY
    + """ } } ... on RequestGuaranteeError { code field } } }"""
)
ISSUE = (
    """mutation ($policy: ID!) {
  issueGuaranteePolicy(input: {policyId: $policy, coverage: PRINCIPAL_INTEREST,
    coversPenalty: true, triggerDays: 30, mayDrawMargin: true}) { __typename
    ... on GuaranteePolicyIssued { policy { """
    + POLICY
    + """ issuedAt } } ... on IssueGuaranteePolicyError { code field } } }"""
)
DECLINE = """mutation ($policy: ID!, $reason: String!) {
  declineGuaranteeRequest(input: {policyId: $policy, reason: $reason}) { __typename
    ... on GuaranteeRequestDeclined { policy { status declineReason } }
    ... on DeclineGuaranteeRequestError { code field } } }"""
POLICIES = (
    """query ($first: Int, $after: String, $status: GuaranteePolicyStatus, $loan: ID) {
  guaranteePolicies(first: $first, after: $after, status: $status, loanId: $loan) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { """
    + POLICY
    + """ } } } }"""
)
EXPOSURE = """query ($company: ID) { guarantorExposure(companyId: $company) {
  company { id name } available margin exposure requiredMargin coverageRatio
  compensationsPaid compensationsRecovered outstanding
  policyCounts { requested declined issued active triggered compensated recovered closed } } }"""


def _user_id(user: User) -> str:
    return str(relay.GlobalID("User", str(user.id)))


async def _admin() -> str:
    _user, phone = await create_staff("admin")
    return await token_for(phone)


async def _company(client, admin: str, name: str, licence: str) -> str:
    body = await gql(client, CREATE, {"name": name, "licence": licence}, token=admin)
    created = body["data"]["createGuaranteeCompany"]
    assert created["__typename"] == "GuaranteeCompanyCreated", created
    assert created["company"]["status"] == "ACTIVE"
    return str(created["company"]["id"])


async def _staff_of(client, admin: str, company_id: str) -> tuple[User, str]:
    """A staff user with the guarantor role, acting for the company; returns the user
    and a token."""
    user, phone = await create_staff("guarantor")
    added = await gql(
        client, ADD_STAFF, {"company": company_id, "user": _user_id(user)}, token=admin
    )
    assert added["data"]["addGuarantorStaff"] == {
        "__typename": "GuarantorStaffAdded",
        "company": {"id": company_id},
        "userId": _user_id(user),
    }
    return user, await token_for(phone)


async def _in_review(borrower_id: int, amount_fen: int) -> Loan:
    """The borrower publishes a loan: PENDING_REVIEW (no reviewer has seen it)."""
    loan = await requests.publish(
        member_actor(borrower_id),
        requests.LoanRequest(
            amount_fen=amount_fen,
            annual_rate=Decimal("0.1200"),
            term_months=12,
            method=RepaymentMethod.EQUAL_INSTALLMENT,
            purpose="Working capital",
            bid_window_days=10,
            min_bid_fen=5_000,
            max_bid_fen=amount_fen,
        ),
        idempotency_key=f"publish-{uuid.uuid4().hex[:16]}",
    )
    assert loan.status == "PENDING_REVIEW", loan.status
    return loan


async def _books(sandbox: Any, company_id: str) -> tuple[int, int]:
    """The company's (available, margin) in the ledger, asserted equal to its provider
    account's (available, frozen)."""
    code = f"g:{company_id}"
    books = (await ledger.balance(code), await ledger.balance(ledger.org_margin(code)))
    account = await ProviderAccount.get(owner_code=code)
    provider = await sandbox.balance(account.provider_account_id)
    assert (provider.available_fen, provider.frozen_fen) == books
    return books


async def _policy_state() -> list[tuple[Any, ...]]:
    return sorted(await GuaranteePolicy.all().values_list("id", "status", "version", "issued_at"))


async def _margin(client, document: str, amount: str, token: str) -> dict[str, Any]:
    key = f"margin-{uuid.uuid4().hex[:12]}"
    body = await gql(client, document, {"amount": amount, "key": key}, token=token)
    return dict(next(iter(body["data"].values())))


async def test_a_company_funds_its_margin_and_issues_within_it(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    admin = await _admin()
    company_id = await _company(client, admin, "Huaxin Guarantee Co.", "GL-2026-0001")
    _staff, staff = await _staff_of(client, admin, company_id)
    await settle_everything(sandbox)

    # 3,000.00 in through the bank gateway; the staff pay on the bank's page.
    started = (
        await gql(client, DEPOSIT, {"amount": "3000.00", "key": "company-dep-1"}, token=staff)
    )["data"]["depositToGuarantor"]
    assert started["__typename"] == "DepositStarted", started
    assert (started["deposit"]["status"], started["deposit"]["amount"]) == ("PENDING", "3000.00")
    assert started["deposit"]["payUrl"]
    paid = await PaymentInstruction.get(business_ref=f"deposit:{started['deposit']['id']}")
    await sandbox.bank_pay(paid.request_id)
    await settle_everything(sandbox)
    assert await _books(sandbox, company_id) == (300_000, 0)

    # 2,000.00 of it becomes margin: frozen at the provider.
    funded = await _margin(client, FUND, "2000.00", staff)
    assert funded == {
        "__typename": "GuaranteeMarginMoved",
        "available": "1000.00",
        "margin": "2000.00",
        "exposure": "0.00",
        "requiredMargin": "0.00",
    }
    await settle_everything(sandbox)
    assert await _books(sandbox, company_id) == (100_000, 200_000)

    # A borrower's loan of 10,000.05 in review asks the company; a second ask is refused.
    borrower, borrower_phone = await verified_borrower(scripted)
    member = await token_for(borrower_phone)
    loan = await _in_review(borrower.id, 1_000_005)
    asked = await gql(client, REQUEST, {"loan": str(loan.id), "company": company_id}, token=member)
    requested = asked["data"]["requestGuarantee"]
    assert requested["__typename"] == "GuaranteeRequested", requested
    policy_id = requested["policy"]["id"]
    assert requested["policy"] == {
        "id": policy_id,
        "loanId": str(loan.id),
        "status": "REQUESTED",
        "coverage": None,
        "coversPenalty": False,
        "triggerDays": None,
        "mayDrawMargin": True,
        "declineReason": None,
        "marginAtIssue": None,
        "requiredAtIssue": None,
        "company": {"id": company_id, "name": "Huaxin Guarantee Co."},
        "compensations": [],
    }
    again = await gql(client, REQUEST, {"loan": str(loan.id), "company": company_id}, token=member)
    assert again["data"]["requestGuarantee"]["code"] == "GUARANTEE_EXISTS"

    # A request is no exposure: the margin may go down to 1,000.00, one fen short.
    released = await _margin(client, RELEASE, "1000.00", staff)
    assert (released["available"], released["margin"]) == ("2000.00", "1000.00")
    before = (await _policy_state(), await Journal.all().count())
    short = (await gql(client, ISSUE, {"policy": policy_id}, token=staff))["data"]
    assert short["issueGuaranteePolicy"] == {
        "__typename": "IssueGuaranteePolicyError",
        "code": "MARGIN_INSUFFICIENT",
        "field": None,
    }
    assert (await _policy_state(), await Journal.all().count()) == before

    # 0.01 more: exactly the 1,000.01 required.
    assert (await _margin(client, FUND, "0.01", staff))["margin"] == "1000.01"
    issued = (await gql(client, ISSUE, {"policy": policy_id}, token=staff))["data"][
        "issueGuaranteePolicy"
    ]
    assert issued["__typename"] == "GuaranteePolicyIssued", issued
    assert issued["policy"]["issuedAt"]
    assert {key: issued["policy"][key] for key in issued["policy"] if key != "issuedAt"} == {
        **requested["policy"],
        "status": "ISSUED",
        "coverage": "PRINCIPAL_INTEREST",
        "coversPenalty": True,
        "triggerDays": 30,
        "marginAtIssue": "1000.01",
        "requiredAtIssue": "1000.01",
    }
    book = (await gql(client, EXPOSURE, token=staff))["data"]["guarantorExposure"]
    assert book == {
        "company": {"id": company_id, "name": "Huaxin Guarantee Co."},
        "available": "1999.99",
        "margin": "1000.01",
        "exposure": "10000.05",
        "requiredMargin": "1000.01",
        "coverageRatio": "1.0000",
        "compensationsPaid": "0.00",
        "compensationsRecovered": "0.00",
        "outstanding": "0.00",
        "policyCounts": {
            "requested": 0,
            "declined": 0,
            "issued": 1,
            "active": 0,
            "triggered": 0,
            "compensated": 0,
            "recovered": 0,
            "closed": 0,
        },
    }

    # Releasing anything now takes the margin below the required: refused, nothing moves.
    journals = await Journal.all().count()
    refused = await _margin(client, RELEASE, "0.01", staff)
    assert refused == {
        "__typename": "ReleaseGuaranteeMarginError",
        "code": "MARGIN_BELOW_REQUIRED",
        "field": "amount",
    }
    await settle_everything(sandbox)
    assert await Journal.all().count() == journals
    assert await _books(sandbox, company_id) == (199_999, 100_001)
    assert (await ledger.check()).ok

    # The borrower sees the policy of their loan.
    mine = (await gql(client, POLICIES, token=member))["data"]["guaranteePolicies"]
    assert mine["totalCount"] == 1
    assert mine["edges"][0]["node"]["status"] == "ISSUED"

    # A listed loan takes no request.
    listed = await listed_loan(borrower.id, 100_000)
    late = await gql(client, REQUEST, {"loan": str(listed.id), "company": company_id}, token=member)
    assert late["data"]["requestGuarantee"] == {
        "__typename": "RequestGuaranteeError",
        "code": "LOAN_NOT_IN_REVIEW",
        "field": "loanId",
    }
    assert await GuaranteePolicy.filter(loan_id=listed.id).count() == 0


async def test_compensations_show_in_the_policy_and_the_book(app, client, scripted):
    """The rows written directly (compensation through the advance engine has its own
    test, test_compensation.py): what the API shows of them."""
    sandbox = app.state.sandbox.sandbox
    admin = await _admin()
    company_id = await _company(client, admin, "Anxin Guarantee Co.", "GL-2026-0002")
    _staff, staff = await _staff_of(client, admin, company_id)
    await settle_everything(sandbox)
    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await _in_review(borrower.id, 100_000)
    member = await token_for(borrower_phone)
    asked = await gql(client, REQUEST, {"loan": str(loan.id), "company": company_id}, token=member)
    policy_id = int(asked["data"]["requestGuarantee"]["policy"]["id"])
    now = await clock.now()
    for installment, (amount, drawn, back) in enumerate(
        ((50_000, 10_000, 50_000), (30_000, 0, 12_345)), start=900_001
    ):
        await GuaranteeCompensation.create(
            policy_id=policy_id,
            company_id=int(company_id),
            loan_id=loan.id,
            installment_id=installment,
            amount_fen=amount,
            from_margin_fen=drawn,
            recovered_fen=back,
            created_at=now,
        )
    seen = (await gql(client, POLICIES, {"loan": str(loan.id)}, token=member))["data"]
    assert seen["guaranteePolicies"]["edges"][0]["node"]["compensations"] == [
        {
            "installmentId": "900001",
            "amount": "500.00",
            "fromMargin": "100.00",
            "recovered": "500.00",
        },
        {
            "installmentId": "900002",
            "amount": "300.00",
            "fromMargin": "0.00",
            "recovered": "123.45",
        },
    ]
    book = (await gql(client, EXPOSURE, token=staff))["data"]["guarantorExposure"]
    assert (
        book["compensationsPaid"],
        book["compensationsRecovered"],
        book["outstanding"],
        book["coverageRatio"],
        book["policyCounts"]["requested"],
    ) == ("800.00", "623.45", "176.55", None, 1)


async def test_each_sees_their_own_and_another_company_is_not_found(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    admin = await _admin()
    first_id = await _company(client, admin, "First Guarantee Co.", "GL-2026-0101")
    second_id = await _company(client, admin, "Second Guarantee Co.", "GL-2026-0102")
    first_staff_user, first_staff = await _staff_of(client, admin, first_id)
    _user, second_staff = await _staff_of(client, admin, second_id)
    await settle_everything(sandbox)
    borrowers = [await verified_borrower(scripted) for _ in range(2)]
    members = [await token_for(phone) for _user, phone in borrowers]
    loans = [await _in_review(user.id, 100_000) for user, _phone in borrowers]
    policy_ids = []
    for loan, member, company in zip(loans, members, (first_id, second_id), strict=True):
        asked = await gql(client, REQUEST, {"loan": str(loan.id), "company": company}, token=member)
        policy_ids.append(asked["data"]["requestGuarantee"]["policy"]["id"])
    first_policy, second_policy = policy_ids

    # The second company's staff: the first company's book and policy are not found.
    state = (await _policy_state(), await Journal.all().count())
    hidden = await gql(client, EXPOSURE, {"company": first_id}, token=second_staff)
    assert error_codes(hidden) == ["BAD_USER_INPUT"]
    assert hidden["data"] is None
    assert hidden["errors"][0]["extensions"]["field"] == "companyId"
    for document, variables in (
        (ISSUE, {"policy": first_policy}),
        (DECLINE, {"policy": first_policy, "reason": "Not ours"}),
    ):
        answer = next(
            iter((await gql(client, document, variables, token=second_staff))["data"].values())
        )
        assert (answer["code"], answer["field"]) == ("POLICY_NOT_FOUND", "policyId")
    assert (await _policy_state(), await Journal.all().count()) == state
    own = (await gql(client, EXPOSURE, token=second_staff))["data"]["guarantorExposure"]
    assert (own["company"]["id"], own["policyCounts"]["requested"]) == (second_id, 1)

    # A member may not read a company's book at all.
    forbidden = await gql(client, EXPOSURE, {"company": first_id}, token=members[0])
    assert error_codes(forbidden) == ["FORBIDDEN"]
    assert forbidden["data"] is None

    # Policies: each company's staff their own, each member their own loans', finance all.
    async def policy_ids_seen(token: str, **variables: Any) -> list[str]:
        body = await gql(client, POLICIES, variables, token=token)
        return [edge["node"]["id"] for edge in body["data"]["guaranteePolicies"]["edges"]]

    assert await policy_ids_seen(first_staff) == [first_policy]
    assert await policy_ids_seen(second_staff) == [second_policy]
    assert await policy_ids_seen(members[0]) == [first_policy]
    assert await policy_ids_seen(members[1]) == [second_policy]
    _stranger, stranger_phone = await create_member()
    assert await policy_ids_seen(await token_for(stranger_phone)) == []
    # A member naming another member's loan sees nothing of it.
    assert await policy_ids_seen(members[0], loan=str(loans[1].id)) == []
    _finance, finance_phone = await create_staff("finance")
    finance = await token_for(finance_phone)
    assert await policy_ids_seen(finance) == [second_policy, first_policy]

    # Finance pages newest first, one at a time, and reads any company's book by id.
    page = (await gql(client, POLICIES, {"first": 1}, token=finance))["data"]["guaranteePolicies"]
    assert (page["totalCount"], page["pageInfo"]["hasNextPage"]) == (2, True)
    assert [edge["node"]["id"] for edge in page["edges"]] == [second_policy]
    rest = await gql(
        client, POLICIES, {"first": 1, "after": page["pageInfo"]["endCursor"]}, token=finance
    )
    rest_page = rest["data"]["guaranteePolicies"]
    assert [edge["node"]["id"] for edge in rest_page["edges"]] == [first_policy]
    assert rest_page["pageInfo"]["hasNextPage"] is False
    book = (await gql(client, EXPOSURE, {"company": first_id}, token=finance))["data"]
    assert book["guarantorExposure"]["company"]["name"] == "First Guarantee Co."
    no_company = await gql(client, EXPOSURE, token=finance)
    assert error_codes(no_company) == ["BAD_USER_INPUT"]

    # The first company declines; its borrower reads why.
    declined = await gql(
        client,
        DECLINE,
        {"policy": first_policy, "reason": "Collateral too thin"},
        token=first_staff,
    )
    assert declined["data"]["declineGuaranteeRequest"] == {
        "__typename": "GuaranteeRequestDeclined",
        "policy": {"status": "DECLINED", "declineReason": "Collateral too thin"},
    }
    assert await policy_ids_seen(finance, status="DECLINED") == [first_policy]
    node = (await gql(client, POLICIES, token=members[0]))["data"]["guaranteePolicies"]
    assert node["edges"][0]["node"]["declineReason"] == "Collateral too thin"

    # Staff belong to one company; only guarantors; names and licences are unique.
    again = await gql(
        client, ADD_STAFF, {"company": second_id, "user": _user_id(first_staff_user)}, token=admin
    )
    assert again["data"]["addGuarantorStaff"]["code"] == "ALREADY_STAFF"
    cs_user, _phone = await create_staff("cs")
    not_guarantor = await gql(
        client, ADD_STAFF, {"company": second_id, "user": _user_id(cs_user)}, token=admin
    )
    assert not_guarantor["data"]["addGuarantorStaff"]["code"] == "NOT_GUARANTOR_ROLE"
    twice = await gql(
        client, CREATE, {"name": "First Guarantee Co.", "licence": "GL-2026-0199"}, token=admin
    )
    assert twice["data"]["createGuaranteeCompany"]["code"] == "COMPANY_EXISTS"
    assert await GuaranteeCompany.all().count() == 2
