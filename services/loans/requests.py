"""Publishing a loan request (M1.5) and its automatic review (M6.1); reading loans.

`publish` checks the request against the platform parameters (amount, term, rate,
bidding window, bids) and R3 (the all-in annual cost, fees included, at most 36 %),
then in one transaction takes the amount from the member's available credit limit
(`scoring.use_limit`, CREDIT_LIMIT_EXCEEDED), runs the automatic review rules (data:
`policy.AUTO_REVIEW`) and records the loan: PENDING_REVIEW (waiting for level 1) or
REJECTED with the failing rules' reasons and the limit given back. Every rule's outcome
is kept on the loan. The call is idempotent by key (it takes the credit limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from models.loans import BlacklistEntry, Loan, LoanStatus
from services.credit import scoring
from services.credit.policy import GRADES
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.loans import policy
from services.loans.pricing import Priced, price
from services.loans.schedule import CURRENT_SCHEDULE_RULES, DayCount, LoanTerms, RepaymentMethod
from services.loans.states import LoanEvent, transition
from services.money import idempotency
from services.money.money import format_money
from services.platform import clock, notifier, parameters

REVIEWER_PERMISSIONS = frozenset(
    {
        Permission.LOAN_REVIEW,
        Permission.LOAN_REVIEW_L1,
        Permission.LOAN_REVIEW_L2,
        Permission.LOAN_REVIEW_L3,
    }
)


@dataclass(frozen=True)
class LoanRequest:
    amount_fen: int
    annual_rate: Decimal
    term_months: int
    method: RepaymentMethod
    purpose: str
    bid_window_days: int
    min_bid_fen: int
    max_bid_fen: int
    collateral_ref: str | None = None
    guarantee_ref: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "amount": self.amount_fen,
            "rate": str(self.annual_rate),
            "term": self.term_months,
            "method": self.method.value,
            "purpose": self.purpose,
            "days": self.bid_window_days,
            "min_bid": self.min_bid_fen,
            "max_bid": self.max_bid_fen,
            "collateral": self.collateral_ref,
            "guarantee": self.guarantee_ref,
        }


def _ref(value: str | None, field: str) -> str | None:
    value = (value or "").strip()
    if len(value) > 128:
        raise InvalidInputError("A reference is at most 128 characters", field=field)
    return value or None


async def _checked(request: LoanRequest) -> tuple[LoanRequest, Priced, policy.FeeTerms]:
    """The request with its text cleaned, priced; typed errors for anything out of range."""
    purpose = (request.purpose or "").strip()
    if not 5 <= len(purpose) <= 500:
        raise InvalidInputError("Describe the purpose in 5 to 500 characters", field="purpose")
    amounts = await parameters.get(policy.AMOUNT_RANGE)
    if not amounts.min_fen <= request.amount_fen <= amounts.max_fen:
        raise DomainError(
            f"The amount must be {format_money(amounts.min_fen)} to "
            f"{format_money(amounts.max_fen)}",
            code="AMOUNT_OUT_OF_RANGE",
            field="amount",
        )
    terms_range = await parameters.get(policy.TERM_RANGE)
    if not terms_range.min_months <= request.term_months <= terms_range.max_months:
        raise DomainError(
            f"The term must be {terms_range.min_months} to {terms_range.max_months} months",
            code="TERM_OUT_OF_RANGE",
            field="termMonths",
        )
    rates = await parameters.get(policy.RATE_RANGE)
    if not rates.min <= request.annual_rate <= rates.max:
        raise DomainError(
            f"The annual rate must be {rates.min} to {rates.max}",
            code="RATE_OUT_OF_RANGE",
            field="annualRate",
        )
    window = await parameters.get(policy.BIDDING_WINDOW)
    if not window.min_working_days <= request.bid_window_days <= window.max_working_days:
        raise DomainError(
            f"The bidding window must be {window.min_working_days} to "
            f"{window.max_working_days} working days",
            code="BIDDING_WINDOW_OUT_OF_RANGE",
            field="biddingDays",
        )
    if not 0 < request.min_bid_fen <= request.max_bid_fen <= request.amount_fen:
        raise DomainError(
            "Bids must be: 0 < minimum bid <= maximum bid <= amount",
            code="INVALID_BID_RANGE",
            field="minBid" if request.min_bid_fen <= 0 else "maxBid",
        )
    fees = await parameters.get(policy.FEE_TERMS)
    terms = LoanTerms(
        amount_fen=request.amount_fen,
        annual_rate=request.annual_rate,
        term_months=request.term_months,
        method=request.method,
        day_count=DayCount.MONTHLY_30_360,
        schedule_rules=CURRENT_SCHEDULE_RULES,
    )
    priced = price(terms, fees.monthly_service_fee_rate, await clock.today())
    if priced.exceeds_cap:
        raise DomainError(
            f"The all-in annual cost with fees would be {priced.all_in_cost * 100:.2f}%, "
            "above the 36% cap",
            code="RATE_CAP_EXCEEDED",
            field="annualRate",
        )
    cleaned = LoanRequest(
        amount_fen=request.amount_fen,
        annual_rate=request.annual_rate,
        term_months=request.term_months,
        method=request.method,
        purpose=purpose,
        bid_window_days=request.bid_window_days,
        min_bid_fen=request.min_bid_fen,
        max_bid_fen=request.max_bid_fen,
        collateral_ref=_ref(request.collateral_ref, "collateralRef"),
        guarantee_ref=_ref(request.guarantee_ref, "guaranteeRef"),
    )
    return cleaned, priced, fees


@dataclass(frozen=True)
class Facts:
    """What the automatic review rules look at."""

    grade: str
    frozen: bool
    blacklisted: bool
    available_fen: int  # before this request took its amount
    amount_fen: int
    annual_rate: Decimal


def evaluate_rules(rules: policy.AutoReviewRules, facts: Facts) -> list[dict[str, Any]]:
    """Each rule's outcome, in order: {"rule", "passed", "detail"}."""
    outcomes = []
    for rule in rules.rules:
        passed, detail = _evaluate(rule, facts)
        outcomes.append({"rule": rule.kind.value, "passed": passed, "detail": detail})
    return outcomes


def _evaluate(rule: policy.AutoRule, facts: Facts) -> tuple[bool, str]:
    match rule.kind:
        case policy.RuleKind.NOT_BLACKLISTED:
            return not facts.blacklisted, (
                "The borrower is on the blacklist" if facts.blacklisted else "Not blacklisted"
            )
        case policy.RuleKind.NOT_FROZEN:
            return not facts.frozen, (
                "The credit limit is frozen" if facts.frozen else "Limit not frozen"
            )
        case policy.RuleKind.MIN_GRADE:
            assert rule.grade is not None
            ok = GRADES.index(facts.grade) <= GRADES.index(rule.grade)
            return ok, f"Grade {facts.grade}, at least {rule.grade} needed"
        case policy.RuleKind.MAX_AMOUNT_SHARE_OF_AVAILABLE:
            assert rule.share is not None
            ceiling = facts.available_fen * rule.share
            return facts.amount_fen <= ceiling, (
                f"Amount {format_money(facts.amount_fen)}, at most {rule.share} of the "
                f"available {format_money(facts.available_fen)}"
            )
        case policy.RuleKind.RATE_RANGE:
            assert rule.min is not None
            assert rule.max is not None
            ok = rule.min <= facts.annual_rate <= rule.max
            return ok, f"Rate {facts.annual_rate}, {rule.min} to {rule.max} accepted"
    raise AssertionError(rule.kind)  # pragma: no cover


async def publish(actor: Actor, request: LoanRequest, *, idempotency_key: str) -> Loan:
    """Publish a loan request; see the module docstring. Raises DomainError
    AMOUNT_OUT_OF_RANGE, TERM_OUT_OF_RANGE, RATE_OUT_OF_RANGE, BIDDING_WINDOW_OUT_OF_RANGE,
    INVALID_BID_RANGE, RATE_CAP_EXCEEDED, CREDIT_LIMIT_EXCEEDED, INVALID and the
    idempotency errors. An automatic rejection is not an error: the loan is REJECTED."""
    assert actor.user_id is not None
    user_id = actor.user_id

    async def execute(claim: idempotency.Claim) -> dict[str, Any]:
        cleaned, priced, fees = await _checked(request)
        levels = (await parameters.get(policy.LEVELS)).levels_for(cleaned.amount_fen)
        rules = await parameters.get(policy.AUTO_REVIEW)
        now = await clock.now()
        async with in_transaction():
            after = await scoring.use_limit(user_id, cleaned.amount_fen)
            facts = Facts(
                grade=after.profile.grade,
                frozen=after.profile.frozen,
                blacklisted=await BlacklistEntry.filter(user_id=user_id).exists(),
                available_fen=after.available_fen + cleaned.amount_fen,
                amount_fen=cleaned.amount_fen,
                annual_rate=cleaned.annual_rate,
            )
            outcomes = evaluate_rules(rules, facts)
            failed = [outcome["detail"] for outcome in outcomes if not outcome["passed"]]
            loan = Loan(
                borrower_id=user_id,
                amount_fen=cleaned.amount_fen,
                annual_rate=cleaned.annual_rate,
                term_months=cleaned.term_months,
                method=cleaned.method.value,
                day_count=priced.terms.day_count.value,
                schedule_rules=priced.terms.schedule_rules.value,
                purpose=cleaned.purpose,
                bid_window_days=cleaned.bid_window_days,
                min_bid_fen=cleaned.min_bid_fen,
                max_bid_fen=cleaned.max_bid_fen,
                collateral_ref=cleaned.collateral_ref,
                guarantee_ref=cleaned.guarantee_ref,
                status=LoanStatus.DRAFT,
                required_levels=levels,
                auto_review=outcomes,
                all_in_cost=priced.all_in_cost,
                fee_terms=fees.model_dump(mode="json"),
                created_at=now,
            )
            if failed:
                transition(loan, LoanEvent.AUTO_REJECT)
                loan.rejection_reason = " / ".join(failed)[:500]
                loan.closed_at = now
                await loan.save()
                await scoring.restore_limit(user_id, cleaned.amount_fen)
                await notifier.notify(
                    user=user_id,
                    kind="loan",
                    title="Loan request rejected",
                    body=f"Your loan request {loan.id} was not accepted: {loan.rejection_reason}",
                )
            else:
                transition(loan, LoanEvent.AUTO_APPROVE)
                loan.next_review_level = levels[0]
                await loan.save()
                await notifier.notify(
                    user=user_id,
                    kind="loan",
                    title="Loan request received",
                    body=f"Your loan request {loan.id} passed the automatic review and "
                    "is waiting for review.",
                )
            answer = {"loan_id": loan.id}
            await claim.complete(answer)
        return answer

    answer = await idempotency.run_once(
        user_id=user_id,
        key=idempotency_key,
        operation="publish_loan",
        request=request.as_json(),
        execute=execute,
    )
    return await Loan.get(id=answer["loan_id"])


# --- reading --------------------------------------------------------------------------------


def is_reviewer(actor: Actor) -> bool:
    return any(actor.can(code) for code in REVIEWER_PERMISSIONS)


def visible_to(actor: Actor, loan: Loan) -> bool:
    """Listed once (the marketplace): everyone. Otherwise its borrower and reviewers."""
    return (
        loan.listed_at is not None
        or (actor.user_id is not None and actor.user_id == loan.borrower_id)
        or is_reviewer(actor)
    )


async def get_visible(actor: Actor, loan_id: int) -> Loan:
    loan = await Loan.get_or_none(id=loan_id)
    if loan is None or not visible_to(actor, loan):
        raise NotFoundError("No such loan", field="id")
    return loan


@dataclass(frozen=True)
class MarketFilter:
    status: LoanStatus | None = None  # default LISTED
    method: RepaymentMethod | None = None
    min_rate: Decimal | None = None
    max_rate: Decimal | None = None
    min_term: int | None = None
    max_term: int | None = None


@dataclass(frozen=True)
class Page:
    rows: list[Loan]
    total: int


async def marketplace(filters: MarketFilter, *, first: int, after_id: int | None) -> Page:
    """Loans that were listed, newest first (LISTED unless another status is asked for)."""
    query = Loan.filter(listed_at__isnull=False, status=filters.status or LoanStatus.LISTED)
    if filters.method is not None:
        query = query.filter(method=filters.method.value)
    if filters.min_rate is not None:
        query = query.filter(annual_rate__gte=filters.min_rate)
    if filters.max_rate is not None:
        query = query.filter(annual_rate__lte=filters.max_rate)
    if filters.min_term is not None:
        query = query.filter(term_months__gte=filters.min_term)
    if filters.max_term is not None:
        query = query.filter(term_months__lte=filters.max_term)
    total = await query.count()
    if after_id is not None:
        query = query.filter(id__lt=after_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)


async def my_loans(actor: Actor) -> list[Loan]:
    assert actor.user_id is not None
    return await Loan.filter(borrower_id=actor.user_id).order_by("-id")
