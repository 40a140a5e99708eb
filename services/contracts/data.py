"""What a contract is filled from: plain, frozen data the loans, guarantee and claims
code builds and hands to `create_*_contract`. Validated here, before anything is stored.

Amounts are int fen, rates `Decimal` annual fractions. Names and ID numbers arrive
masked (`张**`, `110***********1234`): the document never carries the full values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from models.contracts import ContractKind, PartyRole
from services.errors import DomainError
from services.money.money import format_rate

if TYPE_CHECKING:
    from services.loans.schedule import Installment


class ContractDataError(DomainError):
    """The data does not make a consistent contract (amounts do not add up, wrong roles)."""

    code = "INVALID_CONTRACT_DATA"


@dataclass(frozen=True)
class ContractParty:
    role: PartyRole
    user_id: int
    name_masked: str
    id_masked: str
    amount_fen: int | None = None


class ScheduleLine(NamedTuple):
    """One installment as the contract prints it: total = principal + interest + fee."""

    number: int
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int
    total_fen: int


def schedule_lines(installments: Sequence[Installment], fee_fen: int = 0) -> list[ScheduleLine]:
    """Lines from `services.loans.schedule.build_schedule`, with a fee per installment."""
    return [
        ScheduleLine(
            i.number,
            i.due_date,
            i.principal_fen,
            i.interest_fen,
            fee_fen,
            i.principal_fen + i.interest_fen + fee_fen,
        )
        for i in installments
    ]


@dataclass(frozen=True)
class LoanContractData:
    """A full loan (M3.1): the borrower and every lender with the amount they lent."""

    loan_ref: str
    loan_id: int
    amount_fen: int
    annual_rate: Decimal
    term_months: int
    method: str  # a services.loans.schedule.RepaymentMethod value
    purpose: str
    borrower: ContractParty
    lenders: Sequence[ContractParty]
    schedule: Sequence[ScheduleLine | tuple[int, date, int, int, int, int]]
    fees: str
    start_date: date


@dataclass(frozen=True)
class GuaranteeContractData:
    """A guarantee policy on a loan (M3.2): the guarantor covers the lenders' claims."""

    order_ref: str
    loan_ref: str
    loan_id: int
    amount_fen: int  # the loan's principal
    annual_rate: Decimal
    term_months: int
    borrower: ContractParty
    guarantor: ContractParty
    lenders: Sequence[ContractParty]
    coverage: str  # e.g. "principal and interest"
    fee_fen: int
    start_date: date
    end_date: date


@dataclass(frozen=True)
class ClaimTransferContractData:
    """A claim sold on the secondary market (M3.3); the parties' amount is the principal."""

    transfer_ref: str
    loan_ref: str
    loan_id: int
    seller: ContractParty
    buyer: ContractParty
    principal_fen: int
    price_fen: int
    accrued_interest_fen: int
    fee_fen: int
    transfer_date: date
    maturity_date: date


AnyContractData = LoanContractData | GuaranteeContractData | ClaimTransferContractData

METHOD_LABELS = {
    "EQUAL_INSTALLMENT": "等额本息 equal installments",
    "EQUAL_PRINCIPAL": "等额本金 equal principal",
    "INTEREST_FIRST": "先息后本 interest first, principal at maturity",
    "LUMP_SUM": "一次性还本付息 lump sum at maturity",
}


# --- checks -----------------------------------------------------------------------------


def _text(value: str, field: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value or len(value) > max_length:
        raise ContractDataError(f"{field}: 1 to {max_length} characters", field=field)
    return value


def _party(party: ContractParty, role: PartyRole, field: str, *, amount: bool) -> None:
    if party.role != role:
        raise ContractDataError(f"{field}: the role must be {role}", field=field)
    if party.user_id <= 0:
        raise ContractDataError(f"{field}: no such user", field=field)
    _text(party.name_masked, field, 64)
    _text(party.id_masked, field, 64)
    if amount and (party.amount_fen is None or party.amount_fen <= 0):
        raise ContractDataError(f"{field}: an amount above 0.00 is required", field=field)


def _distinct(parties: Sequence[ContractParty]) -> None:
    ids = [p.user_id for p in parties]
    if len(set(ids)) != len(ids):
        raise ContractDataError(
            "A person appears twice among the parties: merge their amounts", field="parties"
        )


def _positive(value: int, field: str, *, zero: bool = False) -> None:
    if value < 0 or (value == 0 and not zero):
        raise ContractDataError(f"{field}: must be above 0.00", field=field)


def _rate(rate: Decimal) -> None:
    try:
        format_rate(rate)
    except (TypeError, ValueError) as error:
        raise ContractDataError("annualRate: at most four decimals", field="annualRate") from error
    if rate < 0 or rate >= 1:
        raise ContractDataError("annualRate: from 0 to under 1", field="annualRate")


def _lenders(lenders: Sequence[ContractParty], total: int) -> None:
    if not lenders:
        raise ContractDataError("A loan contract needs at least one lender", field="lenders")
    for lender in lenders:
        _party(lender, PartyRole.LENDER, "lenders", amount=True)
    lent = sum(lender.amount_fen or 0 for lender in lenders)
    if lent != total:
        raise ContractDataError(
            f"The lenders' amounts add up to {lent} fen, the loan is {total} fen",
            field="lenders",
        )


def _schedule(lines: Sequence[tuple[int, date, int, int, int, int]], total: int) -> None:
    if not lines:
        raise ContractDataError("The schedule is empty", field="schedule")
    for index, line in enumerate(lines, start=1):
        number, _due, principal, interest, fee, line_total = line
        if number != index or min(principal, interest, fee) < 0:
            raise ContractDataError(f"Schedule line {index} is malformed", field="schedule")
        if principal + interest + fee != line_total:
            raise ContractDataError(
                f"Schedule line {index}: the total is not principal + interest + fee",
                field="schedule",
            )
    repaid = sum(line[2] for line in lines)
    if repaid != total:
        raise ContractDataError(
            f"The schedule repays {repaid} fen of principal, the loan is {total} fen",
            field="schedule",
        )


def validate(data: AnyContractData) -> None:
    """Raise ContractDataError (field at fault) unless the data makes a consistent contract:
    the right roles, distinct people, Σ lenders == loan amount, Σ schedule principal ==
    loan amount, every schedule line adding up."""
    _text(data.loan_ref, "loanRef", 64)
    if data.loan_id <= 0:
        raise ContractDataError("loanId: no such loan", field="loanId")
    if isinstance(data, LoanContractData):
        _positive(data.amount_fen, "amount")
        _rate(data.annual_rate)
        _text(data.purpose, "purpose", 200)
        _text(data.fees, "fees", 500)
        if data.method not in METHOD_LABELS:
            raise ContractDataError(f"Unknown repayment method {data.method}", field="method")
        _party(data.borrower, PartyRole.BORROWER, "borrower", amount=False)
        _lenders(data.lenders, data.amount_fen)
        _distinct([data.borrower, *data.lenders])
        _schedule(data.schedule, data.amount_fen)
    elif isinstance(data, GuaranteeContractData):
        _text(data.order_ref, "orderRef", 64)
        _positive(data.amount_fen, "amount")
        _positive(data.fee_fen, "fee", zero=True)
        _rate(data.annual_rate)
        _text(data.coverage, "coverage", 200)
        _party(data.borrower, PartyRole.BORROWER, "borrower", amount=False)
        _party(data.guarantor, PartyRole.GUARANTOR, "guarantor", amount=False)
        _lenders(data.lenders, data.amount_fen)
        _distinct([data.borrower, data.guarantor, *data.lenders])
        if data.end_date <= data.start_date:
            raise ContractDataError("The guarantee must end after it starts", field="endDate")
    else:
        _text(data.transfer_ref, "transferRef", 64)
        _positive(data.principal_fen, "principal")
        _positive(data.price_fen, "price")
        _positive(data.accrued_interest_fen, "accruedInterest", zero=True)
        _positive(data.fee_fen, "fee", zero=True)
        _party(data.seller, PartyRole.SELLER, "seller", amount=True)
        _party(data.buyer, PartyRole.BUYER, "buyer", amount=True)
        if data.seller.amount_fen != data.principal_fen or data.buyer.amount_fen != (
            data.principal_fen
        ):
            raise ContractDataError(
                "Seller and buyer must name the principal transferred", field="principal"
            )
        _distinct([data.seller, data.buyer])


# --- the stored form --------------------------------------------------------------------


def kind_of(data: AnyContractData) -> ContractKind:
    if isinstance(data, LoanContractData):
        return ContractKind.LOAN
    if isinstance(data, GuaranteeContractData):
        return ContractKind.GUARANTEE
    return ContractKind.CLAIM_TRANSFER


def order_key(data: AnyContractData) -> str:
    """One contract per order: per loan, per guarantee order, per claim transfer."""
    if isinstance(data, LoanContractData):
        return f"loan:{data.loan_id}"
    if isinstance(data, GuaranteeContractData):
        return f"guarantee:{data.order_ref}"
    return f"transfer:{data.transfer_ref}"


def parties(data: AnyContractData) -> list[ContractParty]:
    """In the order the document lists them."""
    if isinstance(data, LoanContractData):
        return [data.borrower, *data.lenders]
    if isinstance(data, GuaranteeContractData):
        return [data.borrower, data.guarantor, *data.lenders]
    return [data.seller, data.buyer]


def _party_terms(party: ContractParty) -> dict[str, Any]:
    return {
        "role": str(party.role),
        "user_id": party.user_id,
        "name_masked": party.name_masked,
        "id_masked": party.id_masked,
        "amount_fen": party.amount_fen,
    }


def terms(data: AnyContractData) -> dict[str, Any]:
    """The JSON the contract keeps (and the document is filled from)."""
    common: dict[str, Any] = {
        "loan_ref": data.loan_ref,
        "loan_id": data.loan_id,
        "parties": [_party_terms(p) for p in parties(data)],
    }
    if isinstance(data, LoanContractData):
        lines = [ScheduleLine(*line) for line in data.schedule]
        return common | {
            "amount_fen": data.amount_fen,
            "annual_rate": format_rate(data.annual_rate),
            "term_months": data.term_months,
            "method": data.method,
            "purpose": data.purpose.strip(),
            "fees": data.fees.strip(),
            "start_date": data.start_date.isoformat(),
            "end_date": lines[-1].due_date.isoformat(),
            "schedule": [[ln.number, ln.due_date.isoformat(), *ln[2:]] for ln in lines],
        }
    if isinstance(data, GuaranteeContractData):
        return common | {
            "order_ref": data.order_ref,
            "amount_fen": data.amount_fen,
            "annual_rate": format_rate(data.annual_rate),
            "term_months": data.term_months,
            "coverage": data.coverage.strip(),
            "fee_fen": data.fee_fen,
            "start_date": data.start_date.isoformat(),
            "end_date": data.end_date.isoformat(),
        }
    return common | {
        "transfer_ref": data.transfer_ref,
        "amount_fen": data.principal_fen,
        "principal_fen": data.principal_fen,
        "price_fen": data.price_fen,
        "accrued_interest_fen": data.accrued_interest_fen,
        "fee_fen": data.fee_fen,
        "start_date": data.transfer_date.isoformat(),
        "end_date": data.maturity_date.isoformat(),
    }


def fingerprint(stored_terms: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON: tells a repeated call from a conflicting one."""
    canonical = json.dumps(stored_terms, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
