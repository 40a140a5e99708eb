"""The loan contract of a full loan (issue 6 wired to issue 5).

When a loan is full, its contract is made from the loan (terms frozen at publishing,
the schedule from the day it filled, every lender with the sum of their accepted bids,
names and ID numbers masked as on the custody accounts), each lender's SMS-confirmed
bid is recorded as their consent (BID_CONFIRMATION, the bid as reference), and the
borrower is asked to sign with an SMS code. Disbursement waits for the borrower's
consent; when it comes, the disbursement is queued in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal

from models.bids import Bid, BidStatus
from models.contracts import ConsentMethod, Contract, ContractConsent, PartyRole
from models.loans import Loan
from models.payments import ProviderAccount
from services.contracts import signatures
from services.contracts.data import ContractParty, LoanContractData, ScheduleLine
from services.contracts.issue import create_loan_contract
from services.loans.pricing import Priced, price
from services.loans.schedule import DayCount, LoanTerms, RepaymentMethod, ScheduleRules
from services.platform import clock, notifier, outbox

FULL_TOPIC = "loan.full"


async def masked_party(role: PartyRole, user_id: int, amount_fen: int | None) -> ContractParty:
    account = await ProviderAccount.get_or_none(owner_code=f"m:{user_id}")
    return ContractParty(
        role=role,
        user_id=user_id,
        name_masked=account.real_name_masked if account else "",
        id_masked=account.id_number_masked if account else "",
        amount_fen=amount_fen,
    )


def service_fee_rate_of(loan: Loan) -> Decimal:
    """The monthly service fee rate frozen on the loan when it was published."""
    return Decimal(str(loan.fee_terms.get("monthly_service_fee_rate", "0")))


def guarantee_fee_rate_of(loan: Loan) -> Decimal:
    """The monthly guarantee fee rate, set when a guarantee was issued (else 0)."""
    return Decimal(str(loan.fee_terms.get("monthly_guarantee_fee_rate", "0")))


def fee_rate_of(loan: Loan) -> Decimal:
    """Every monthly fee rate of the loan: the service fee and any guarantee fee, both
    on the amount, paid with each installment."""
    return service_fee_rate_of(loan) + guarantee_fee_rate_of(loan)


def terms_of(loan: Loan) -> LoanTerms:
    """The loan's schedule terms, frozen when it was published (its rules edition
    included: a loan published before a change of the rules keeps its schedule)."""
    return LoanTerms(
        amount_fen=loan.amount_fen,
        annual_rate=Decimal(loan.annual_rate),
        term_months=loan.term_months,
        method=RepaymentMethod(loan.method),
        day_count=DayCount(loan.day_count),
        schedule_rules=ScheduleRules(loan.schedule_rules),
    )


async def loan_schedule(loan: Loan) -> tuple[date, Priced]:
    """The one schedule of a loan, from the day it filled (`closed_at`): the contract
    prints it and the disbursement materialises it as the loan's installments."""
    start = (loan.closed_at or await clock.now()).date()
    return start, price(terms_of(loan), fee_rate_of(loan), start)


async def contract_data(loan: Loan) -> LoanContractData:
    bids = await Bid.filter(
        loan_id=loan.id, status__in=[BidStatus.ACCEPTED, BidStatus.TRANSFERRED]
    ).order_by("id")
    lent: dict[int, int] = defaultdict(int)
    for bid in bids:
        lent[bid.lender_id] += bid.amount_fen
    start, priced = await loan_schedule(loan)
    fee_rate = fee_rate_of(loan)
    return LoanContractData(
        loan_ref=f"L{loan.id:08d}",
        loan_id=loan.id,
        amount_fen=loan.amount_fen,
        annual_rate=Decimal(loan.annual_rate),
        term_months=loan.term_months,
        method=loan.method,
        purpose=loan.purpose,
        borrower=await masked_party(PartyRole.BORROWER, loan.borrower_id, None),
        lenders=[
            await masked_party(PartyRole.LENDER, lender_id, amount)
            for lender_id, amount in lent.items()
        ],
        schedule=[
            ScheduleLine(
                row.installment.number,
                row.installment.due_date,
                row.installment.principal_fen,
                row.installment.interest_fen,
                row.fee_fen,
                row.total_due_fen,
            )
            for row in priced.installments
        ],
        fees=(
            f"Service fee {service_fee_rate_of(loan) * 100:.2f}%"
            + (
                f" and guarantee fee {guarantee_fee_rate_of(loan) * 100:.4f}%"
                if guarantee_fee_rate_of(loan)
                else ""
            )
            + f" ({fee_rate * 100:.4f}% in all) of the amount a month, paid with each "
            "installment; nothing is deducted from the principal."
        ),
        start_date=start,
    )


# Called with the full loan after its contract is made (idempotent, as this is): the
# domains above add the loan's other contracts (a guarantee contract). Registered there.
_full_hooks: list[Callable[[Loan], Awaitable[None]]] = []


def on_full_contract(hook: Callable[[Loan], Awaitable[None]]) -> Callable[[Loan], Awaitable[None]]:
    _full_hooks.append(hook)
    return hook


async def contract_for_full_loan(loan: Loan) -> Contract:
    """Make (or find) the contract, record every lender's bid confirmation as consent,
    and ask the borrower to sign; then the hooks' contracts. Idempotent."""
    contract = await create_loan_contract(await contract_data(loan))
    first_bid: dict[int, int] = {}
    for bid in await Bid.filter(
        loan_id=loan.id, status__in=[BidStatus.ACCEPTED, BidStatus.TRANSFERRED]
    ).order_by("id"):
        first_bid.setdefault(bid.lender_id, bid.id)
    for lender_id, bid_id in first_bid.items():
        await signatures.record_consent(
            contract_id=contract.id,
            user_id=lender_id,
            method=ConsentMethod.BID_CONFIRMATION,
            client_ip="",
            reference=f"bid:{bid_id}",
        )
    if not await ContractConsent.exists(contract_id=contract.id, role=PartyRole.BORROWER):
        await notifier.notify(
            user=loan.borrower_id,
            kind="contract",
            title="Sign your loan contract",
            body=f"Loan {loan.id} is fully funded. Sign contract {contract.number} "
            "(requestContractSignature, then signContract) and the money is paid out.",
        )
    for hook in _full_hooks:
        await hook(loan)
    return contract


async def _borrower_consented(contract: Contract, consent: ContractConsent) -> None:
    if consent.role == PartyRole.BORROWER and contract.loan_id is not None:
        await outbox.enqueue(FULL_TOPIC, {"loan_id": contract.loan_id})


signatures.on_consent(_borrower_consented)
