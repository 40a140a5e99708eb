"""Guarantee companies in a simulated run (`--guarantees`, `wide` only; issue 21, M7).

Set-up: two companies registered by the platform's admin, each with a staff user (role
`guarantor`) acting for it, its custody account opened, 200,000.00 deposited through
the gateway and paid at the sandbox's bank, and a drawn 10-40 % of it funded as margin.

Loans: about a third ask for a guarantee while in review (the borrower asks one of the
two companies, drawn): half of the borrowers who will be late (late, partial,
defaulting, advanced then early), one in six of the others. The company declines about
one in six; it issues the others with a drawn coverage (PRINCIPAL or
PRINCIPAL_INTEREST), the penalty covered one time in three, a trigger of 15-45 days,
may-draw-margin on two times in three and a monthly fee of 0, 0.1, 0.25 or 0.5 % of the
amount (waived when it would take the loan past the R3 cap). Before it issues, it funds
its margin up to what its exposure with the loan requires, depositing first what its
available lacks for it.

Each day, after the overdue run (which compensates by itself:
`services.guarantees.compensation`): a company whose policy is TRIGGERED (short of money
and not allowed to draw its margin, or short of both) deposits what the installments
past the trigger ask and its staff compensate them at once; often (p = 0.15 a company a
day) a company moves nearly all its available into its margin (keeping 0-300.00), so
that a compensation made before its next release draws on the margin when the policy
allows (or waits for money when it does not); on its day of each 30 a company releases
its margin down to what its exposure requires.

Every draw comes from the run's random sequence; nothing reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from models.guarantees import Coverage, GuaranteeCompensation, GuaranteePolicy, PolicyStatus
from models.loans import Loan
from models.payments import Deposit, ProviderAccount
from models.repayments import InstallmentAdvance, InstallmentStatus, LoanInstallment, Receipt
from services.errors import DomainError
from services.guarantees import companies, compensation, policies
from services.identity.permissions import Actor, Permission
from services.money import ledger
from services.payments.provider import DepositChannel
from services.platform import parameters
from simulation.people import expect, member_actor
from simulation.world import Profile, World, key, paid_at_the_bank, settle

ADMIN = Actor(user_id=None, kind="staff", permissions=frozenset({Permission.GUARANTORS_MANAGE}))
NAMES = ("Anxin Guarantee Co.", "Huatai Credit Guarantee Co.")
DEPOSIT = 20_000_000  # 200,000.00 each at the start
COVERAGES = (Coverage.PRINCIPAL, Coverage.PRINCIPAL_INTEREST)
FEE_RATES = ("0", "0", "0.001000", "0.002500", "0.005000")  # monthly, on the amount
# Borrowers who will be late ask for a guarantee more often (lenders want one for them):
# half of them, one in six of the others; a third of the `wide` deck's loans in all.
RISKY = (Profile.LATE, Profile.PARTIAL, Profile.DEFAULTER, Profile.ADVANCED_THEN_EARLY)
RISKY_ASK = 1 / 2
SAFE_ASK = 1 / 6
DECLINE_SHARE = 1 / 6
SWEEP_CHANCE = 0.15
KEEP_AT_MOST = 30_000  # what a company keeps available when it sweeps into its margin
RELEASE_EVERY = 30

BeforeReview = Callable[[Loan], Awaitable[None]]


@dataclass
class Company:
    id: int
    staff: Actor
    release_day: int  # its day of each RELEASE_EVERY on which it releases margin

    @property
    def code(self) -> str:
        return companies.code_of(self.id)


class Guaranteeing:
    """The guarantee companies' side of one run's days."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.companies: list[Company] = []

    async def set_up(self) -> None:
        world = self.world
        rng = world.rng
        for number, name in enumerate(NAMES, start=1):
            made = await companies.create_company(
                actor=ADMIN, name=name, licence_number=f"SIM-GD-{number:04d}"
            )
            staff = await world.people.staff(
                f"Guarantor {number}",
                "guarantor",
                (Permission.GUARANTEE_MANAGE, Permission.GUARANTEE_READ),
            )
            await companies.add_staff(actor=ADMIN, company_id=made.id, user_id=staff.user_id or 0)
            await settle(world)  # its account opened (a 503 leaves it to be sent again)
            account = await ProviderAccount.get(owner_code=companies.code_of(made.id))
            expect(account.status == "open", f"company account {account.status}")
            company = Company(made.id, staff, rng.randrange(RELEASE_EVERY))
            self.companies.append(company)
            await self._deposit(company, DEPOSIT)
            await companies.fund_margin(
                actor=staff,
                amount=DEPOSIT * rng.randint(10, 40) // 100,
                idempotency_key=key("margin"),
            )
        world.stats["guarantee companies"] = len(self.companies)

    # --- loans in review --------------------------------------------------------------

    def before_review(self, profile: Profile) -> BeforeReview | None:
        """Whether the next loan asks for a guarantee, and what the company answers
        (drawn now, in the run's order); the hook that does it on the published loan."""
        rng = self.world.rng
        if rng.random() >= (RISKY_ASK if profile in RISKY else SAFE_ASK):
            return None
        company = rng.choice(self.companies)
        if rng.random() < DECLINE_SHARE:
            terms = None
        else:
            terms = (
                rng.choice(COVERAGES),
                rng.random() < 1 / 3,  # covers the penalty
                rng.randint(15, 45),  # trigger days
                rng.random() < 2 / 3,  # may draw on the margin
                Decimal(rng.choice(FEE_RATES)),
            )

        async def ask(loan: Loan) -> None:
            world = self.world
            asked = await policies.request(
                actor=member_actor(loan.borrower_id), loan_id=loan.id, company_id=company.id
            )
            world.stats["guarantees asked"] += 1
            if terms is None:
                await policies.decline(
                    actor=company.staff, policy_id=asked.id, reason="Outside our appetite"
                )
                world.stats["guarantees declined"] += 1
                return
            coverage, covers_penalty, trigger_days, may_draw_margin, fee_rate = terms
            await self._margin_for(company, loan.amount_fen)

            async def issue(fee_rate: Decimal) -> GuaranteePolicy:
                return await policies.issue(
                    actor=company.staff,
                    policy_id=asked.id,
                    coverage=coverage,
                    covers_penalty=covers_penalty,
                    trigger_days=trigger_days,
                    may_draw_margin=may_draw_margin,
                    fee_rate=fee_rate,
                )

            try:
                issued = await issue(fee_rate)
            except DomainError as refused:  # the fee takes the loan past the R3 cap
                expect(refused.code == "RATE_CAP_EXCEEDED", f"issue refused {refused.code}")
                world.stats["guarantee fee past the cap, waived"] += 1
                issued = await issue(Decimal(0))
            if issued.fee_rate:
                world.stats["guarantees with a fee"] += 1
            expect(issued.status == PolicyStatus.ISSUED, f"policy {issued.id} {issued.status}")
            world.stats["guarantees issued"] += 1

        return ask

    async def _margin_for(self, company: Company, amount_fen: int) -> None:
        """Fund the margin up to what the exposure with a new loan of `amount_fen`
        requires, depositing first what the available lacks for it."""
        now = await companies.margin_of(company.id)
        share = (await parameters.get(companies.MARGIN_SHARE)).share
        lacking = companies.required_margin(now.exposure_fen + amount_fen, share) - now.margin_fen
        if lacking <= 0:
            return
        if now.available_fen < lacking:
            await self._deposit(company, lacking - now.available_fen)
        await companies.fund_margin(
            actor=company.staff, amount=lacking, idempotency_key=key("margin")
        )
        self.world.stats["margin funded to issue"] += 1

    async def _deposit(self, company: Company, amount: int) -> None:
        """Money into the company's account through the gateway, paid at the bank."""
        paid = await companies.deposit(
            actor=company.staff,
            amount=amount,
            channel=DepositChannel.GATEWAY,
            idempotency_key=key("company-deposit"),
        )
        await paid_at_the_bank(self.world, f"deposit:{paid.id}")
        paid = await Deposit.get(id=paid.id)
        expect(paid.status == "PAID", f"company deposit {paid.id} {paid.status}")
        self.world.stats["company deposits"] += 1

    # --- each day ---------------------------------------------------------------------

    async def day(self, number: int, today: date) -> None:
        """After the overdue run and the borrowers (see the module docstring)."""
        world = self.world
        for company in self.companies:
            await self._top_up_if_short(company, today)
            if number % RELEASE_EVERY == company.release_day:
                await self._release(company)
            if world.rng.random() < SWEEP_CHANCE:
                await self._sweep(company)
        await self._count()

    async def _top_up_if_short(self, company: Company, today: date) -> None:
        """A TRIGGERED policy waits for money: deposit what its installments past the
        trigger ask (every part unpaid: at least what the policy covers), then its staff
        compensate them at once (`compensate_now`) rather than wait for the next run."""
        waiting = 0
        due: list[tuple[int, int]] = []  # (policy, installment number)
        for policy in await GuaranteePolicy.filter(
            company_id=company.id, status=PolicyStatus.TRIGGERED
        ).order_by("id"):
            assert policy.trigger_days is not None
            rows = await LoanInstallment.filter(
                loan_id=policy.loan_id,
                status=InstallmentStatus.OVERDUE,
                due_date__lte=today - timedelta(days=policy.trigger_days),
            )
            advanced = set(
                await InstallmentAdvance.filter(
                    installment_id__in=[row.id for row in rows]
                ).values_list("installment_id", flat=True)
            )
            if not rows:  # the borrower paid it meanwhile: TRIGGERED stays until refreshed
                self.world.stats["policies TRIGGERED with nothing due"] += 1
            due += [(policy.id, row.number) for row in rows if row.id not in advanced]
            waiting += sum(
                row.principal_fen
                - row.paid_principal_fen
                + row.interest_fen
                - row.paid_interest_fen
                + row.penalty_accrued_fen
                - row.penalty_paid_fen
                for row in rows
                if row.id not in advanced
            )
        available = await ledger.balance(company.code)
        if waiting <= available:
            return
        await self._deposit(company, waiting - available)
        self.world.stats["compensations waiting for money"] += 1
        for policy_id, number in due:
            made = await compensation.compensate_now(
                actor=company.staff, policy_id=policy_id, number=number
            )
            expect(made.amount_fen > 0, f"compensation {made.id} of nothing")
            self.world.stats["compensated at once after a top-up"] += 1
        await settle(self.world)

    async def _release(self, company: Company) -> None:
        now = await companies.margin_of(company.id)
        if now.margin_fen > now.required_fen:
            await companies.release_margin(
                actor=company.staff,
                amount=now.margin_fen - now.required_fen,
                idempotency_key=key("release"),
            )
            self.world.stats["margin released"] += 1

    async def _sweep(self, company: Company) -> None:
        keep = self.world.rng.randint(0, KEEP_AT_MOST)
        available = await ledger.balance(company.code)
        if available > keep:
            await companies.fund_margin(
                actor=company.staff, amount=available - keep, idempotency_key=key("sweep")
            )
            self.world.stats["margin swept in"] += 1

    async def _count(self) -> None:
        stats = self.world.stats
        stats["compensations"] = await GuaranteeCompensation.all().count()
        stats["margin draws"] = await GuaranteeCompensation.filter(from_margin_fen__gt=0).count()
        recoveries = await Receipt.filter(recoverer__startswith="g:").values_list(
            "repayment_id", flat=True
        )
        stats["recoveries"] = len(set(recoveries))

    async def coverage(self) -> dict[str, bool]:
        stats = self.world.stats
        return {
            "guarantees issued": stats["guarantees issued"] >= 1,
            "guarantees declined": stats["guarantees declined"] >= 1,
            "compensations": stats["compensations"] >= 1,
            "recoveries by a guarantor": stats["recoveries"] >= 1,
            "margin drawn to compensate": stats["margin draws"] >= 1,
            "margin released": stats["margin released"] >= 1,
        }
