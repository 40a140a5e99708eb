"""The contract of a claim transfer (issue 20, M3.3, M3.5, M3.6): made once a purchase is
DONE, signed by both parties' consents, archived and e-mailed as the other contracts are.

The purchase's confirming transaction (`market._settle`) holds the listing's row lock,
with other buyers queued behind it, so it only writes an outbox event (`CONTRACT_TOPIC`);
after the commit the event's handler (`contract_for_transfer`) makes the contract
through `create_claim_transfer_contract` (template, PDF, archive: one per transfer, by
its order key), records the two consents, which makes the platform sign it, and queues
the PDF to both parties (`emails.email_parties`). Every step is idempotent, so an event
handled twice (a retry after a failure, the dispatcher of another process) still makes
one contract, two consents and one e-mail per party.

- The seller consented to the terms by listing the claim (`LISTING`, the listing as
  reference); the buyer by confirming the purchase with the SMS code
  (`PURCHASE_CONFIRMATION`, the transfer as reference), as a lender consents to a loan
  contract by their confirmed bid.
- The contract's price is what the buyer pays for the claim: the market's price plus the
  accrued interest, which the template reads as "price (accrued interest included)";
  the accrued interest and the seller's fee are named on their own. Both parties are
  named with the principal transferred, masked as on their custody accounts.
"""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from models.contracts import ConsentMethod, Contract, ContractEmail, ContractKind, PartyRole
from models.repayments import LoanInstallment
from models.transfers import ClaimTransfer, TransferStatus
from services.contracts import emails, signatures
from services.contracts.data import ClaimTransferContractData
from services.contracts.issue import create_claim_transfer_contract
from services.errors import DomainError
from services.identity.permissions import Actor
from services.loans.contracting import masked_party
from services.platform import outbox
from services.transfers import events

CONTRACT_TOPIC = events.CONTRACT_TOPIC


def transfer_ref(transfer_id: int) -> str:
    """The order reference a transfer's contract is numbered and found by."""
    return f"T{transfer_id:08d}"


def _order_key(transfer_id: int) -> str:
    # As `services.contracts.data.order_key` makes it for a claim transfer.
    return f"transfer:{transfer_ref(transfer_id)}"


async def contract_data(transfer: ClaimTransfer) -> ClaimTransferContractData:
    """The contract's data, all from the DONE transfer and its loan, so that making it
    again gives the same terms: the transfer date is the day the purchase was confirmed,
    the maturity the loan's last due date."""
    if transfer.status != TransferStatus.DONE or transfer.decided_at is None:
        raise DomainError(
            f"Claim transfer {transfer.id} is {transfer.status}, not DONE: no contract",
            code="TRANSFER_NOT_DONE",
        )
    last = await LoanInstallment.filter(loan_id=transfer.loan_id).order_by("-number").first()
    if last is None:
        raise DomainError(f"Loan {transfer.loan_id} has no schedule", code="LOAN_NOT_REPAYING")
    principal = transfer.principal_fen
    return ClaimTransferContractData(
        transfer_ref=transfer_ref(transfer.id),
        loan_ref=f"L{transfer.loan_id:08d}",
        loan_id=transfer.loan_id,
        seller=await masked_party(PartyRole.SELLER, transfer.seller_id, principal),
        buyer=await masked_party(PartyRole.BUYER, transfer.buyer_id, principal),
        principal_fen=principal,
        price_fen=transfer.price_fen + transfer.accrued_interest_fen,
        accrued_interest_fen=transfer.accrued_interest_fen,
        fee_fen=transfer.fee_fen,
        transfer_date=transfer.decided_at.date(),
        maturity_date=last.due_date,
    )


async def contract_for_transfer(transfer_id: int) -> Contract:
    """Make (or find) the contract of a DONE purchase, record the seller's and the
    buyer's consents (the platform signs once both are in) and queue the signed PDF to
    both parties, unless its e-mails were queued before. Idempotent.

    Raises DomainError TRANSFER_NOT_DONE for a purchase not done (asked, refused,
    cancelled) and the contract data's errors (`ContractDataError`)."""
    transfer = await ClaimTransfer.get(id=transfer_id)
    contract = await create_claim_transfer_contract(await contract_data(transfer))
    await signatures.record_consent(
        contract_id=contract.id,
        user_id=transfer.seller_id,
        method=ConsentMethod.LISTING,
        client_ip="",
        reference=f"transfer-listing:{transfer.listing_id}",
    )
    await signatures.record_consent(
        contract_id=contract.id,
        user_id=transfer.buyer_id,
        method=ConsentMethod.PURCHASE_CONFIRMATION,
        client_ip="",
        reference=f"claim-transfer:{transfer.id}",
    )
    async with in_transaction():
        # The contract's row locked: two handlings at once queue its e-mails once.
        await Contract.filter(id=contract.id).select_for_update().first()
        if not await ContractEmail.exists(contract_id=contract.id):
            # Asked for by the buyer, whose confirmed purchase made the contract: a
            # party, so allowed to see it (parties without an approved address are
            # skipped).
            buyer = Actor(user_id=transfer.buyer_id, kind="member", roles=frozenset({"member"}))
            await emails.email_parties(actor=buyer, contract_id=contract.id)
    outbox.wake()  # the e-mails' events are committed now (unless in a caller's transaction)
    return await Contract.get(id=contract.id)


async def _on_done(payload: dict[str, Any]) -> None:
    await contract_for_transfer(int(payload["transfer_id"]))


outbox.register_handler(CONTRACT_TOPIC, _on_done)


async def contract_ids_of(transfer_ids: list[int]) -> dict[int, int]:
    """Transfer id -> the id of its contract, for the transfers that have one (a
    purchase not done has none; a done one has it once its event was handled). One
    statement whatever the number of transfers."""
    if not transfer_ids:
        return {}
    by_key = {_order_key(transfer_id): transfer_id for transfer_id in transfer_ids}
    rows = await Contract.filter(
        kind=ContractKind.CLAIM_TRANSFER, order_key__in=list(by_key)
    ).values_list("order_key", "id")
    return {by_key[str(key)]: int(contract_id) for key, contract_id in rows}
