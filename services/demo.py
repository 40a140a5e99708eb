"""Generated demo data: roles, one staff user per role, a few members, and a loan's life.

Idempotent: each run creates only what is missing, so `scripts/start` can run it on
every start. Everything goes through the services, as the members and staff would do
it in GraphiQL (the demo plays their phones: it reads the SMS codes the platform sent,
as `devOutbox` shows them). Never in prod.

The lending part moves money, so it needs the payment provider: `seed_demo_data` is
given the embedded sandbox provider of a running platform (`python -m app seed-demo`
starts the app's lifespan for that; tests pass the `app` fixture's), and plays the
bank with it until every instruction has settled. Without one (PROVIDER_URL set) only
the people and their credit are seeded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import cast

from models.bids import Bid, BidStatus, Claim
from models.credit import ReviewDecision, VerificationSubmission
from models.loans import Loan, LoanReview, LoanReviewDecision, LoanStatus
from models.members import User
from models.messaging import OutgoingMessage
from models.payments import BankCard, ProviderAccount
from models.repayments import InstallmentStatus, LoanInstallment, Repayment, RepaymentStatus
from services import demo_help
from services.contracts import signatures
from services.credit import eligibility, materials, review, risk_assessment, scoring
from services.credit.catalogue import KINDS, FieldFormat, VerificationKind, get_kind
from services.errors import DomainError
from services.identity import auth
from services.identity.permissions import (
    ANONYMOUS,
    DEFAULT_ROLES,
    Actor,
    Permission,
    load_actor,
    seed_roles,
)
from services.kit.security import lookup_hash
from services.kit.settings import get_settings
from services.loans import bidding, contracting, requests
from services.loans import review as loan_review
from services.loans.schedule import RepaymentMethod
from services.money import accounts, ledger
from services.money.money import format_money
from services.operations import confirmation
from services.payments.embedded import settle_until_quiet
from services.payments.provider import DepositChannel
from services.payments.sandbox import Sandbox, luhn_complete
from services.platform import clock, outbox
from services.repayments import service as repayments
from services.repayments.due import RepayMode

DEMO_PASSWORD = "Demo12345"
# Generated numbers in a range used only for demo data: 1990000xxxx.
_STAFF_BASE = 19900000000
_MEMBER_BASE = 19900001000
_MEMBERS = 4  # 1 borrower, 2 materials waiting for review, 3 and 4 lenders

_LOCAL_IP = "127.0.0.1"


class DemoRefusedError(RuntimeError):
    """Demo data is never created in prod."""


@dataclass(frozen=True)
class DemoLoan:
    """A loan the demo publishes for member 1; found again by its purpose."""

    key: str  # idempotency key of the publication
    purpose: str
    amount_fen: int
    annual_rate: str
    term_months: int
    bid_window_days: int
    min_bid_fen: int
    shares: tuple[int, ...]  # what each demo lender (members 3, 4) lends; () stays listed


REPAYING_LOAN = DemoLoan(
    key="demo-loan-repaying",
    purpose="Demo: stock for a small shop (repaying)",
    amount_fen=1_000_000,
    annual_rate="0.1200",
    term_months=12,
    bid_window_days=10,
    min_bid_fen=100_000,
    shares=(600_000, 400_000),
)
LISTED_LOAN = DemoLoan(
    key="demo-loan-listed",
    purpose="Demo: a delivery tricycle (open for bids)",
    amount_fen=500_000,
    annual_rate="0.1000",
    term_months=6,
    bid_window_days=20,
    min_bid_fen=10_000,
    shares=(),
)
LENDER_DEPOSIT_FEN = 1_000_000  # each demo lender's deposit: their share, and some to bid
# An R4 questionnaire answered "C" throughout: GROWTH tier (cap 500,000.00, grades to D).
_RISK_ANSWERS = dict.fromkeys(
    (
        "age",
        "income",
        "investableShare",
        "experience",
        "lossTolerance",
        "horizon",
        "p2pKnowledge",
        "purpose",
    ),
    "C",
)


async def seed_demo_data(sandbox: Sandbox | None = None) -> list[str]:
    """Create missing demo data; return lines for the operator (logins, what to see).

    With `sandbox` (the embedded provider of a running platform) the lending life cycle
    is seeded as well. Raises DemoRefusedError with APP_ENV=prod."""
    if get_settings().is_prod:
        raise DemoRefusedError("demo data is never created with APP_ENV=prod")
    await seed_roles()
    lines = []
    staff: dict[str, User] = {}
    staff_roles = [name for name, (_d, is_staff, _p) in DEFAULT_ROLES.items() if is_staff]
    for index, role in enumerate(staff_roles, start=1):
        phone = str(_STAFF_BASE + index)
        user = await User.get_or_none(phone_lookup=lookup_hash(phone))
        if user is None:
            user = await auth.create_staff_user(
                actor=ANONYMOUS,
                phone=phone,
                password=DEMO_PASSWORD,
                display_name=f"Demo {role}",
                roles=[role],
            )
        staff[role] = user
        lines.append(f"{role:<10} {phone}  {DEMO_PASSWORD}")
    members = []
    for index in range(1, _MEMBERS + 1):
        phone = str(_MEMBER_BASE + index)
        member = await User.get_or_none(phone_lookup=lookup_hash(phone))
        if member is None:
            member = await auth.create_member_without_code(
                phone=phone, password=DEMO_PASSWORD, display_name=f"Demo member {index}"
            )
        members.append(member)
    await _seed_credit(members, staff["credit"])
    await demo_help.seed_help(staff["cs"])
    lines.append("help centre: demo articles published (helpArticles, try the search 逾期)")
    grade = (await scoring.profile_for(members[0].id)).grade
    roles = [
        f"borrower, verified (grade {grade})",
        "materials waiting for the credit officer",
        "lender, verified to lend",
        "lender, verified to lend",
    ]
    if sandbox is None:
        roles[2:] = ["verified to lend, no custody account yet"] * 2
    for index, role in enumerate(roles, start=1):
        lines.append(f"{'member':<10} {_MEMBER_BASE + index}  {DEMO_PASSWORD}  {role}")
    if sandbox is None:
        lines.append(
            "no loans seeded: the lending demo needs the embedded sandbox provider "
            "(PROVIDER_URL unset)"
        )
        return lines
    try:
        lines += await _seed_lending(sandbox, members, staff)
    except DomainError as error:
        # The people are there; a demo database played with by hand may refuse a step.
        lines.append(f"lending demo incomplete: {error.code}: {error.message}")
    return lines


def _demo_id_number(index: int) -> str:
    """A generated resident ID number with a valid check character (not a real person's)."""
    body = f"11010119900101{900 + index:03d}"[:17]
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def _demo_name(index: int) -> str:
    return f"Demo Member {index}"


def _demo_fields(kind: VerificationKind, index: int) -> dict[str, str]:
    samples = {
        FieldFormat.NAME: _demo_name(index),
        FieldFormat.ID_NUMBER: _demo_id_number(index),
        FieldFormat.PHONE: str(_MEMBER_BASE + 100 + index),
        FieldFormat.EMAIL: f"member{index}@demo.invalid",
        FieldFormat.NUMBER: f"DEMO{index:06d}",
        FieldFormat.DATE: "2030-12-31",
        FieldFormat.CONSENT: "yes",
    }
    return {
        spec.name: samples.get(spec.format, "12000.00" if spec.format == "MONEY" else "demo")
        for spec in kind.fields
    }


def _demo_files(kind: VerificationKind) -> list[tuple[str, str, bytes]]:
    if "image/png" in kind.file_types:
        made = ("page.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"demo" * 64)
    else:
        made = ("clip.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42" + b"demo" * 64)
    return [made] * kind.min_files


async def _seed_credit(members: list[User], officer: User) -> None:
    """Member 1: every item needed to borrow, approved. Member 2: the same, waiting.
    Members 3 and 4 (the lenders): every item needed to lend, approved. Each submitted
    by the member and decided by the demo credit officer, as in GraphiQL."""
    officer_actor = Actor(
        user_id=officer.id, kind="staff", permissions=frozenset({Permission.CREDIT_REVIEW})
    )

    def id_card_first(codes: list[str]) -> list[str]:
        # The ID card first: the outside checks of other kinds need it approved.
        return sorted(codes, key=lambda code: code != "ID_CARD")

    borrowing = id_card_first([k.code for k in KINDS if k.required_for_borrowing])
    lending = id_card_first([k.code for k in eligibility.required_for_lending()])
    wanted = ((1, borrowing, True), (2, borrowing, False), (3, lending, True), (4, lending, True))
    for index, codes, approve in wanted:
        member = members[index - 1]
        if await VerificationSubmission.exists(user_id=member.id):
            continue
        actor = Actor(user_id=member.id, kind="member")
        for code in codes:
            kind = get_kind(code)
            assert kind is not None
            submission = await materials.submit(
                actor, code, _demo_fields(kind, index), _demo_files(kind)
            )
            if approve:
                await review.review(officer_actor, submission.id, ReviewDecision.APPROVE, "")


# --- lending: custody accounts, a loan from publishing to its first repayment ----------


async def _never_revoked(_token_id: str) -> bool:
    return False


async def _actor(user: User) -> Actor:
    """The user as they act when logged in: their roles' permissions."""
    actor = await load_actor(user.id, is_revoked=_never_revoked)
    if actor is None:
        raise DomainError(f"demo user {user.id} may not act (locked or closed)", code="FORBIDDEN")
    return actor


async def _sms_code(user: User) -> str:
    """The code in the newest SMS sent to the user: the demo plays the member's phone
    (dev and test only, as `devOutbox`)."""
    message = (
        await OutgoingMessage.filter(recipient_lookup=user.phone_lookup).order_by("-id").first()
    )
    found = re.search(r"\b(\d{6})\b", message.body) if message is not None else None
    if found is None:
        raise RuntimeError(f"no SMS code was sent to demo user {user.id}")
    return found[1]


async def _custody(sandbox: Sandbox, member: User, index: int) -> BankCard:
    """The member's custody account at the provider, with a bound card."""
    actor = await _actor(member)
    account = await ProviderAccount.get_or_none(owner_code=f"m:{member.id}")
    if account is None or account.status == "failed":
        await accounts.open_account(
            actor=actor, real_name=_demo_name(index), id_number=_demo_id_number(index)
        )
        await settle_until_quiet(sandbox)
    card = await BankCard.filter(user_id=member.id, status="bound").order_by("id").first()
    if card is None:
        number = luhn_complete(f"62220202{900 + index:03d}1234567")
        await accounts.bind_card(actor=actor, card_number=number, bank_name="Demo Bank")
        await settle_until_quiet(sandbox)
        card = await BankCard.filter(user_id=member.id, status="bound").order_by("id").first()
    if card is None:
        raise DomainError(f"demo member {index}: the card was not bound", code="CARD_NOT_BOUND")
    return card


async def _ready_lender(
    sandbox: Sandbox, lender: User, card: BankCard, loan: Loan, share: int
) -> None:
    """Money for the demo's bid of `share` on `loan` (a deposit by auto-debit of the
    bound card, more than the bid, so some is left to try bidding), and an R4 profile
    in force with its notice confirmed."""
    actor = await _actor(lender)
    if (await ledger.member_balances(lender.id))["available"] < share:
        deposit = await accounts.deposit(
            actor=actor,
            amount=LENDER_DEPOSIT_FEN,
            channel=DepositChannel.AUTO_DEBIT,
            idempotency_key=f"demo-deposit-loan-{loan.id}",
            card_id=card.id,
        )
        await settle_until_quiet(sandbox)
        if deposit.status == "FAILED":
            raise DomainError("the demo deposit failed at the provider", code="DEPOSIT_FAILED")
    profile = await risk_assessment.profile_of(lender.id)
    if profile.status != risk_assessment.ProfileStatus.READY:
        assessment = profile.assessment
        if assessment is None:
            assessment = await risk_assessment.submit_assessment(actor, _RISK_ANSWERS)
        await risk_assessment.confirm_risk_notice(actor, assessment.id, _LOCAL_IP)


async def _publish(borrower: User, wanted: DemoLoan) -> Loan:
    existing = await Loan.filter(borrower_id=borrower.id, purpose=wanted.purpose).first()
    if existing is not None:
        return existing
    return await requests.publish(
        await _actor(borrower),
        requests.LoanRequest(
            amount_fen=wanted.amount_fen,
            annual_rate=Decimal(wanted.annual_rate),
            term_months=wanted.term_months,
            method=RepaymentMethod.EQUAL_INSTALLMENT,
            purpose=wanted.purpose,
            bid_window_days=wanted.bid_window_days,
            min_bid_fen=wanted.min_bid_fen,
            max_bid_fen=wanted.amount_fen,
        ),
        idempotency_key=wanted.key,
    )


async def _review(loan: Loan, staff: dict[str, User]) -> Loan:
    """Each review level still open, approved by the demo risk officer of that level."""
    decided = set(
        cast(list[int], await LoanReview.filter(loan_id=loan.id).values_list("level", flat=True))
    )
    for level in loan.required_levels:
        if level in decided or loan.status not in (
            LoanStatus.PENDING_REVIEW,
            LoanStatus.IN_REVIEW,
        ):
            continue
        reviewer = await _actor(staff[f"risk_l{level}"])
        reviewed = await loan_review.review(
            reviewer, loan.id, level, LoanReviewDecision.APPROVE, "Demo review: approved"
        )
        loan = reviewed.loan
    return await Loan.get(id=loan.id)


async def _bid(lender: User, loan: Loan, amount: int) -> None:
    """A manual bid, confirmed with the SMS code, unless the lender has bid already."""
    if await Bid.filter(
        loan_id=loan.id,
        lender_id=lender.id,
        status__in=[BidStatus.ACCEPTED, BidStatus.TRANSFERRED],
    ).exists():
        return
    actor = await _actor(lender)
    bid = await bidding.place_bid(
        actor=actor, loan_id=loan.id, amount=amount, idempotency_key=f"demo-bid-{loan.id}"
    )
    if bid.status == BidStatus.AWAITING_CONFIRMATION:
        await confirmation.confirm_operation(
            actor=actor, operation_id=str(bid.operation_id), code=await _sms_code(lender)
        )


async def _sign_contract(borrower: User, loan: Loan) -> None:
    """The loan contract made (lenders' bids are their consent) and signed by the
    borrower with the SMS code."""
    contract = await contracting.contract_for_full_loan(loan)
    if await signatures.borrower_signed(loan.id):
        return
    actor = await _actor(borrower)
    await signatures.request_signature(actor=actor, contract_id=contract.id)
    await signatures.sign(
        actor=actor, contract_id=contract.id, code=await _sms_code(borrower), client_ip=_LOCAL_IP
    )


async def _repay_first(borrower: User, loan: Loan) -> None:
    """The first installment repaid by the borrower (from the disbursed money), unless a
    repayment was made already."""
    if await Repayment.filter(loan_id=loan.id, status=RepaymentStatus.DONE).exists():
        return
    actor = await _actor(borrower)
    asked = await repayments.repay(
        actor=actor,
        loan_id=loan.id,
        mode=RepayMode.NEXT,
        idempotency_key=f"demo-repay-{loan.id}-1",
    )
    if asked.status == RepaymentStatus.AWAITING_CONFIRMATION:
        await confirmation.confirm_operation(
            actor=actor, operation_id=str(asked.operation_id), code=await _sms_code(borrower)
        )


async def _seed_lending(sandbox: Sandbox, members: list[User], staff: dict[str, User]) -> list[str]:
    """Member 1 repays a loan filled by members 3 and 4 (its first installment paid) and
    has a second loan listed for bids. Each step runs only if it has not yet."""
    borrower, lenders = members[0], [members[2], members[3]]
    await settle_until_quiet(sandbox)  # whatever an interrupted run left with the provider
    await _custody(sandbox, borrower, 1)
    cards = [await _custody(sandbox, members[index - 1], index) for index in (3, 4)]

    loan = await _review(await _publish(borrower, REPAYING_LOAN), staff)
    if loan.status == LoanStatus.LISTED:
        await outbox.dispatch_once()  # the listing's event (automatic bids) first
        for lender, card, share in zip(lenders, cards, REPAYING_LOAN.shares, strict=True):
            await _ready_lender(sandbox, lender, card, loan, share)
            await _bid(lender, loan, share)
        await settle_until_quiet(sandbox)
        loan = await Loan.get(id=loan.id)
    if loan.status == LoanStatus.FULL:
        await _sign_contract(borrower, loan)
        await settle_until_quiet(sandbox)
        await bidding.disburse(loan.id)  # unless the signature's event did it already
        await settle_until_quiet(sandbox)
        loan = await Loan.get(id=loan.id)
    if loan.status == LoanStatus.REPAYING:
        await _repay_first(borrower, loan)
        await settle_until_quiet(sandbox)
        loan = await Loan.get(id=loan.id)

    listed = await _review(await _publish(borrower, LISTED_LOAN), staff)
    await settle_until_quiet(sandbox)
    return await _lending_lines(loan, listed, members)


async def _lending_lines(loan: Loan, listed: Loan, members: list[User]) -> list[str]:
    """What the lending demo shows, read back from the database (the same on every run)."""
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    paid = sum(1 for row in rows if row.status == InstallmentStatus.PAID)
    due: date | None = next(
        (row.due_date for row in rows if row.status != InstallmentStatus.PAID), None
    )
    facts = [f"{format_money(loan.amount_fen)} at {Decimal(loan.annual_rate) * 100:.2f}%"]
    if await signatures.borrower_signed(loan.id):
        facts.append("contract signed")
    lines = [f"member 1: loan {loan.id} is {loan.status.lower()} ({', '.join(facts)})"]
    if rows:
        lines[0] += f": {paid} of {len(rows)} installments paid"
    if due is not None:
        lines[0] += f", next due {due.isoformat()} (mySchedule, myRepayments)"
    number = {member.id: index for index, member in enumerate(members, start=1)}
    claims = await Claim.filter(loan_id=loan.id).order_by("id")
    if claims:
        held = ", ".join(
            f"member {number.get(claim.holder_id, '?')} {format_money(claim.principal_fen)}"
            for claim in claims
        )
        lines.append(f"claims on loan {loan.id}: {held} (myReceivables, myBids)")
    opened = f"loan {listed.id} ({format_money(listed.amount_fen)}) is {listed.status.lower()}"
    closes = listed.bidding_closes_at
    if listed.status == LoanStatus.LISTED and closes is not None:
        if closes > await clock.now():
            opened += f" until {closes:%Y-%m-%d}: members 3 and 4 can placeBid"
        else:
            opened += f", its window closed {closes:%Y-%m-%d} (the loans job fails it)"
    lines.append(opened)
    reviewed = sorted(
        {
            cast(int, loan_id)
            for loan_id in await LoanReview.filter(loan_id__in=[loan.id, listed.id]).values_list(
                "loan_id", flat=True
            )
        }
    )
    if reviewed:
        lines.append(
            f"staff: risk_l1 and risk_l2 approved loan{'s' * (len(reviewed) > 1)} "
            f"{' and '.join(map(str, reviewed))}; "
            f"finance sees {format_money(await ledger.balance(ledger.FEE))} of fees "
            "in platformAccounts"
        )
    return lines
