"""The guarantee contract (M3.2): borrower, guarantor and lenders, made with the loan
contract when a guaranteed loan is full (`loans.contracting.on_full_contract`), through
the contracts service (numbered, rendered, hashed, signed by the platform once every
party consented, archived).

Order `G<policy id, 8 digits>`. Parties: the borrower and the lenders as in the loan
contract; the guarantor is the company (its name, its licence number masked) acting
through the staff member who issued the policy. Consents: each lender's confirmed bid
(BID_CONFIRMATION: they bid on a listing showing the guarantee); the guarantor's issuing
of the policy on these terms (POLICY_ISSUE, reference `guarantee-policy:<id>`); the
borrower signs with an SMS code like the loan contract, and the loan is disbursed only
once the borrower has signed both (`signatures.borrower_signed`). Idempotent.
"""

from __future__ import annotations

from models.bids import Bid, BidStatus
from models.contracts import ConsentMethod, PartyRole
from models.guarantees import Coverage, GuaranteeCompany, GuaranteePolicy, PolicyStatus
from models.loans import Loan
from services.contracts import create_guarantee_contract, signatures
from services.contracts.data import ContractParty, GuaranteeContractData
from services.loans import contracting
from services.platform import notifier


def _coverage(policy: GuaranteePolicy) -> str:
    what = (
        "本金 principal"
        if policy.coverage == Coverage.PRINCIPAL
        else "本金及利息 principal and interest"
    )
    if policy.covers_penalty:
        what += "、罚息 and penalty interest"
    return (
        f"{what}; 逾期 {policy.trigger_days} 日后代偿 compensated {policy.trigger_days} days "
        "after an installment falls due unpaid"
    )


def _masked_licence(licence: str) -> str:
    return licence[:2] + "*" * max(0, len(licence) - 4) + licence[-2:]


@contracting.on_full_contract
async def guarantee_contract_for_full_loan(loan: Loan) -> None:
    policy = await GuaranteePolicy.filter(
        loan_id=loan.id, status__in=[PolicyStatus.ISSUED, PolicyStatus.ACTIVE]
    ).first()
    if policy is None or policy.issued_by is None:
        return
    company = await GuaranteeCompany.get(id=policy.company_id)
    data = await contracting.contract_data(loan)
    start, priced = await contracting.loan_schedule(loan)
    contract = await create_guarantee_contract(
        GuaranteeContractData(
            order_ref=f"G{policy.id:08d}",
            loan_ref=data.loan_ref,
            loan_id=loan.id,
            amount_fen=loan.amount_fen,
            annual_rate=data.annual_rate,
            term_months=loan.term_months,
            borrower=data.borrower,
            guarantor=ContractParty(
                role=PartyRole.GUARANTOR,
                user_id=policy.issued_by,
                name_masked=company.name,
                id_masked=_masked_licence(company.licence_number),
            ),
            lenders=data.lenders,
            coverage=_coverage(policy),
            fee_fen=0,
            start_date=start,
            end_date=priced.installments[-1].installment.due_date,
        )
    )
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
    await signatures.record_consent(
        contract_id=contract.id,
        user_id=policy.issued_by,
        method=ConsentMethod.POLICY_ISSUE,
        client_ip="",
        reference=f"guarantee-policy:{policy.id}",
    )
    await notifier.notify(
        user=loan.borrower_id,
        kind="contract",
        title="Sign your guarantee contract",
        body=f"Loan {loan.id} is guaranteed by {company.name}: sign guarantee contract "
        f"{contract.number} too (requestContractSignature, then signContract); the money "
        "is paid out once both are signed.",
    )
