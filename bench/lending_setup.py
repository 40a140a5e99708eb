"""Set-up for the bidding benchmark, through the services only: platform parameters with
room for the run, a verified borrower with a listed loan, lenders ready to bid (their
verifications required for lending approved), SMS codes. The same steps as
tests/lending.py and tests/factories.py (which bench code does not import), with the
benchmark's own phone and ID-number ranges.

Needs Tortoise initialised, a broker installed and the payment provider running (the
app's lifespan with the in-process sandbox).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from decimal import Decimal
from typing import Any

from tortoise.models import Model

from models.credit import CreditChangeKind, VerificationStatus, VerificationSubmission
from models.loans import Loan, LoanReviewDecision, LoanStatus
from models.members import User
from models.messaging import OutgoingMessage
from models.payments import BankCard, Deposit, ProviderAccount
from services.credit import eligibility, external, risk_assessment, scoring
from services.credit.catalogue import KINDS, FieldFormat, get_kind
from services.credit.policy import BORROWING_CAPS, GRADE_TABLE, GRADES
from services.identity import auth
from services.identity.permissions import ANONYMOUS, Actor, Permission
from services.kit.security import encrypt_pii, lookup_hash
from services.loans import policy, requests, review
from services.loans.schedule import RepaymentMethod
from services.money import accounts
from services.payments.provider import DepositChannel
from services.platform import parameters
from simulation.people import AGGRESSIVE, CLEAN_REPORTS

PASSWORD = "Bench12345"
CARD = "6222020200112233446"  # Luhn-valid, generated
# Every item required for borrowing approved and clean outside records give grade C.
BORROWER_GRADE = "C"
REQUIRED = [kind.code for kind in KINDS if kind.required_for_borrowing]

_phones = itertools.count(1)
_id_serials = itertools.count(1)
_clean: dict[str, dict[str, dict[str, Any]]] = {}


def new_phone() -> str:
    """A generated mainland mobile number in the benchmark's range (1660000xxxx)."""
    return f"1660{next(_phones):07d}"


def new_id_number() -> str:
    """A generated resident ID number with a valid check character (not a real person's)."""
    body = f"110101198802{next(_id_serials):05d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def member_actor(user_id: int) -> Actor:
    return Actor(user_id=user_id, kind="member", roles=frozenset({"member"}))


async def create_staff(*roles: str) -> Actor:
    user = await auth.create_staff_user(
        actor=ANONYMOUS,
        phone=new_phone(),
        password=PASSWORD,
        display_name=f"Bench {'/'.join(roles)}",
        roles=list(roles),
    )
    return Actor(user_id=user.id, kind="staff", roles=frozenset(roles))


async def make_room(admin: Actor, loan_fen: int, bid_fen: int) -> list[str]:
    """Raise the parameters that would stop a loan of `loan_fen` (and per-lender bids of
    `bid_fen`, two each) from fitting; return what was changed. Defaults stay otherwise."""
    changed: list[str] = []
    reason = "bidding benchmark: room for the run"

    async def put(name: str, value: Any) -> None:
        await parameters.set_value(admin, name, value, reason)
        changed.append(name)

    amounts = await parameters.get(policy.AMOUNT_RANGE)
    if not amounts.min_fen <= loan_fen <= amounts.max_fen:
        low, high = min(amounts.min_fen, loan_fen), max(amounts.max_fen, loan_fen)
        await put("loans.amountRange", {"min_fen": low, "max_fen": high})
    grades = await parameters.get(GRADE_TABLE)
    # The bench borrower is BORROWER_GRADE: that grade and the better ones get a limit of
    # at least the loan (max keeps the table's falling order).
    better = GRADES[: GRADES.index(BORROWER_GRADE) + 1]
    if any(band.grade in better and band.limit_fen < loan_fen for band in grades.bands):
        bands = [
            {
                "grade": band.grade,
                "min_score": band.min_score,
                "limit_fen": (
                    max(band.limit_fen, loan_fen) if band.grade in better else band.limit_fen
                ),
            }
            for band in grades.bands
        ]
        await put("credit.grades", {"bands": bands})
    caps = await parameters.get(BORROWING_CAPS)
    if caps.person_fen < loan_fen or caps.person_all_platforms_fen < loan_fen:
        raised = caps.model_dump()
        raised["person_fen"] = max(caps.person_fen, loan_fen)
        raised["person_all_platforms_fen"] = max(caps.person_all_platforms_fen, loan_fen)
        await put("credit.borrowingCaps", raised)
    tiers = await parameters.get(risk_assessment.RISK_TIERS)
    if any(entry.cap_fen < 2 * bid_fen for entry in tiers.tiers):
        raised_tiers = tiers.model_dump(mode="json")
        for entry in raised_tiers["tiers"]:
            entry["cap_fen"] = max(entry["cap_fen"], 2 * bid_fen)
        await put("lending.riskTiers", raised_tiers)
    return changed


async def _member(name: str) -> tuple[User, str]:
    phone = new_phone()
    user = await auth.create_member_without_code(phone=phone, password=PASSWORD, display_name=name)
    return user, phone


async def _settled(model: type[Model], row_id: Any, waiting: str) -> Any:
    """The row once its status has left `waiting`: the service answers at once when the
    provider does, but under concurrency the instruction dispatcher may hold the
    instruction and settle it a moment later."""
    for _ in range(600):
        row = await model.get(id=row_id)
        if row.status != waiting:  # type: ignore[attr-defined]
            return row
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{model.__name__} {row_id} still {waiting} after 30 s")


async def _custody(user: User, name: str, deposit_fen: int) -> str:
    """Open the custody account, bind the card, deposit; returns the ID number."""
    actor = member_actor(user.id)
    id_number = new_id_number()
    custody = await accounts.open_account(actor=actor, real_name=name, id_number=id_number)
    custody = await _settled(ProviderAccount, custody.id, "opening")
    if custody.status != "open":
        raise RuntimeError(f"custody account of {user.id}: {custody.status}")
    card = await accounts.bind_card(actor=actor, card_number=CARD)
    card = await _settled(BankCard, card.id, "binding")
    if card.status != "bound":
        raise RuntimeError(f"card of {user.id}: {card.status} {card.failure_reason}")
    if deposit_fen:
        deposit = await accounts.deposit(
            actor=actor,
            amount=deposit_fen,
            channel=DepositChannel.AUTO_DEBIT,
            card_id=card.id,
            idempotency_key=f"bench-funding-{user.id}",
        )
        deposit = await _settled(Deposit, deposit.id, "PENDING")
        if deposit.status != "PAID":
            raise RuntimeError(f"deposit of {user.id}: {deposit.status}")
    return id_number


async def _approve_items(user_id: int, id_number: str, codes: list[str]) -> None:
    """Approved submissions of the kinds `codes`, written directly (the review path is
    not what is measured)."""
    for code in codes:
        kind = get_kind(code)
        assert kind is not None, code
        values: dict[str, Any] = {}
        for spec in kind.fields:
            value = _sample_value(spec.format, id_number)
            values[spec.name] = (
                {"cipher": encrypt_pii(value), "masked": "***"}
                if spec.personal
                else {"value": value}
            )
        await VerificationSubmission.create(
            user_id=user_id, kind=code, status=VerificationStatus.APPROVED, field_values=values
        )


def _sample_value(format_: FieldFormat, id_number: str) -> str:
    samples = {
        FieldFormat.NAME: "Bench Borrower",
        FieldFormat.ID_NUMBER: id_number,
        FieldFormat.PHONE: new_phone(),
        FieldFormat.EMAIL: "borrower@bench.invalid",
        FieldFormat.NUMBER: "AB12345678",
        FieldFormat.DATE: "2030-01-01",
        FieldFormat.CONSENT: "yes",
    }
    return samples.get(format_, "12000.00" if format_.value == "MONEY" else "sample text")


async def verified_borrower() -> User:
    """A member with every item required for borrowing and clean outside records."""
    user, _phone = await _member("Bench Borrower")
    id_number = await _custody(user, "Bench Borrower", 0)
    await _approve_items(user.id, id_number, REQUIRED)
    _clean[id_number] = CLEAN_REPORTS
    external.set_adapter(external.LocalExternalSources(overrides=_clean))
    try:
        for source in external.Source:
            await external.fetch(user.id, source)
    finally:
        external.set_adapter(None)
    profile = await scoring.reevaluate(
        user.id, reason="bench", actor_id=None, kind=CreditChangeKind.EVALUATED
    )
    if profile.grade != BORROWER_GRADE:
        raise RuntimeError(f"the bench borrower is grade {profile.grade}, not {BORROWER_GRADE}")
    return user


async def listed_loan(borrower_id: int, amount_fen: int, *, min_bid_fen: int) -> Loan:
    """Publish a loan request and approve every review level it needs: listed now."""
    loan = await requests.publish(
        member_actor(borrower_id),
        requests.LoanRequest(
            amount_fen=amount_fen,
            annual_rate=Decimal("0.1200"),
            term_months=12,
            method=RepaymentMethod.EQUAL_INSTALLMENT,
            purpose="Working capital",
            bid_window_days=10,
            min_bid_fen=min_bid_fen,
            max_bid_fen=amount_fen,
        ),
        idempotency_key=f"bench-publish-{uuid.uuid4().hex[:16]}",
    )
    if loan.status != LoanStatus.PENDING_REVIEW:
        raise RuntimeError(f"loan {loan.id} is {loan.status} ({loan.auto_review})")
    level_permission = {
        1: Permission.LOAN_REVIEW_L1,
        2: Permission.LOAN_REVIEW_L2,
        3: Permission.LOAN_REVIEW_L3,
    }
    for level in loan.required_levels:
        staff = await create_staff(f"risk_l{level}")
        reviewer = Actor(
            user_id=staff.user_id,
            kind="staff",
            permissions=frozenset({level_permission[level], Permission.LOAN_REVIEW}),
        )
        await review.review(reviewer, loan.id, level, LoanReviewDecision.APPROVE, "")
    loan = await Loan.get(id=loan.id)
    if loan.status != LoanStatus.LISTED:
        raise RuntimeError(f"loan {loan.id} is {loan.status} after review")
    return loan


async def ready_lender(deposit_fen: int, name: str) -> tuple[User, str]:
    """A member with a custody account, `deposit_fen` deposited, the verifications the
    catalogue requires for lending approved and an AGGRESSIVE R4 assessment whose risk
    notice is confirmed. Returns the user and their phone."""
    user, phone = await _member(name)
    id_number = await _custody(user, name, deposit_fen)
    await _approve_items(
        user.id, id_number, [kind.code for kind in eligibility.required_for_lending()]
    )
    actor = member_actor(user.id)
    assessment = await risk_assessment.submit_assessment(actor, AGGRESSIVE)
    await risk_assessment.confirm_risk_notice(actor, assessment.id, "127.0.0.1")
    return user, phone


async def access_token(phone: str) -> str:
    return (await auth.login(phone=phone, password=PASSWORD)).access_token


_CODE = re.compile(r"\b(\d{6})\b")


async def code_for(phone: str, loan_id: int) -> str:
    """The code of the newest bid-confirmation SMS sent to `phone` for this loan."""
    message = (
        await OutgoingMessage.filter(
            recipient_lookup=lookup_hash(phone), body__contains=f"on loan {loan_id}."
        )
        .order_by("-id")
        .first()
    )
    if message is None:
        raise RuntimeError(f"no bid SMS for loan {loan_id}")
    found = _CODE.search(message.body)
    if found is None:
        raise RuntimeError(f"no code in {message.body!r}")
    return found[1]
