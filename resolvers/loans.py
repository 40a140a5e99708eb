"""Loan requests, level reviews, the marketplace and schedule previews."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.types import Info

from models.bids import AutoBidRule, Bid, BidSource, BidStatus
from models.loans import Loan, LoanReviewDecision, LoanStatus
from resolvers.credit.credit import disclosure_view
from resolvers.ids import number_of
from schema.errors import BadUserInputError, resync
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.scalars import Money, Rate, SignedRate
from schema.types import loans as t
from schema.types.credit.credit import BorrowerDisclosure
from services.credit import disclosure
from services.errors import DomainError, PermissionDeniedError
from services.identity.permissions import Actor
from services.kit.broker import Gap
from services.loans import autobid, bid_views, bidding, policy, requests, review
from services.loans.pricing import price
from services.loans.schedule import CURRENT_SCHEDULE_RULES, LoanTerms, RepaymentMethod
from services.platform import clock, parameters


def _loan_id(value: strawberry.ID, field: str) -> int:
    return number_of(value, field, what="No such loan")


def _loan(row: Loan, actor: Actor, now: datetime, shown: BorrowerDisclosure | None) -> t.Loan:
    listed = row.status == LoanStatus.LISTED
    closes = row.bidding_closes_at
    seconds_left = None
    if listed and closes is not None:
        seconds_left = max(0, int((closes - now).total_seconds()))
    return t.Loan(
        id=strawberry.ID(str(row.id)),
        status=t.LoanStatus(LoanStatus(row.status).value),
        amount=Money(row.amount_fen),
        annual_rate=Rate(Decimal(row.annual_rate).quantize(Decimal("0.0001"))),
        term_months=row.term_months,
        method=t.RepaymentMethod(row.method),
        purpose=row.purpose,
        bidding_days=row.bid_window_days,
        min_bid=Money(row.min_bid_fen),
        max_bid=Money(row.max_bid_fen),
        collateral_ref=row.collateral_ref,
        guarantee_ref=row.guarantee_ref,
        all_in_annual_cost=f"{Decimal(row.all_in_cost).quantize(Decimal('0.000001')):f}",
        monthly_service_fee_rate=Rate(
            Decimal(row.fee_terms.get("monthly_service_fee_rate", "0")).quantize(Decimal("0.0001"))
        ),
        required_levels=list(row.required_levels),
        next_review_level=row.next_review_level,
        auto_review=[
            t.AutoReviewOutcome(rule=item["rule"], passed=item["passed"], detail=item["detail"])
            for item in row.auto_review
        ],
        rejection_reason=row.rejection_reason or None,
        progress=t.LoanProgress(
            amount=Money(row.amount_fen),
            funded=Money(row.funded_fen),
            remaining=Money(row.amount_fen - row.funded_fen),
            bidders=row.bidder_count,
            closes_at=closes,
            seconds_left=seconds_left,
        ),
        is_mine=actor.user_id is not None and actor.user_id == row.borrower_id,
        disclosure=shown,
        created_at=row.created_at,
        listed_at=row.listed_at,
    )


async def _one(info: Info, row: Loan, *, with_disclosure: bool = False) -> t.Loan:
    # A mutation may have added a review since an earlier field of the operation loaded them.
    info.context.loaders.forget_loan(row.id)
    shown = (
        disclosure_view(await disclosure.borrower_disclosure(row.borrower_id))
        if with_disclosure
        else None
    )
    return _loan(row, await info.context.get_actor(), await clock.now(), shown)


async def publish_loan(info: Info, input: t.PublishLoanInput) -> t.PublishLoanResult:
    actor = await info.context.get_actor()
    try:
        row = await requests.publish(
            actor,
            requests.LoanRequest(
                amount_fen=input.amount,
                annual_rate=input.annual_rate,
                term_months=input.term_months,
                method=RepaymentMethod(input.method.value),
                purpose=input.purpose,
                bid_window_days=input.bidding_days,
                min_bid_fen=input.min_bid,
                max_bid_fen=input.max_bid,
                collateral_ref=input.collateral_ref,
                guarantee_ref=input.guarantee_ref,
            ),
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.PublishLoanError.from_domain(error)
    return t.LoanPublished(loan=await _one(info, row))


async def review_loan(info: Info, input: t.ReviewLoanInput) -> t.ReviewLoanResult:
    try:
        done = await review.review(
            await info.context.get_actor(),
            _loan_id(input.loan_id, "loanId"),
            input.level,
            LoanReviewDecision(input.decision.value),
            input.reason,
        )
    except DomainError as error:
        return t.ReviewLoanError.from_domain(error)
    return t.LoanReviewed(loan=await _one(info, done.loan))


async def loan_schedule_preview(
    info: Info, amount: Money, annual_rate: Rate, term_months: int, method: t.RepaymentMethod
) -> t.SchedulePreview:
    fees = await parameters.get(policy.FEE_TERMS)
    try:
        terms = LoanTerms(
            amount_fen=amount,
            annual_rate=annual_rate,
            term_months=term_months,
            method=RepaymentMethod(method.value),
            schedule_rules=CURRENT_SCHEDULE_RULES,  # what publishing now would freeze
        )
        priced = price(terms, fees.monthly_service_fee_rate, await clock.today())
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    return t.SchedulePreview(
        installments=[
            t.ScheduleInstallment(
                number=row.installment.number,
                due_date=row.installment.due_date,
                principal=Money(row.installment.principal_fen),
                interest=Money(row.installment.interest_fen),
                payment=Money(row.installment.total_fen),
                fee=Money(row.fee_fen),
                total_due=Money(row.total_due_fen),
                balance_after=Money(row.installment.balance_after_fen),
            )
            for row in priced.installments
        ],
        total_interest=Money(priced.total_interest_fen),
        total_fees=Money(priced.total_fees_fen),
        total_paid=Money(priced.total_paid_fen),
        monthly_service_fee_rate=Rate(fees.monthly_service_fee_rate),
        all_in_annual_cost=f"{priced.all_in_cost:f}",
        within_cap=not priced.exceeds_cap,
    )


async def loans(
    info: Info,
    filter: t.LoanFilter | None = None,
    first: int | None = 20,
    after: str | None = None,
) -> Connection[t.Loan]:
    after_id = cursor_key(after)
    given = filter or t.LoanFilter()
    size = clamp_first(first)
    page = await requests.marketplace(
        requests.MarketFilter(
            status=LoanStatus(given.status.value) if given.status else None,
            method=RepaymentMethod(given.method.value) if given.method else None,
            min_rate=given.min_rate,
            max_rate=given.max_rate,
            min_term=given.min_term,
            max_term=given.max_term,
        ),
        first=size + 1,
        after_id=after_id,
    )
    return await _connection(info, page.rows, page.total, size, after)


async def _connection(
    info: Info, rows: list[Loan], total: int, size: int, after: str | None
) -> Connection[t.Loan]:
    actor = await info.context.get_actor()
    now = await clock.now()
    return build_connection(
        rows,
        first=size,
        total=total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=lambda row: _loan(row, actor, now, None),
    )


async def loan(info: Info, id: strawberry.ID) -> t.Loan | None:
    try:
        row = await requests.get_visible(await info.context.get_actor(), _loan_id(id, "id"))
    except DomainError:
        return None
    return await _one(info, row, with_disclosure=True)


async def my_loans(info: Info) -> list[t.Loan]:
    actor = await info.context.get_actor()
    now = await clock.now()
    return [_loan(row, actor, now, None) for row in await requests.my_loans(actor)]


async def loan_review_queue(
    info: Info, level: int, first: int | None = 20, after: str | None = None
) -> Connection[t.Loan]:
    after_id = cursor_key(after)
    size = clamp_first(first)
    try:
        page = await review.queue(
            await info.context.get_actor(), level, first=size + 1, after_id=after_id
        )
    except PermissionDeniedError as error:
        raise StrawberryGraphQLError(
            error.message, extensions={"code": "FORBIDDEN", "field": "level"}
        ) from error
    return await _connection(info, page.rows, page.total, size, after)


# --- bids ---------------------------------------------------------------------------------


def bid_view(row: Bid) -> t.BidType:
    return t.BidType(
        id=strawberry.ID(str(row.id)),
        loan_id=strawberry.ID(str(row.loan_id)),
        requested=Money(row.requested_fen),
        amount=Money(row.amount_fen),
        status=t.BidStatus(BidStatus(row.status).value),
        source=t.BidSource(BidSource(row.source).value),
        auto_rule_id=strawberry.ID(str(row.auto_rule_id)) if row.auto_rule_id else None,
        refusal=row.refusal or None,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


async def place_bid(info: Info, input: t.PlaceBidInput) -> t.PlaceBidResult:
    try:
        row = await bidding.place_bid(
            actor=await info.context.get_actor(),
            loan_id=_loan_id(input.loan_id, "loanId"),
            amount=input.amount,
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.PlaceBidError.from_domain(error)
    assert row.operation_id is not None
    return t.BidPlaced(bid=bid_view(row), operation_id=strawberry.ID(str(row.operation_id)))


async def my_bids(
    info: Info, first: int | None = 20, after: str | None = None
) -> Connection[t.BidType]:
    before_id = cursor_key(after)
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    size = clamp_first(first)
    page = await bid_views.bids_of(actor.user_id, first=size + 1, before_id=before_id)
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=bid_view,
    )


async def bid_progress(info: Info, loan_id: strawberry.ID) -> AsyncGenerator[t.BidProgressEvent]:
    try:
        number = _loan_id(loan_id, "loanId")
    except DomainError as error:
        raise BadUserInputError(error.message, field="loanId") from error
    async for event in bid_views.progress_stream(number):
        if isinstance(event, Gap):
            yield resync(event)
            continue
        bid_amount = event.get("bid_amount_fen")
        source = event.get("source")
        yield t.BidProgressEvent(
            loan_id=strawberry.ID(str(event["loan_id"])),
            kind=t.BidProgressKind(event["event"]),
            status=t.LoanStatus(event["status"]),
            amount=Money(event["amount_fen"]),
            funded=Money(event["funded_fen"]),
            remaining=Money(event["amount_fen"] - event["funded_fen"]),
            bidders=event["bidder_count"],
            bid_amount=Money(bid_amount) if bid_amount is not None else None,
            source=t.BidSource(source) if source else None,
            at=datetime.fromisoformat(event["at"]),
        )


# --- automatic bidding (M1.7) -------------------------------------------------------------


async def auto_bid_rule_view(row: AutoBidRule) -> t.AutoBidRule:
    return t.AutoBidRule(
        id=strawberry.ID(str(row.id)),
        enabled=row.enabled,
        opted_in_at=row.opted_in_at,
        min_rate=Rate(Decimal(row.min_rate).quantize(Decimal("0.0001"))),
        max_rate=Rate(Decimal(row.max_rate).quantize(Decimal("0.0001"))),
        min_term=row.min_term,
        max_term=row.max_term,
        grades=list(row.grades),
        methods=[t.RepaymentMethod(method) for method in row.methods],
        amount_per_loan=Money(row.amount_per_loan_fen),
        keep_balance=Money(row.keep_balance_fen),
        queue_place=await autobid.queue_place(row),
        updated_at=row.updated_at,
        secondary_market=t.SecondaryMarketRule(
            max_premium=SignedRate(Decimal(row.market_max_premium).quantize(Decimal("0.0001"))),
            min_buyer_xirr=SignedRate(Decimal(row.market_min_xirr).quantize(Decimal("0.0001"))),
            skip_overdue=row.market_skip_overdue,
        )
        if row.market_enabled
        else None,
    )


async def set_auto_bid_rule(info: Info, input: t.AutoBidRuleInput) -> t.SetAutoBidRuleResult:
    try:
        saved = await autobid.set_rule(
            await info.context.get_actor(),
            autobid.RuleSettings(
                min_rate=input.min_rate,
                max_rate=input.max_rate,
                min_term=input.min_term,
                max_term=input.max_term,
                grades=tuple(grade.strip().upper() for grade in input.grades),
                methods=tuple(method.value for method in input.methods),
                amount_per_loan_fen=input.amount_per_loan,
                keep_balance_fen=input.keep_balance,
                market=autobid.MarketSettings(
                    max_premium=Decimal(input.secondary_market.max_premium),
                    min_xirr=Decimal(input.secondary_market.min_buyer_xirr),
                    skip_overdue=input.secondary_market.skip_overdue,
                )
                if input.secondary_market is not None
                else None,
            ),
        )
    except DomainError as error:
        return t.SetAutoBidRuleError.from_domain(error)
    operation = saved.operation
    return t.AutoBidRuleSaved(
        rule=await auto_bid_rule_view(saved.rule),
        operation_id=strawberry.ID(str(operation.id)) if operation is not None else None,
    )


async def disable_auto_bid_rule(info: Info) -> t.DisableAutoBidRuleResult:
    try:
        row = await autobid.disable_rule(await info.context.get_actor())
    except DomainError as error:
        return t.DisableAutoBidRuleError.from_domain(error)
    return t.AutoBidRuleDisabled(rule=await auto_bid_rule_view(row))


async def my_auto_bid_rule(info: Info) -> t.AutoBidRule | None:
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    row = await autobid.rule_of(actor.user_id)
    return await auto_bid_rule_view(row) if row is not None else None
