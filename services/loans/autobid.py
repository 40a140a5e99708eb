"""Automatic bidding (M1.7): each lender's rule, the one-time SMS opt-in, the fair queue.

A member has at most one rule: a rate range, a term range, the borrower grades and
repayment methods they lend to, the amount per loan and a balance to keep.
`set_rule` saves it, for a member who has the verifications the catalogue requires for
lending approved (`eligibility.check_may_lend`, checked again at the opt-in and at
every automatic bid). The first time a member enables automatic bidding the rule is not
enabled yet: a pending operation AUTO_BID_OPT_IN is created with an SMS code bound to
it, and `confirmOperation` with that code opts the member in (once: `opted_in_at`).
Later changes need no code; an enabled rule keeps its place in the queue, a disabled one
(`disable_rule`) goes to the back when it is enabled again.

When a loan is listed (the `loan.listed` outbox event of the review service), the
enabled rules are served in queue order (`run_auto_bids`). A rule matches when the
loan's rate, term and method and the borrower's grade fit it and the lender is not the
borrower; the rule of a member whose account is locked or closed is passed over
(`active_members`). It bids the least of its amount per loan, the lender's available balance less
the balance to keep, the loan's maximum bid, what is left of the automatic share
(`loans.autoBidShare`, rounded down to the fen) and what is left of the loan; less than
the loan's minimum bid is skipped unless it is exactly what is left of the loan. Each
bid goes through `bidding.accept` (source AUTO, with its rule id) in its own savepoint,
so a refused one (the lender's verifications required for lending, R4 cap or grades,
balance) is skipped and the others stand. A rule that bid goes to the back of the
queue; the others keep their places. The run stops when the share is used, the loan is
full or the queue is exhausted. A loan is auto-bid once (`loans.auto_bid_done_at`, set
under the loan's row lock), however often the event is delivered.

Queue positions come from one counter row (`auto_bid_queue`, id 1) locked FOR UPDATE:
they only rise, in every process, and holding the lock makes concurrent runs (two
listings at once) and opt-ins take turns, so the queue has one order. Locks are taken in
the order loan row, counter row, rule rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.bids import AutoBidQueue, AutoBidRule, Bid, BidSource
from models.loans import Loan, LoanStatus
from models.members import User, UserStatus
from models.payments import PendingOperation
from services.credit import eligibility, scoring
from services.credit.policy import GRADES
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor
from services.loans import bidding, policy
from services.loans.schedule import RepaymentMethod
from services.money import ledger
from services.money.accounts import MAX_AMOUNT, validate_amount
from services.money.money import format_money
from services.operations.confirmation import open_operation, send_operation_code
from services.operations.registry import register_operation
from services.payments import instructions
from services.platform import clock, notifier, outbox, parameters

logger = logging.getLogger(__name__)

OPT_IN_OPERATION = "AUTO_BID_OPT_IN"
MAX_RATE = Decimal("0.36")
MAX_TERM_MONTHS = 360
_COUNTER_ID = 1


MAX_PREMIUM = Decimal("0.5")  # the bounds a rule may name; the market's own rules bind
MIN_PREMIUM = Decimal("-0.9")
XIRR_BOUNDS = (Decimal("-0.9"), Decimal("10"))


@dataclass(frozen=True)
class MarketSettings:
    """Buying on the secondary market (issue 20), opt-in: at most `max_premium` over the
    principal (a discount is negative), at least `min_xirr` for the buyer at the price,
    and with `skip_overdue` never a claim of a loan overdue now."""

    max_premium: Decimal
    min_xirr: Decimal
    skip_overdue: bool = True


@dataclass(frozen=True)
class RuleSettings:
    """What a member asks for; amounts in fen, rates nominal annual."""

    min_rate: Decimal
    max_rate: Decimal
    min_term: int
    max_term: int
    grades: tuple[str, ...]
    methods: tuple[str, ...]
    amount_per_loan_fen: int
    keep_balance_fen: int
    market: MarketSettings | None = None  # None: the rule does not buy on the market


@dataclass(frozen=True)
class Saved:
    rule: AutoBidRule
    operation: PendingOperation | None  # the opt-in waiting for its SMS code, if one is


def validate(settings: RuleSettings) -> RuleSettings:
    """Checked and normalised settings (grades and methods deduplicated, in canonical
    order). Raises InvalidInputError with the field at fault."""
    for name, value in (("minRate", settings.min_rate), ("maxRate", settings.max_rate)):
        if not Decimal(0) <= value <= MAX_RATE:
            raise InvalidInputError(f"Rates run from 0.0000 to {MAX_RATE:.4f}", field=name)
    if settings.min_rate > settings.max_rate:
        raise InvalidInputError("The lowest rate must not exceed the highest", field="minRate")
    for name, term in (("minTerm", settings.min_term), ("maxTerm", settings.max_term)):
        if not 1 <= term <= MAX_TERM_MONTHS:
            raise InvalidInputError(f"Terms run from 1 to {MAX_TERM_MONTHS} months", field=name)
    if settings.min_term > settings.max_term:
        raise InvalidInputError("The shortest term must not exceed the longest", field="minTerm")
    unknown = sorted(set(settings.grades) - set(GRADES))
    if not settings.grades or unknown:
        raise InvalidInputError(f"Choose one or more grades of {', '.join(GRADES)}", field="grades")
    methods = [method.value for method in RepaymentMethod]
    if not settings.methods or not set(settings.methods) <= set(methods):
        raise InvalidInputError(
            f"Choose one or more repayment methods of {', '.join(methods)}", field="methods"
        )
    validate_amount(settings.amount_per_loan_fen, field="amountPerLoan")
    if not 0 <= settings.keep_balance_fen <= MAX_AMOUNT:
        raise InvalidInputError("The balance to keep must be 0.00 or more", field="keepBalance")
    market = settings.market
    if market is not None:
        if not MIN_PREMIUM <= market.max_premium <= MAX_PREMIUM:
            raise InvalidInputError(
                f"The premium runs from {MIN_PREMIUM} to {MAX_PREMIUM}", field="maxPremium"
            )
        if not XIRR_BOUNDS[0] <= market.min_xirr <= XIRR_BOUNDS[1]:
            raise InvalidInputError(
                f"The XIRR runs from {XIRR_BOUNDS[0]} to {XIRR_BOUNDS[1]}", field="minBuyerXirr"
            )
    return RuleSettings(
        min_rate=settings.min_rate,
        max_rate=settings.max_rate,
        min_term=settings.min_term,
        max_term=settings.max_term,
        grades=tuple(grade for grade in GRADES if grade in settings.grades),
        methods=tuple(method for method in methods if method in settings.methods),
        amount_per_loan_fen=settings.amount_per_loan_fen,
        keep_balance_fen=settings.keep_balance_fen,
        market=market,
    )


async def lock_counter() -> AutoBidQueue:
    """The queue counter, locked until the caller's transaction ends (created on first
    use, above any position already handed out)."""
    counter = await AutoBidQueue.filter(id=_COUNTER_ID).select_for_update().first()
    if counter is None:
        highest = (
            await AutoBidRule.filter(queue_position__isnull=False)
            .order_by("-queue_position")
            .first()
        )
        start = (highest.queue_position or 0) if highest is not None else 0
        # Two processes may get here at once: the second insert is ignored.
        await AutoBidQueue.bulk_create(
            [AutoBidQueue(id=_COUNTER_ID, last_position=start)], ignore_conflicts=True
        )
        counter = await AutoBidQueue.filter(id=_COUNTER_ID).select_for_update().get()
    return counter


async def to_the_back(counter: AutoBidQueue, rule: AutoBidRule) -> None:
    """Give `rule` the next position (the caller holds the counter's lock)."""
    counter.last_position += 1
    await counter.save(update_fields=["last_position"])
    rule.queue_position = counter.last_position
    await rule.save(update_fields=["queue_position"])


def _apply(rule: AutoBidRule, settings: RuleSettings) -> None:
    rule.min_rate = settings.min_rate
    rule.max_rate = settings.max_rate
    rule.min_term = settings.min_term
    rule.max_term = settings.max_term
    rule.grades = list(settings.grades)
    rule.methods = list(settings.methods)
    rule.amount_per_loan_fen = settings.amount_per_loan_fen
    rule.keep_balance_fen = settings.keep_balance_fen
    market = settings.market
    rule.market_enabled = market is not None
    if market is not None:
        rule.market_max_premium = market.max_premium
        rule.market_min_xirr = market.min_xirr
        rule.market_skip_overdue = market.skip_overdue


async def set_rule(actor: Actor, settings: RuleSettings) -> Saved:
    """Save the caller's rule and enable it; see the module docstring. The first time,
    the answer carries the opt-in operation to confirm with the SMS code, and the rule
    stays disabled until then. Raises LendingVerificationRequiredError (first: a member
    who may not lend has nothing to set up) and InvalidInputError; nothing changes."""
    assert actor.user_id is not None
    user_id = actor.user_id
    await eligibility.check_may_lend(user_id)
    checked = validate(settings)
    now = await clock.now()
    operation: PendingOperation | None = None
    async with in_transaction():
        counter = await lock_counter()
        rule = await AutoBidRule.filter(user_id=user_id).select_for_update().first()
        if rule is None:
            rule = AutoBidRule(user_id=user_id, created_at=now, enabled=False)
        _apply(rule, checked)
        rule.updated_at = now
        await rule.save()
        if rule.opted_in_at is None:
            # Not confirmed yet: a new code replaces any earlier opt-in still waiting.
            await PendingOperation.filter(
                user_id=user_id, kind=OPT_IN_OPERATION, status="AWAITING_CODE"
            ).update(status="CANCELLED")
            operation = await open_operation(
                user_id=user_id,
                kind=OPT_IN_OPERATION,
                target_id=rule.id,
                amount=checked.amount_per_loan_fen,
                counterparty="auto-bid",
            )
        elif not rule.enabled:
            rule.enabled = True
            await rule.save(update_fields=["enabled"])
            await to_the_back(counter, rule)
    if operation is not None:
        await send_operation_code(operation)
    return Saved(rule=await AutoBidRule.get(id=rule.id), operation=operation)


async def _describe_opt_in(operation: PendingOperation) -> str:
    """The opt-in's SMS: the amount per loan the rule may bid."""
    return (
        f"[LendBridge] Code {{code}} turns on automatic bidding of up to "
        f"{format_money(operation.amount)} per loan. Do not share it."
    )


async def _confirm_opt_in(operation: PendingOperation) -> AutoBidRule:
    """The SMS code was right: the member is opted in, the rule enabled at the back (in
    the confirming transaction), if they still have the verifications required for
    lending (LENDING_VERIFICATION_REQUIRED otherwise: nothing changes)."""
    await eligibility.check_may_lend(operation.user_id)
    counter = await lock_counter()
    rule = await AutoBidRule.filter(id=operation.target_id).select_for_update().get()
    rule.opted_in_at = await clock.now()
    rule.enabled = True
    rule.updated_at = rule.opted_in_at
    await rule.save(update_fields=["opted_in_at", "enabled", "updated_at"])
    await to_the_back(counter, rule)
    return rule


register_operation(OPT_IN_OPERATION, execute=_confirm_opt_in, describe=_describe_opt_in)


async def disable_rule(actor: Actor) -> AutoBidRule:
    """Stop automatic bidding; the settings and the opt-in stay (enabling again needs no
    code and joins at the back). An opt-in still waiting is cancelled. Raises
    NotFoundError when the member has no rule."""
    assert actor.user_id is not None
    async with in_transaction():
        rule = await AutoBidRule.filter(user_id=actor.user_id).select_for_update().first()
        if rule is None:
            raise NotFoundError("You have no automatic bidding rule")
        await PendingOperation.filter(
            user_id=actor.user_id, kind=OPT_IN_OPERATION, status="AWAITING_CODE"
        ).update(status="CANCELLED")
        rule.enabled = False
        rule.queue_position = None
        rule.updated_at = await clock.now()
        await rule.save(update_fields=["enabled", "queue_position", "updated_at"])
    return rule


async def rule_of(user_id: int) -> AutoBidRule | None:
    return await AutoBidRule.get_or_none(user_id=user_id)


async def queue_place(rule: AutoBidRule) -> int | None:
    """1 for the next rule to be served; None when the rule is not in the queue."""
    if not rule.enabled or rule.queue_position is None:
        return None
    ahead = await AutoBidRule.filter(enabled=True, queue_position__lt=rule.queue_position).count()
    return ahead + 1


# --- the fair queue at listing -------------------------------------------------------


def matches(rule: AutoBidRule, loan: Loan, grade: str) -> bool:
    """The loan's rate, term and method and the borrower's grade fit the rule, and the
    lender is not the borrower."""
    rate = Decimal(loan.annual_rate)
    return (
        rule.user_id != loan.borrower_id
        and Decimal(rule.min_rate) <= rate <= Decimal(rule.max_rate)
        and rule.min_term <= loan.term_months <= rule.max_term
        and loan.method in rule.methods
        and grade in rule.grades
    )


async def auto_share_fen(loan: Loan) -> int:
    share = (await parameters.get(policy.AUTO_BID_SHARE)).share
    return int((Decimal(loan.amount_fen) * share).to_integral_value(rounding=ROUND_FLOOR))


def active_members() -> Subquery:
    """The members who may act: a locked or closed account's rule places nothing."""
    return Subquery(User.filter(status=UserStatus.ACTIVE).values("id"))


async def run_auto_bids(loan_id: int) -> list[Bid]:
    """Serve the queue for a newly listed loan, once; see the module docstring. Returns
    the bids placed (none when the loan was already auto-bid or is not listed)."""
    placed: list[Bid] = []
    async with in_transaction():
        loan = await Loan.filter(id=loan_id).select_for_update().first()
        if loan is None or loan.auto_bid_done_at is not None:
            return placed
        now = await clock.now()
        loan.auto_bid_done_at = now
        await loan.save(update_fields=["auto_bid_done_at"])
        if loan.status != LoanStatus.LISTED:
            return placed
        share_left = await auto_share_fen(loan)
        grade = (await scoring.profile_for(loan.borrower_id)).grade
        counter = await lock_counter()
        rules = (
            await AutoBidRule.filter(
                enabled=True, queue_position__isnull=False, user_id__in=active_members()
            )
            .order_by("queue_position", "id")
            .select_for_update()
        )
        for rule in rules:
            loan_left = loan.amount_fen - loan.funded_fen
            if share_left <= 0 or loan_left <= 0:
                break
            if not matches(rule, loan, grade):
                continue
            available = (await ledger.member_balances(rule.user_id))["available"]
            amount = min(
                rule.amount_per_loan_fen,
                available - rule.keep_balance_fen,
                loan.max_bid_fen,
                share_left,
                loan_left,
            )
            if amount <= 0 or (amount < loan.min_bid_fen and amount != loan_left):
                continue
            try:
                async with in_transaction():
                    accepted = await bidding.accept(
                        loan_id=loan.id,
                        lender_id=rule.user_id,
                        requested=amount,
                        source=BidSource.AUTO,
                        auto_rule_id=rule.id,
                    )
                    await notifier.notify(
                        user=rule.user_id,
                        kind="bid",
                        title="Automatic bid placed",
                        body=f"Your automatic bidding rule bid "
                        f"{format_money(accepted.bid.amount_fen)} on loan {loan.id}.",
                    )
            except DomainError as error:
                # Refused (a verification required for lending since revoked, R4, balance,
                # ...): its savepoint is undone, the rule keeps its place.
                logger.info("auto-bid rule %s skipped on loan %s: %s", rule.id, loan.id, error.code)
                continue
            await to_the_back(counter, rule)
            placed.append(accepted.bid)
            share_left -= accepted.bid.amount_fen
            loan = accepted.loan
    if placed:
        instructions.wake()
        outbox.wake()
    return placed


async def _on_listed(payload: dict[str, Any]) -> None:
    await run_auto_bids(int(payload["loan_id"]))


outbox.register_handler(bidding.LISTED_TOPIC, _on_listed)
