"""M1.5, M6.1, M6.2, R1-R3, R8 through the API: publish a loan request (checked against the
limit, the parameters and the 36 % cap), the automatic review, levels 1-3 to LISTED, a
rejection giving the limit back, every typed failure changing nothing, idempotent
publishing, who sees which loan, and the schedule preview."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from models.loans import BlacklistEntry, Loan, LoanReview
from models.messaging import Notice
from services.credit import external, scoring
from services.credit.catalogue import KINDS
from services.identity.permissions import Actor
from services.platform import clock, parameters
from tests.factories import (
    CLEAN_REPORTS,
    ScriptedSources,
    approve_verifications,
    create_member,
    create_staff,
    gql,
    token_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

REQUIRED = [kind.code for kind in KINDS if kind.required_for_borrowing]

LOAN_FIELDS = """id status amount annualRate termMonths method purpose biddingDays minBid maxBid
  collateralRef guaranteeRef allInAnnualCost monthlyServiceFeeRate requiredLevels
  nextReviewLevel rejectionReason isMine listedAt
  autoReview { rule passed detail } reviews { level decision reason }
  progress { amount funded remaining bidders closesAt secondsLeft }"""
PUBLISH = (
    """mutation ($input: PublishLoanInput!) { publishLoan(input: $input) { __typename
  ... on LoanPublished { loan { """
    + LOAN_FIELDS
    + """ } }
  ... on PublishLoanError { code field message } } }"""
)
REVIEW = (
    """mutation ($id: ID!, $level: Int!, $decision: LoanReviewDecision!, $reason: String!) {
  reviewLoan(input: {loanId: $id, level: $level, decision: $decision, reason: $reason}) {
  __typename ... on LoanReviewed { loan { """
    + LOAN_FIELDS
    + """ } }
  ... on ReviewLoanError { code field message } } }"""
)
LOAN = (
    "query ($id: ID!) { loan(id: $id) { "
    + LOAN_FIELDS
    + """ disclosure { otherPlatformsOutstanding outstandingDebt
  overdueItemsLast6Months { amount } otherPlatformLoans { platform } } } }"""
)
MARKET = """query ($filter: LoanFilter, $first: Int, $after: String) {
  loans(filter: $filter, first: $first, after: $after) { totalCount
  pageInfo { hasNextPage endCursor } edges { node { id status annualRate termMonths } } } }"""
MY_LOANS = "{ myLoans { id status } }"
QUEUE = (
    "query ($level: Int!) { loanReviewQueue(level: $level) { totalCount edges { node { id } } } }"
)
AVAILABLE = "{ myCredit { available used } }"
PREVIEW = """query ($amount: Money!, $rate: Rate!, $term: Int!, $method: RepaymentMethod!) {
  loanSchedulePreview(amount: $amount, annualRate: $rate, termMonths: $term, method: $method) {
  installments { number principal interest payment fee totalDue balanceAfter }
  totalInterest totalFees totalPaid monthlyServiceFeeRate allInAnnualCost withinCap } }"""


@pytest.fixture(autouse=True)
def sources() -> Iterator[dict[str, dict[str, Any]]]:
    adapter = ScriptedSources()
    external.set_adapter(adapter)
    yield adapter.scripted
    external.set_adapter(None)


async def _borrower(sources: dict[str, Any]) -> tuple[int, str]:
    """A member with every item required for borrowing: grade C, a limit of 30,000.00."""
    member, phone = await create_member()
    id_number = await approve_verifications(member.id, REQUIRED)
    sources[id_number] = dict(CLEAN_REPORTS)
    for source in external.Source:
        await external.fetch(member.id, source)
    await scoring.reevaluate(
        member.id, reason="test", actor_id=None, kind=scoring.CreditChangeKind.EVALUATED
    )
    return member.id, await token_for(phone)


async def _staff(*roles: str) -> str:
    _user, phone = await create_staff(*roles)
    return await token_for(phone)


_keys = iter(range(1, 1_000_000))


def _request(**changes: Any) -> dict[str, Any]:
    base = {
        "amount": "20000.00",
        "annualRate": "0.1200",
        "termMonths": 12,
        "method": "EQUAL_INSTALLMENT",
        "purpose": "Shop renovation",
        "biddingDays": 10,
        "minBid": "50.00",
        "maxBid": "20000.00",
        "collateralRef": "CAR-2024-001",
        "idempotencyKey": f"publish-{next(_keys):08d}",
    }
    return {**base, **changes}


async def _publish(client, token: str, **changes: Any) -> dict[str, Any]:
    body = await gql(client, PUBLISH, {"input": _request(**changes)}, token=token)
    assert "errors" not in body, body
    return body["data"]["publishLoan"]


async def _review(
    client, token: str, loan_id: str, level: int, decision: str = "APPROVE", reason: str = ""
) -> dict[str, Any]:
    body = await gql(
        client,
        REVIEW,
        {"id": loan_id, "level": level, "decision": decision, "reason": reason},
        token=token,
    )
    assert "errors" not in body, body
    return body["data"]["reviewLoan"]


async def _available(client, token: str) -> str:
    body = await gql(client, AVAILABLE, token=token)
    return body["data"]["myCredit"]["available"]


async def _snapshot() -> dict[str, Any]:
    return {
        "loans": sorted(await Loan.all().values_list("id", "status", "next_review_level")),
        "reviews": await LoanReview.all().count(),
    }


# --- the worked example ----------------------------------------------------------------------


async def test_preview_of_the_worked_example(client):
    body = await gql(
        client,
        PREVIEW,
        {"amount": "10000.00", "rate": "0.1200", "term": 12, "method": "EQUAL_INSTALLMENT"},
    )
    assert "errors" not in body, body
    preview = body["data"]["loanSchedulePreview"]
    payments = [row["payment"] for row in preview["installments"]]
    assert payments == ["888.49"] * 11 + ["888.47"]
    assert preview["totalInterest"] == "661.86"
    assert [row["fee"] for row in preview["installments"]] == ["30.00"] * 12
    assert preview["installments"][0]["totalDue"] == "918.49"
    assert preview["installments"][-1]["balanceAfter"] == "0.00"
    assert preview["totalFees"] == "360.00"
    assert preview["totalPaid"] == "11021.86"
    assert preview["monthlyServiceFeeRate"] == "0.0030"
    assert preview["allInAnnualCost"] == "0.183546"
    assert preview["withinCap"] is True

    bad = await gql(
        client, PREVIEW, {"amount": "0.00", "rate": "0.1200", "term": 12, "method": "LUMP_SUM"}
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


async def test_preview_of_equal_principal_rounds_half_up(client):
    """Issue 13: ¥50,000.00 at 9.6 % over 36 months, equal principal. Principal
    hu(5,000,000 / 36 = 138,888.89) = 1,388.89 for 35 months and the last the rest,
    5,000,000 - 35 * 138,889 = 1,388.85 (the floor gave 1,388.88 x 35 and 1,389.20);
    interest hu(opening * 0.008), month 34 hu(416,663 * 0.008 = 3,333.30) = 33.33 (33.34
    under the floor, on 416,696); the fee hu(5,000,000 * 0.003) = 150.00 a month."""
    body = await gql(
        client,
        PREVIEW,
        {"amount": "50000.00", "rate": "0.0960", "term": 36, "method": "EQUAL_PRINCIPAL"},
    )
    assert "errors" not in body, body
    preview = body["data"]["loanSchedulePreview"]
    rows = preview["installments"]
    assert [row["principal"] for row in rows] == ["1388.89"] * 35 + ["1388.85"]
    openings = [5_000_000 - k * 138_889 for k in range(36)]
    interests = [(opening * 8 + 500) // 1_000 for opening in openings]
    assert [row["interest"] for row in rows] == [_yuan(fen) for fen in interests]
    assert (rows[0]["interest"], rows[33]["interest"], rows[35]["interest"]) == (
        "400.00",
        "33.33",
        "11.11",
    )
    assert rows[0]["payment"] == "1788.89"  # 1,388.89 + 400.00
    assert rows[-1]["payment"] == "1399.96"  # 1,388.85 + 11.11
    assert [row["balanceAfter"] for row in rows] == [_yuan(fen) for fen in [*openings[1:], 0]]
    assert rows[-2]["balanceAfter"] == "1388.85"
    assert {row["fee"] for row in rows} == {"150.00"}
    assert rows[0]["totalDue"] == "1938.89"
    assert preview["totalInterest"] == "7400.00"  # Σ of the rounded months, exact 7,399.9944
    assert preview["totalFees"] == "5400.00"  # 36 x 150.00
    assert preview["totalPaid"] == "62800.00"  # 50,000.00 + 7,400.00 + 5,400.00
    assert preview["withinCap"] is True


# --- the whole path --------------------------------------------------------------------------


async def test_publish_auto_review_two_levels_then_listed(client, sources):
    borrower_id, token = await _borrower(sources)
    assert await _available(client, token) == "30000.00"

    published = await _publish(client, token)
    assert published["__typename"] == "LoanPublished", published
    loan = published["loan"]
    assert loan["status"] == "PENDING_REVIEW"
    assert loan["requiredLevels"] == [1, 2]
    assert loan["nextReviewLevel"] == 1
    assert {o["rule"] for o in loan["autoReview"]} == {
        "NOT_BLACKLISTED",
        "NOT_FROZEN",
        "MIN_GRADE",
        "MAX_AMOUNT_SHARE_OF_AVAILABLE",
        "RATE_RANGE",
    }
    assert all(o["passed"] for o in loan["autoReview"])
    assert loan["allInAnnualCost"] == "0.183545"  # 20,000.00 rounds a little differently
    assert loan["monthlyServiceFeeRate"] == "0.0030"
    assert loan["isMine"] is True
    assert await _available(client, token) == "10000.00"  # the limit is taken

    # Not on the marketplace, not visible to others, but in the level-1 queue.
    market = await gql(client, MARKET)
    assert market["data"]["loans"]["totalCount"] == 0
    assert (await gql(client, LOAN, {"id": loan["id"]}))["data"]["loan"] is None
    l1 = await _staff("risk_l1")
    queue = await gql(client, QUEUE, {"level": 1}, token=l1)
    assert [e["node"]["id"] for e in queue["data"]["loanReviewQueue"]["edges"]] == [loan["id"]]
    seen = await gql(client, LOAN, {"id": loan["id"]}, token=l1)
    assert seen["data"]["loan"]["isMine"] is False

    first = await _review(client, l1, loan["id"], 1, reason="income verified")
    assert first["loan"]["status"] == "IN_REVIEW"
    assert first["loan"]["nextReviewLevel"] == 2
    l2 = await _staff("risk_l2")
    second = await _review(client, l2, loan["id"], 2)
    listed = second["loan"]
    assert listed["status"] == "LISTED"
    assert listed["nextReviewLevel"] is None
    assert [(r["level"], r["decision"]) for r in listed["reviews"]] == [
        (1, "APPROVE"),
        (2, "APPROVE"),
    ]
    progress = listed["progress"]
    assert (progress["amount"], progress["funded"], progress["remaining"]) == (
        "20000.00",
        "0.00",
        "20000.00",
    )
    assert progress["bidders"] == 0
    assert progress["closesAt"] is not None
    # 10 working days span 12 to 14 calendar days, by the weekday it starts on.
    assert 12 * 86400 - 60 <= progress["secondsLeft"] <= 14 * 86400
    assert await _available(client, token) == "10000.00"

    # Public now, with the R8 disclosure, on the marketplace.
    public = await gql(client, LOAN, {"id": loan["id"]})
    shown = public["data"]["loan"]
    assert shown["status"] == "LISTED"
    assert shown["disclosure"]["otherPlatformsOutstanding"] == "0.00"
    assert shown["disclosure"]["outstandingDebt"] == "0.00"
    market = await gql(client, MARKET, {"filter": {"minRate": "0.1000", "maxTerm": 12}})
    assert [e["node"]["id"] for e in market["data"]["loans"]["edges"]] == [loan["id"]]
    other = await gql(client, MARKET, {"filter": {"method": "LUMP_SUM"}})
    assert other["data"]["loans"]["totalCount"] == 0
    titles = (
        await Notice.filter(user_id=borrower_id, kind="loan")
        .order_by("id")
        .values_list("title", flat=True)
    )
    assert titles == ["Loan request received", "Loan review progress", "Loan listed"]


async def test_a_large_loan_needs_three_levels(client, sources):
    admin = Actor(user_id=None, kind="staff")
    await parameters.set_value(
        admin,
        "loans.reviewLevels",
        {
            "bands": [
                {"up_to_fen": 1_000_000, "levels": [1, 2]},
                {"up_to_fen": None, "levels": [1, 2, 3]},
            ]
        },
        "smaller threshold for a test",
    )
    _borrower_id, token = await _borrower(sources)
    small = (await _publish(client, token, amount="10000.00", maxBid="10000.00"))["loan"]
    assert small["requiredLevels"] == [1, 2]
    loan = (await _publish(client, token, amount="15000.00", maxBid="15000.00"))["loan"]
    assert loan["requiredLevels"] == [1, 2, 3]
    assert await _available(client, token) == "5000.00"
    tokens = [await _staff(f"risk_l{level}") for level in (1, 2, 3)]
    assert (await _review(client, tokens[0], loan["id"], 1))["loan"]["status"] == "IN_REVIEW"
    assert (await _review(client, tokens[1], loan["id"], 2))["loan"]["status"] == "IN_REVIEW"
    done = await _review(client, tokens[2], loan["id"], 3)
    assert done["loan"]["status"] == "LISTED"


async def test_a_rejection_at_any_level_ends_it_and_gives_the_limit_back(client, sources):
    _borrower_id, token = await _borrower(sources)
    loan = (await _publish(client, token))["loan"]
    assert await _available(client, token) == "10000.00"
    await _review(client, await _staff("risk_l1"), loan["id"], 1)
    l2 = await _staff("risk_l2")
    short = await _review(client, l2, loan["id"], 2, "REJECT", "no")
    assert (short["__typename"], short["code"], short["field"]) == (
        "ReviewLoanError",
        "INVALID",
        "reason",
    )
    rejected = await _review(client, l2, loan["id"], 2, "REJECT", "income does not cover it")
    assert rejected["loan"]["status"] == "REJECTED"
    assert rejected["loan"]["rejectionReason"] == "income does not cover it"
    assert await _available(client, token) == "30000.00"
    # A rejected loan cannot be reviewed again: the state machine refuses.
    before = await _snapshot()
    again = await _review(client, await _staff("risk_l1"), loan["id"], 1, "APPROVE")
    assert again["code"] == "ILLEGAL_TRANSITION"
    assert await _snapshot() == before
    assert await _available(client, token) == "30000.00"


# --- typed failures change nothing -----------------------------------------------------------


async def test_every_publish_failure_is_typed_and_changes_nothing(client, sources):
    _borrower_id, token = await _borrower(sources)
    cases = [
        ({"amount": "500.00", "maxBid": "500.00"}, "AMOUNT_OUT_OF_RANGE", "amount"),
        ({"amount": "200000.01"}, "AMOUNT_OUT_OF_RANGE", "amount"),
        ({"termMonths": 48}, "TERM_OUT_OF_RANGE", "termMonths"),
        ({"annualRate": "0.2500"}, "RATE_OUT_OF_RANGE", "annualRate"),
        ({"annualRate": "0.0100"}, "RATE_OUT_OF_RANGE", "annualRate"),
        ({"biddingDays": 21}, "BIDDING_WINDOW_OUT_OF_RANGE", "biddingDays"),
        ({"minBid": "500.00", "maxBid": "100.00"}, "INVALID_BID_RANGE", "maxBid"),
        ({"maxBid": "20000.01"}, "INVALID_BID_RANGE", "maxBid"),
        ({"purpose": "x"}, "INVALID", "purpose"),
        ({"amount": "30000.01", "maxBid": "100.00"}, "CREDIT_LIMIT_EXCEEDED", "amount"),
    ]
    for changes, code, field in cases:
        before = await _snapshot()
        result = await _publish(client, token, **changes)
        assert (result["__typename"], result["code"], result["field"]) == (
            "PublishLoanError",
            code,
            field,
        ), changes
        assert await _snapshot() == before, changes
        assert await _available(client, token) == "30000.00"

    # R3: with rates up to the cap allowed, 30 % plus the 0.3 % monthly fee is 36.05 %.
    await parameters.set_value(
        Actor(user_id=None, kind="staff"),
        "loans.rateRange",
        {"min": "0.0500", "max": "0.3600"},
        "allow rates up to the cap",
    )
    capped = await _publish(client, token, annualRate="0.3000")
    assert (capped["code"], capped["field"]) == ("RATE_CAP_EXCEEDED", "annualRate")
    assert "36.05%" in capped["message"]
    fits = await _publish(client, token, annualRate="0.2900", amount="1000.00", maxBid="1000.00")
    # Within the cap, but the automatic review's own rate rule (data) still says 5-24 %.
    assert fits["loan"]["status"] == "REJECTED"
    assert [o["rule"] for o in fits["loan"]["autoReview"] if not o["passed"]] == ["RATE_RANGE"]
    assert await _available(client, token) == "30000.00"


async def test_a_blacklisted_borrower_is_rejected_automatically(client, sources):
    borrower_id, token = await _borrower(sources)
    await BlacklistEntry.create(
        user_id=borrower_id, reason="fraud case 12", actor_id=None, created_at=await clock.now()
    )
    result = await _publish(client, token)
    loan = result["loan"]
    assert loan["status"] == "REJECTED"
    failed = [o for o in loan["autoReview"] if not o["passed"]]
    assert [o["rule"] for o in failed] == ["NOT_BLACKLISTED"]
    assert loan["rejectionReason"] == "The borrower is on the blacklist"
    assert await _available(client, token) == "30000.00"  # taken and given back
    queue = await gql(client, QUEUE, {"level": 1}, token=await _staff("risk_l1"))
    assert queue["data"]["loanReviewQueue"]["totalCount"] == 0


async def test_review_failures_are_typed_and_change_nothing(client, sources):
    borrower_id, token = await _borrower(sources)
    loan = (await _publish(client, token))["loan"]
    l1, l2 = await _staff("risk_l1"), await _staff("risk_l2")
    both = await _staff("risk_l1", "risk_l2")

    before = await _snapshot()
    for reviewer, level, code in [
        (l1, 2, "FORBIDDEN_LEVEL"),  # a level-1 reviewer cannot decide level 2
        (l2, 2, "LEVEL_OUT_OF_ORDER"),  # level 2 before level 1
        (l1, 3, "FORBIDDEN_LEVEL"),
        (both, 3, "FORBIDDEN_LEVEL"),
    ]:
        result = await _review(client, reviewer, loan["id"], level)
        assert (result["__typename"], result["code"]) == ("ReviewLoanError", code), level
        assert await _snapshot() == before
    missing = await _review(client, l1, "999999", 1)
    assert missing["code"] == "NOT_FOUND"

    # The field itself needs loan:review.
    refused = await gql(
        client,
        REVIEW,
        {"id": loan["id"], "level": 1, "decision": "APPROVE", "reason": ""},
        token=await _staff("cs"),
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    queue = await gql(client, QUEUE, {"level": 2}, token=l1)
    assert queue["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # One person, two levels of the same loan: refused.
    assert (await _review(client, both, loan["id"], 1))["loan"]["status"] == "IN_REVIEW"
    before = await _snapshot()
    same = await _review(client, both, loan["id"], 2)
    assert same["code"] == "SAME_PERSON"
    twice = await _review(client, l1, loan["id"], 1)
    assert twice["code"] == "ALREADY_DECIDED"
    assert await _snapshot() == before
    listed = await _review(client, l2, loan["id"], 2)
    assert listed["loan"]["status"] == "LISTED"
    # Listed: reviewing again is an illegal transition.
    late = await _review(client, l2, loan["id"], 2, "REJECT", "changed my mind")
    assert late["code"] == "ILLEGAL_TRANSITION"
    assert (await Loan.get(id=int(loan["id"]))).status == "LISTED"
    assert borrower_id


async def test_a_borrower_cannot_review_their_own_loan(client, sources):
    borrower_id, token = await _borrower(sources)
    loan = (await _publish(client, token))["loan"]
    # A run-time grant could give a member a reviewer's permissions.
    from services.identity.permissions import Permission, seed_roles

    await seed_roles()
    owner = Actor(
        user_id=borrower_id,
        kind="member",
        permissions=frozenset({Permission.LOAN_REVIEW, Permission.LOAN_REVIEW_L1}),
    )
    from models.loans import LoanReviewDecision
    from services.errors import DomainError
    from services.loans import review

    with pytest.raises(DomainError) as refused:
        await review.review(owner, int(loan["id"]), 1, LoanReviewDecision.APPROVE, "")
    assert refused.value.code == "SAME_PERSON"
    assert await LoanReview.all().count() == 0


async def test_a_replayed_idempotency_key_returns_the_first_answer(client, sources):
    _borrower_id, token = await _borrower(sources)
    request = _request()
    first = await gql(client, PUBLISH, {"input": request}, token=token)
    replay = await gql(client, PUBLISH, {"input": request}, token=token)
    assert replay == first
    assert await Loan.all().count() == 1
    assert await _available(client, token) == "10000.00"  # taken once
    changed = await gql(client, PUBLISH, {"input": {**request, "termMonths": 6}}, token=token)
    assert changed["data"]["publishLoan"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # A typed failure is replayed too.
    over = _request(amount="25000.00", maxBid="100.00")
    refused = await gql(client, PUBLISH, {"input": over}, token=token)
    assert refused["data"]["publishLoan"]["code"] == "CREDIT_LIMIT_EXCEEDED"
    assert await gql(client, PUBLISH, {"input": over}, token=token) == refused
    assert await Loan.all().count() == 1


async def test_borrowers_see_only_their_own_unlisted_loans(client, sources):
    _first_id, first_token = await _borrower(sources)
    _second_id, second_token = await _borrower(sources)
    mine = (await _publish(client, first_token))["loan"]
    theirs = (await _publish(client, second_token, amount="5000.00", maxBid="5000.00"))["loan"]
    own = await gql(client, LOAN, {"id": mine["id"]}, token=first_token)
    assert own["data"]["loan"]["status"] == "PENDING_REVIEW"
    other = await gql(client, LOAN, {"id": theirs["id"]}, token=first_token)
    assert other["data"]["loan"] is None
    listing = await gql(client, MY_LOANS, token=first_token)
    assert [row["id"] for row in listing["data"]["myLoans"]] == [mine["id"]]
    market = await gql(client, MARKET, {"filter": {"status": "PENDING_REVIEW"}}, token=first_token)
    assert market["data"]["loans"]["totalCount"] == 0
    # Once listed, everyone sees it; paging works newest first.
    for loan in (mine, theirs):
        await _review(client, await _staff("risk_l1"), loan["id"], 1)
        await _review(client, await _staff("risk_l2"), loan["id"], 2)
    page = await gql(client, MARKET, {"first": 1})
    loans = page["data"]["loans"]
    assert loans["totalCount"] == 2
    assert [e["node"]["id"] for e in loans["edges"]] == [theirs["id"]]
    assert loans["pageInfo"]["hasNextPage"] is True
    rest = await gql(client, MARKET, {"first": 1, "after": loans["pageInfo"]["endCursor"]})
    assert [e["node"]["id"] for e in rest["data"]["loans"]["edges"]] == [mine["id"]]
    seen = await gql(client, LOAN, {"id": theirs["id"]}, token=first_token)
    assert seen["data"]["loan"]["isMine"] is False
