"""Guarantee companies (issue 21, M7, R5: guarantees come from licensed companies, never
the platform): registering them and their staff, their custody account, money in, and
their margin (保证金).

- A company's money is at the provider in its own custody account (owner `g:<id>`,
  opened by OPEN_ACCOUNT like a member's). The ledger keeps `g:<id>` (available) and
  `g:<id>:margin`, the account's frozen balance: each company's margin stays in its own
  account (the platform's `p:margin` and `p:guarantee_fund` stay unused: R5).
- Staff deposit into it through the provider's gateway or POS (`depositToGuarantor`, a
  `Deposit` naming the company's account); `fund_margin` moves available → margin
  (FREEZE), `release_margin` margin → available (UNFREEZE), never below the margin the
  company's exposure requires (`MARGIN_BELOW_REQUIRED`).
- Exposure: the principal still to fall on the company, Σ over its policies in force of
  the unpaid principal of the loan's installments it has not compensated (for a policy
  issued on a loan not disbursed yet, the loan's amount). Required margin: ceiling to
  the fen of `guarantees.marginShare` x exposure. Issuing and releasing lock the
  company's row, so two at once cannot both pass the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from tortoise.transactions import in_transaction

from models.access import UserRole
from models.guarantees import (
    IN_FORCE,
    CompanyStatus,
    GuaranteeCompany,
    GuaranteeCompensation,
    GuaranteePolicy,
    GuarantorStaff,
)
from models.loans import Loan
from models.members import User
from models.payments import Deposit, ProviderAccount
from models.repayments import LoanInstallment
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.money import accounts, idempotency, ledger, movements
from services.money.accounts import validate_amount
from services.payments import instructions
from services.payments.provider import DepositChannel, TransactionKind
from services.platform import clock, parameters
from services.platform.parameters import Param


class MarginShare(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    share: Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]


MARGIN_SHARE = Param(
    "guarantees.marginShare",
    MarginShare,
    {"share": "0.1000"},
    "M7: the share of its exposure (principal it guarantees and has not compensated) a "
    "guarantee company must hold as margin; no policy is issued and no margin released "
    "beyond it.",
)


def code_of(company_id: int) -> str:
    """The company's ledger code and provider owner: `g:<id>`."""
    return f"g:{company_id}"


def required_margin(exposure_fen: int, share: Decimal) -> int:
    """The margin an exposure requires: `share` x exposure, rounded up to the fen."""
    return int((share * exposure_fen).to_integral_value(rounding=ROUND_CEILING))


async def create_company(*, actor: Actor, name: str, licence_number: str) -> GuaranteeCompany:
    """Register a company and open its custody account at the provider."""
    name, licence = (name or "").strip(), (licence_number or "").strip()
    if not 2 <= len(name) <= 128:
        raise InvalidInputError("A name of 2 to 128 characters", field="name")
    if not 4 <= len(licence) <= 64:
        raise InvalidInputError("A licence number of 4 to 64 characters", field="licenceNumber")
    async with in_transaction():
        if (
            await GuaranteeCompany.filter(name=name).exists()
            or await GuaranteeCompany.filter(licence_number=licence).exists()
        ):
            raise DomainError("That company is registered already", code="COMPANY_EXISTS")
        company = await GuaranteeCompany.create(
            name=name,
            licence_number=licence,
            created_by=actor.user_id,
            created_at=await clock.now(),
        )
        code = code_of(company.id)
        await ledger.ensure_org_accounts(code)
        account = await ProviderAccount.create(owner_code=code, real_name_masked=name[:32])
        instruction = await instructions.create(
            kind=TransactionKind.OPEN_ACCOUNT,
            business_ref=f"account:{account.id}",
            params={"member_ref": code, "real_name": name},
        )
    await accounts._send_now(instruction.id)
    return company


async def add_staff(*, actor: Actor, company_id: int, user_id: int) -> GuarantorStaff:
    """Let a staff user with the `guarantor` role act for the company."""
    company = await GuaranteeCompany.get_or_none(id=company_id)
    if company is None:
        raise NotFoundError("No such company", field="companyId")
    user = await User.get_or_none(id=user_id)
    if user is None or user.kind != "staff":
        raise NotFoundError("No such staff user", field="userId")
    if not await UserRole.filter(user_id=user_id, role__name="guarantor").exists():
        raise DomainError("The user does not have the guarantor role", code="NOT_GUARANTOR_ROLE")
    async with in_transaction():
        if await GuarantorStaff.filter(user_id=user_id).exists():
            raise DomainError("The user acts for a company already", code="ALREADY_STAFF")
        return await GuarantorStaff.create(
            company_id=company.id, user_id=user_id, created_at=await clock.now()
        )


async def company_of(actor: Actor) -> GuaranteeCompany:
    """The company the actor acts for; NOT_A_GUARANTOR when none."""
    staff = await GuarantorStaff.get_or_none(user_id=actor.user_id) if actor.user_id else None
    if staff is None:
        raise DomainError("You do not act for a guarantee company", code="NOT_A_GUARANTOR")
    return await GuaranteeCompany.get(id=staff.company_id)


async def readable_company(actor: Actor, company_id: int | None) -> GuaranteeCompany:
    """The company whose book `actor` asks for: their own (staff; `company_id` omitted or
    theirs) or any (finance and auditors, `guarantee:read` without a company). Another
    company's: NotFoundError, never saying it exists."""
    staff = await GuarantorStaff.get_or_none(user_id=actor.user_id) if actor.user_id else None
    if staff is not None:
        if company_id is not None and company_id != staff.company_id:
            raise NotFoundError("No such company", field="companyId")
        return await GuaranteeCompany.get(id=staff.company_id)
    if company_id is None or Permission.FINANCE_READ not in actor.permissions:
        raise NotFoundError("No such company", field="companyId")
    company = await GuaranteeCompany.get_or_none(id=company_id)
    if company is None:
        raise NotFoundError("No such company", field="companyId")
    return company


async def deposit(
    *, actor: Actor, amount: int, channel: DepositChannel, idempotency_key: str
) -> Deposit:
    """Money into the actor's company account (gateway or POS): credited when the
    provider confirms it."""
    company = await company_of(actor)
    if channel == DepositChannel.AUTO_DEBIT:
        raise InvalidInputError("A company deposits by gateway or POS", field="channel")
    return await accounts.deposit(
        actor=actor,
        amount=amount,
        channel=channel,
        idempotency_key=idempotency_key,
        owner_code=code_of(company.id),
    )


async def _locked(company_id: int) -> GuaranteeCompany:
    return await GuaranteeCompany.filter(id=company_id).select_for_update().get()


async def exposure(company_id: int) -> int:
    """The principal still to fall on the company (see the module docstring)."""
    policies = await GuaranteePolicy.filter(company_id=company_id, status__in=list(IN_FORCE))
    if not policies:
        return 0
    loans = {loan.id: loan for loan in await Loan.filter(id__in=[p.loan_id for p in policies])}
    compensated = set(
        await GuaranteeCompensation.filter(company_id=company_id).values_list(
            "installment_id", flat=True
        )
    )
    unpaid: dict[int, int] = {}
    for row in await LoanInstallment.filter(loan_id__in=list(loans)):
        if row.id not in compensated:
            unpaid[row.loan_id] = unpaid.get(row.loan_id, 0) + (
                row.principal_fen - row.paid_principal_fen
            )
    return sum(
        unpaid[policy.loan_id] if policy.loan_id in unpaid else loans[policy.loan_id].amount_fen
        for policy in policies
    )


@dataclass(frozen=True)
class Margin:
    available_fen: int
    margin_fen: int
    exposure_fen: int
    required_fen: int


async def margin_of(company_id: int) -> Margin:
    code = code_of(company_id)
    share = await _share()
    found = await exposure(company_id)
    return Margin(
        available_fen=await ledger.balance(code),
        margin_fen=await ledger.balance(ledger.org_margin(code)),
        exposure_fen=found,
        required_fen=required_margin(found, share),
    )


async def _share() -> Decimal:
    return (await parameters.get(MARGIN_SHARE)).share


async def _margin_move(*, actor: Actor, amount: int, idempotency_key: str, release: bool) -> Margin:
    company = await company_of(actor)
    assert actor.user_id is not None
    validate_amount(amount)
    if company.status != CompanyStatus.ACTIVE and not release:
        raise DomainError("The company is suspended", code="COMPANY_NOT_ACTIVE")
    operation = "margin_release" if release else "margin_fund"

    async def execute(claim: idempotency.Claim) -> dict[str, int]:
        code = code_of(company.id)
        async with in_transaction():
            await _locked(company.id)
            reference = f"{operation}:{company.id}:{actor.user_id}:{idempotency_key}"
            if release:
                now = await margin_of(company.id)
                if now.margin_fen - amount < now.required_fen:
                    raise DomainError(
                        f"The margin may not fall below the {now.required_fen} fen required",
                        code="MARGIN_BELOW_REQUIRED",
                        field="amount",
                    )
                await movements.unfreeze_org(code=code, amount=amount, reference=reference)
            else:
                await movements.freeze_org(code=code, amount=amount, reference=reference)
            await claim.complete({"company_id": company.id})
        return {"company_id": company.id}

    await idempotency.run_once(
        user_id=actor.user_id,
        key=idempotency_key,
        operation=operation,
        request={"amount": amount},
        execute=execute,
    )
    instructions.wake()
    return await margin_of(company.id)


async def fund_margin(*, actor: Actor, amount: int, idempotency_key: str) -> Margin:
    return await _margin_move(
        actor=actor, amount=amount, idempotency_key=idempotency_key, release=False
    )


async def release_margin(*, actor: Actor, amount: int, idempotency_key: str) -> Margin:
    return await _margin_move(
        actor=actor, amount=amount, idempotency_key=idempotency_key, release=True
    )
