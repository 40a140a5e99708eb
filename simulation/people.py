"""The simulation's people, made through the services as members and staff would act:
accounts, cards, deposits, R4 assessments, loans published and reviewed, contracts
signed with the SMS code the platform sent. Two shortcuts, both outside the money:
approved verification materials are written as the credit officer's approval would
leave them (the review path has its own tests), and the outside credit sources answer
clean records for every borrower (`CleanRecords`).

Phone and ID numbers are generated from counters of the `People` of one run (never a
real person's), so a run makes the same people in the same order every time.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from models.contracts import Contract, ContractKind
from models.credit import CreditChangeKind, VerificationStatus, VerificationSubmission
from models.loans import Loan, LoanReviewDecision, LoanStatus
from models.messaging import OutgoingMessage
from services.contracts import signatures
from services.credit import eligibility, external, risk_assessment, scoring
from services.credit.catalogue import KINDS, FieldFormat, FieldSpec, get_kind
from services.identity import auth
from services.identity.permissions import ANONYMOUS, Actor, Permission
from services.kit.security import encrypt_pii, lookup_hash
from services.loans import contracting, requests, review
from services.loans.schedule import RepaymentMethod
from services.money import accounts, ledger, movements, withdrawals
from services.operations import confirmation
from services.payments.embedded import settle_until_quiet
from services.payments.provider import DepositChannel, WithdrawSpeed
from services.platform import outbox

PASSWORD = "Simulated123"
CARD = "6222020200112233446"  # Luhn-valid, generated
CLIENT_IP = "127.0.0.1"
FOR_BORROWING = tuple(kind.code for kind in KINDS if kind.required_for_borrowing)
CLEAN_REPORTS: dict[str, dict[str, Any]] = {
    "credit_bureau": {
        "overdue_items": [],
        "outstanding_debt_fen": 0,
        "monthly_debt_payment_fen": 0,
    },
    "court": {"cases": []},
    "reputation": {"negative_hits": []},
    "industry_sharing": {"platforms": [], "total_outstanding_fen": 0},
}
# An R4 answer set giving the AGGRESSIVE tier (cap 1,000,000.00, grades AA to E).
AGGRESSIVE = dict.fromkeys(
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
    "D",
)


class SimulationSetupError(RuntimeError):
    """The simulation could not set up what it meant to (a service refused)."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SimulationSetupError(what)


def member_actor(user_id: int) -> Actor:
    return Actor(user_id=user_id, kind="member", roles=frozenset({"member"}))


class CleanRecords:
    """The outside credit sources (the shipped local adapter) answering clean records
    for the ID numbers in `clean`, generated ones for everyone else."""

    name = "local"

    def __init__(self) -> None:
        self.clean: set[str] = set()

    async def fetch(self, source: Any, subject: Any, as_of: date) -> dict[str, Any]:
        overrides = dict.fromkeys(self.clean, CLEAN_REPORTS)
        return await external.LocalExternalSources(overrides=overrides).fetch(
            source, subject, as_of
        )


@dataclass
class Person:
    user_id: int
    phone: str
    card_id: int = 0


@dataclass
class People:
    """Makes the run's people; holds its counters and its two loan reviewers."""

    sandbox: Any
    phones: int = 0
    id_numbers: int = 0
    records: CleanRecords = field(default_factory=CleanRecords)
    reviewers: list[Actor] = field(default_factory=list)

    def install(self) -> None:
        external.set_adapter(self.records)

    def uninstall(self) -> None:
        external.set_adapter(None)

    def _phone(self) -> str:
        self.phones += 1
        return f"1760000{self.phones:04d}"

    def _id_number(self) -> str:
        self.id_numbers += 1
        body = f"110101198801{self.id_numbers:05d}"
        weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
        return body + "10X98765432"[total % 11]

    async def member(self, name: str, deposit: int = 0) -> tuple[Person, str]:
        """A member with a custody account, a bound card and `deposit` fen paid in by
        auto-debit; returns them and their ID number."""
        phone = self._phone()
        user = await auth.create_member_without_code(
            phone=phone, password=PASSWORD, display_name=name
        )
        await outbox.dispatch_once()
        actor = member_actor(user.id)
        id_number = self._id_number()
        custody = await accounts.open_account(actor=actor, real_name=name, id_number=id_number)
        if custody.status == "opening":  # the provider failed the first try: it is retried
            await settle_until_quiet(self.sandbox)
            await custody.refresh_from_db()
        expect(custody.status == "open", f"custody account {custody.status}")
        card = await accounts.bind_card(actor=actor, card_number=CARD)
        if card.status == "binding":
            await settle_until_quiet(self.sandbox)
            await card.refresh_from_db()
        expect(card.status == "bound", f"card {card.status} {card.failure_reason}")
        person = Person(user.id, phone, card.id)
        if deposit:
            await self.top_up(person, deposit)
        return person, id_number

    async def top_up(self, person: Person, amount: int) -> None:
        """Deposit `amount` from the member's card (signed auto-debit)."""
        await self.deposit_paid(person, amount, f"sim-topup-{uuid.uuid4().hex[:16]}")

    async def deposit_paid(self, person: Person, amount: int, key: str) -> None:
        """Deposit by signed auto-debit, PAID: at once, or once the provider has answered
        (a 503 or a lost callback leaves it PENDING until then)."""
        deposit = await accounts.deposit(
            actor=member_actor(person.user_id),
            amount=amount,
            channel=DepositChannel.AUTO_DEBIT,
            idempotency_key=key,
            card_id=person.card_id,
        )
        if deposit.status == "PENDING":
            await settle_until_quiet(self.sandbox)
            await deposit.refresh_from_db()
        expect(deposit.status == "PAID", f"deposit {deposit.id} {deposit.status}")

    async def lender(self, name: str, deposit: int) -> Person:
        """A member ready to lend: `deposit` paid in, the kinds required for lending
        approved, an AGGRESSIVE R4 profile with its notice confirmed."""
        person, id_number = await self.member(name, deposit)
        lending = [kind.code for kind in eligibility.required_for_lending()]
        await approve(person.user_id, lending, id_number)
        actor = member_actor(person.user_id)
        assessment = await risk_assessment.submit_assessment(actor, AGGRESSIVE)
        await risk_assessment.confirm_risk_notice(actor, assessment.id, CLIENT_IP)
        return person

    async def borrower(self, name: str) -> Person:
        """A member with every kind required for borrowing approved and clean outside
        records: grade C, a limit of 30,000.00."""
        person, id_number = await self.member(name)
        await approve(person.user_id, FOR_BORROWING, id_number)
        self.records.clean.add(id_number)
        for source in external.Source:
            await external.fetch(person.user_id, source)
        await scoring.reevaluate(
            person.user_id,
            reason="simulation",
            actor_id=None,
            kind=CreditChangeKind.EVALUATED,
        )
        return person

    async def staff(self, name: str, role: str, permissions: Iterable[Permission]) -> Actor:
        """A staff user with `role`, acting with `permissions`."""
        user = await auth.create_staff_user(
            actor=ANONYMOUS, phone=self._phone(), password=PASSWORD, display_name=name, roles=[role]
        )
        await outbox.dispatch_once()
        return Actor(user_id=user.id, kind="staff", permissions=frozenset(permissions))

    async def reviewer(self) -> Actor:
        """The level-1 loan reviewer (made on first use)."""
        return (await self._reviewers())[0]

    async def _reviewers(self) -> list[Actor]:
        if not self.reviewers:
            for level, permission in (
                (1, Permission.LOAN_REVIEW_L1),
                (2, Permission.LOAN_REVIEW_L2),
            ):
                staff = await auth.create_staff_user(
                    actor=ANONYMOUS,
                    phone=self._phone(),
                    password=PASSWORD,
                    display_name=f"Simulated reviewer {level}",
                    roles=[f"risk_l{level}"],
                )
                self.reviewers.append(
                    Actor(
                        user_id=staff.id,
                        kind="staff",
                        permissions=frozenset({permission, Permission.LOAN_REVIEW}),
                    )
                )
            await outbox.dispatch_once()
        return self.reviewers

    async def listed_loan(
        self,
        borrower: Person,
        amount_fen: int,
        *,
        rate: str,
        term: int,
        method: RepaymentMethod,
        min_bid_fen: int = 5_000,
        days: int = 10,
        before_review: Callable[[Loan], Awaitable[None]] | None = None,
    ) -> Loan:
        """Published by the borrower, approved at levels 1 and 2, listed. `before_review`
        runs on the published loan before the reviewers (a guarantee asked for)."""
        loan = await requests.publish(
            member_actor(borrower.user_id),
            requests.LoanRequest(
                amount_fen=amount_fen,
                annual_rate=Decimal(rate),
                term_months=term,
                method=method,
                purpose="Working capital",
                bid_window_days=days,
                min_bid_fen=min_bid_fen,
                max_bid_fen=amount_fen,
            ),
            idempotency_key=f"sim-publish-{uuid.uuid4().hex[:16]}",
        )
        expect(loan.status == "PENDING_REVIEW", f"published loan {loan.status}")
        if before_review is not None:
            await before_review(loan)
        for level, reviewer in enumerate(await self._reviewers(), start=1):
            await review.review(reviewer, loan.id, level, LoanReviewDecision.APPROVE, "")
        loan = await Loan.get(id=loan.id)
        expect(loan.status == LoanStatus.LISTED, f"reviewed loan {loan.status}")
        await outbox.dispatch_once()
        return loan

    async def sign(self, loan_id: int, borrower: Person) -> None:
        """The borrower signs the full loan's contract with the SMS code; a guaranteed
        loan's guarantee contract first (the loan is paid out once both are signed)."""
        contract = await contracting.contract_for_full_loan(await Loan.get(id=loan_id))
        actor = member_actor(borrower.user_id)
        guarantees = await Contract.filter(loan_id=loan_id, kind=ContractKind.GUARANTEE)
        for one in [*guarantees, contract]:
            await signatures.request_signature(actor=actor, contract_id=one.id)
            await signatures.sign(
                actor=actor,
                contract_id=one.id,
                code=await code_for(borrower.phone),
                client_ip=CLIENT_IP,
            )

    async def withdraw(self, person: Person, amount: int) -> None:
        """Withdraw `amount` to the member's card (T+0), confirmed with the SMS code."""
        actor = member_actor(person.user_id)
        operation = await withdrawals.withdraw(
            actor=actor,
            amount=amount,
            speed=WithdrawSpeed.T0,
            card_id=person.card_id,
            idempotency_key=f"sim-withdraw-{uuid.uuid4().hex[:12]}",
        )
        await confirmation.confirm_operation(
            actor=actor, operation_id=str(operation.id), code=await code_for(person.phone)
        )

    async def fund_risk_reserve(self, amount: int) -> None:
        """The platform puts `amount` into the risk reserve: its funding member transfers
        it, settled at the provider."""
        funder, _id_number = await self.member("Reserve Funder", amount)
        async with in_transaction():
            await movements.transfer(
                from_user_id=funder.user_id,
                to_user_id=None,
                to_platform=ledger.RISK_RESERVE,
                amount=amount,
                reference=f"sim-fund-reserve-{funder.user_id}",
                kind="simulation_funding",
            )
        await settle_until_quiet(self.sandbox)


async def code_for(phone: str) -> str:
    """The 6-digit code of the newest SMS sent to `phone` (the member reads their phone)."""
    message = (
        await OutgoingMessage.filter(recipient_lookup=lookup_hash(phone)).order_by("-id").first()
    )
    expect(message is not None, "no SMS sent to that phone")
    assert message is not None
    found = re.search(r"\b(\d{6})\b", message.body)
    expect(found is not None, f"no code in {message.body!r}")
    assert found is not None
    return found[1]


def sample_value(spec: FieldSpec, id_number: str) -> str:
    """A valid value of a verification field (generated; the ID number given)."""
    match spec.format:
        case FieldFormat.NAME:
            return "Simulated Member"
        case FieldFormat.ID_NUMBER:
            return id_number
        case FieldFormat.PHONE:
            return "17600009999"
        case FieldFormat.EMAIL:
            return "member@example.com"
        case FieldFormat.NUMBER:
            return "AB12345678"
        case FieldFormat.DATE:
            return "2030-01-01"
        case FieldFormat.CONSENT:
            return "yes"
        case _ if spec.format.value == "MONEY":
            return "12000.00"
        case _:
            return "sample text"


async def approve(
    user_id: int,
    kinds: Iterable[str],
    id_number: str,
    sample: Callable[[FieldSpec, str], str] = sample_value,
) -> None:
    """Approved submissions of `kinds`, as the credit officer's approval leaves them (the
    fields' values from `sample`; personal ones encrypted as the review stores them)."""
    for kind in kinds:
        spec = get_kind(kind)
        expect(spec is not None, f"unknown verification kind {kind}")
        assert spec is not None
        values = {}
        for field_spec in spec.fields:
            value = sample(field_spec, id_number)
            if field_spec.personal:
                values[field_spec.name] = {"cipher": encrypt_pii(value), "masked": "***"}
            else:
                values[field_spec.name] = {"value": value}
        await VerificationSubmission.create(
            user_id=user_id, kind=kind, status=VerificationStatus.APPROVED, field_values=values
        )
