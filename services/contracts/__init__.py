"""Electronic contracts (M3): loan, guarantee and claim-transfer orders with their
contract documents; consent and the platform's signature (M3.6); the archive and
printing (M3.4); e-mail to the parties (M3.5). See docs/decisions.md, "Electronic
contracts (issue 6)".

The hooks other domains call:

- `create_loan_contract(LoanContractData)` when a loan is full (one contract per loan),
  and `create_guarantee_contract` / `create_claim_transfer_contract` likewise;
- `record_consent(contract_id=, user_id=, method=BID_CONFIRMATION, client_ip=,
  reference=)` for each lender's confirmed bid;
- `borrower_signed(loan_id)`, what disbursement waits for;
- `extend_retention(loan_id=, ended_on=)` when a loan ends (R6).
"""

from __future__ import annotations

from services.contracts.data import (
    ClaimTransferContractData,
    ContractDataError,
    ContractParty,
    GuaranteeContractData,
    LoanContractData,
    ScheduleLine,
    schedule_lines,
)
from services.contracts.emails import email_parties  # registers the outbox handler
from services.contracts.issue import (
    create_claim_transfer_contract,
    create_guarantee_contract,
    create_loan_contract,
)
from services.contracts.signatures import (
    borrower_signed,
    extend_retention,
    record_consent,
    verify_document,
)

__all__ = [
    "ClaimTransferContractData",
    "ContractDataError",
    "ContractParty",
    "GuaranteeContractData",
    "LoanContractData",
    "ScheduleLine",
    "borrower_signed",
    "create_claim_transfer_contract",
    "create_guarantee_contract",
    "create_loan_contract",
    "email_parties",
    "extend_retention",
    "record_consent",
    "schedule_lines",
    "verify_document",
]
