"""Issue 20: the contract of a claim transfer, through the services (M3.3-M3.6).

A loan of 10,000.00 held 3,000 / 3,000 / 4,000; after the first installment, lender A
lists 1,000.00 of their claim at a 2 % discount and a buyer confirms buying 700.00 of it
with the SMS code ten days later. The purchase's transaction only queues an event (no
contract yet when it commits); the event's handler makes the CLAIM_TRANSFER contract:
seller and buyer named masked with the principal, the price (what the buyer pays for the
claim: 686.00 plus the accrued interest, which the template reads as included), the
accrued interest and the fee to the fen, the transfer date and the loan's maturity; the
seller's consent by listing and the buyer's by the confirmed purchase, the platform's
signature, `verify_document` accepting the archived file, the PDF e-mailed to both.
Handled twice (or twice at once) it is still one contract, two consents, one e-mail
each; a refused purchase has none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.bids import Claim
from models.contracts import (
    ConsentMethod,
    Contract,
    ContractConsent,
    ContractEmail,
    ContractKind,
    ContractParty,
    ContractStatus,
    EmailStatus,
    PartyRole,
)
from models.messaging import OutboxEvent
from models.payments import ProviderAccount
from models.repayments import LoanInstallment
from models.transfers import ClaimTransfer, TransferStatus
from services.contracts import access, record_consent, verify_document
from services.errors import DomainError
from services.kit.storage import LocalStorage, set_storage
from services.money.money import format_money
from services.operations import confirmation
from services.platform import clock, outbox
from services.transfers import contracting, market
from tests.contracts.test_pdf_rendering import run, squeezed
from tests.factories import SmtpServer, approve_email
from tests.lending import (
    code_for,
    member_actor,
    move_clock_to,
    ready_lender,
    repaying_loan,
    settle_everything,
)
from tests.transfers.test_market import SHARES, _buy, _expected_quote, _key, _list, _pay_on_due

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

BOUGHT = 70_000
PRICE = 68_600  # 700.00 at a 2 % discount
FEE = 343  # 0.5 % of the price


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


async def _purchase(app: Any, scripted: dict[str, Any]) -> tuple[Any, Any, ClaimTransfer]:
    """A's listing of 1,000.00 and the buyer's confirmed purchase of 700.00 of it, ten
    days after the first installment; the quote checked to the fen as it is made."""
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (seller, _phone), _b, _c = made.lenders
    buyer = await ready_lender(2_000_000, name="钱多多")
    await approve_email(seller.id, "seller@example.com")
    await approve_email(buyer[0].id, "buyer@example.com")
    claim = await Claim.get(loan_id=made.loan.id, holder_id=seller.id)
    await _pay_on_due(made, sandbox)
    await move_clock_to(await clock.today() + timedelta(days=10))
    listing = await _list(seller, claim.id, 100_000)
    price, accrued, fee = await _expected_quote(listing, BOUGHT)
    assert (price, fee) == (PRICE, FEE)
    assert accrued > 0
    done = await _buy(buyer, listing.id, BOUGHT)
    assert done.status == TransferStatus.DONE
    assert (done.principal_fen, done.price_fen, done.accrued_interest_fen, done.fee_fen) == (
        BOUGHT,
        PRICE,
        accrued,
        FEE,
    )
    return seller, buyer[0], done


def _stored(store: LocalStorage) -> set[str]:
    """The names of the files in the archive."""
    return {p.name for p in store.root.rglob("*") if p.is_file()} if store.root.exists() else set()


async def _contract_events(transfer_id: int) -> list[OutboxEvent]:
    events = await OutboxEvent.filter(topic=contracting.CONTRACT_TOPIC).order_by("id")
    return [e for e in events if e.payload == {"transfer_id": transfer_id}]


async def test_a_purchase_makes_its_contract_signed_archived_and_emailed(
    quiet_app, scripted, tmp_path
):
    seller, buyer, done = await _purchase(quiet_app, scripted)
    # The purchase committed with its event, and no contract: none is made under the
    # listing's lock.
    assert [e.published_at for e in await _contract_events(done.id)] == [None]
    assert await contracting.contract_ids_of([done.id]) == {}

    with SmtpServer() as server:
        await settle_everything(quiet_app.state.sandbox.sandbox)  # the outbox included

    ids = await contracting.contract_ids_of([done.id])
    contract = await Contract.get(id=ids[done.id])
    last = await LoanInstallment.filter(loan_id=done.loan_id).order_by("-number").first()
    assert last is not None
    assert done.decided_at is not None
    assert (contract.kind, contract.status, contract.loan_id, contract.amount_fen) == (
        ContractKind.CLAIM_TRANSFER,
        ContractStatus.SIGNED,
        done.loan_id,
        BOUGHT,
    )
    assert contract.order_key == f"transfer:T{done.id:08d}"
    terms = contract.terms
    assert (
        terms["principal_fen"],
        terms["price_fen"],
        terms["accrued_interest_fen"],
        terms["fee_fen"],
    ) == (BOUGHT, PRICE + done.accrued_interest_fen, done.accrued_interest_fen, FEE)
    assert (terms["start_date"], terms["end_date"]) == (
        done.decided_at.date().isoformat(),
        last.due_date.isoformat(),
    )

    # The parties, masked as on their custody accounts, each with the principal.
    parties = await ContractParty.filter(contract_id=contract.id).order_by("position")
    accounts = {
        user_id: await ProviderAccount.get(owner_code=f"m:{user_id}")
        for user_id in (seller.id, buyer.id)
    }
    assert [(p.role, p.user_id, p.amount_fen) for p in parties] == [
        (PartyRole.SELLER, seller.id, BOUGHT),
        (PartyRole.BUYER, buyer.id, BOUGHT),
    ]
    for party in parties:
        account = accounts[party.user_id]
        assert (party.name_masked, party.id_masked) == (
            account.real_name_masked,
            account.id_number_masked,
        )
    assert parties[1].name_masked == "钱**"

    # The archived PDF as poppler reads it: the amounts to the fen, the masked parties.
    document = await access.archived_document(contract)
    path = tmp_path / f"{contract.number}.pdf"
    path.write_bytes(document)
    text = (await run("pdftotext", "-enc", "UTF-8", path, "-")).decode("utf-8")
    flat = squeezed(text)
    for amount in (
        "700.00",  # the principal
        format_money(PRICE + done.accrued_interest_fen),  # the price, accrued included
        format_money(done.accrued_interest_fen),
        "3.43",  # the fee
    ):
        assert amount in text, amount
    assert squeezed(f"本金人民币 {format_money(BOUGHT)} 元") in flat
    assert squeezed(f"含应计利息人民币 {format_money(done.accrued_interest_fen)} 元") in flat
    assert squeezed(f"转让费人民币 {format_money(FEE)} 元") in flat
    assert contract.number in flat
    for label in ("转让人 Seller", "受让人 Buyer"):
        assert label in text, label
    for party in parties:
        assert party.name_masked in text, party.name_masked
        assert party.id_masked in text, party.id_masked
    assert "钱多多" not in text  # the buyer's full name never
    assert terms["start_date"] in text  # the transfer date
    assert terms["end_date"] in text  # the loan's maturity

    # Both consents, the platform's signature, the file verified.
    consents = await ContractConsent.filter(contract_id=contract.id).order_by("id")
    assert [(c.user_id, c.role, c.method, c.reference, c.document_sha256) for c in consents] == [
        (
            seller.id,
            PartyRole.SELLER,
            ConsentMethod.LISTING,
            f"transfer-listing:{done.listing_id}",
            contract.sha256,
        ),
        (
            buyer.id,
            PartyRole.BUYER,
            ConsentMethod.PURCHASE_CONFIRMATION,
            f"claim-transfer:{done.id}",
            contract.sha256,
        ),
    ]
    verified = await verify_document(data=document)
    assert verified.valid
    assert verified.contract is not None
    assert verified.contract.id == contract.id
    assert [(s.role, s.method) for s in verified.signers] == [
        (PartyRole.SELLER, ConsentMethod.LISTING),
        (PartyRole.BUYER, ConsentMethod.PURCHASE_CONFIRMATION),
    ]
    altered = document[:200] + bytes([document[200] ^ 1]) + document[201:]
    assert not (await verify_document(data=altered)).valid  # one byte changed

    # E-mailed to both parties with the archived PDF attached.
    rows = await ContractEmail.filter(contract_id=contract.id).order_by("id")
    assert [(r.user_id, r.status, r.attempts) for r in rows] == [
        (seller.id, EmailStatus.SENT, 1),
        (buyer.id, EmailStatus.SENT, 1),
    ]
    assert sorted(m["To"] for m in server.messages) == [
        "buyer@example.com",
        "seller@example.com",
    ]
    for message in server.messages:
        assert contract.number in message["Subject"]
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == f"{contract.number}.pdf"
        assert attachment.get_content() == document

    # Each consent method is its role's only: the seller cannot consent by purchase,
    # the buyer not by listing.
    for user_id, method in (
        (seller.id, ConsentMethod.PURCHASE_CONFIRMATION),
        (buyer.id, ConsentMethod.LISTING),
    ):
        with pytest.raises(DomainError) as refused:
            await record_consent(
                contract_id=contract.id,
                user_id=user_id,
                method=method,
                client_ip="",
                reference="x",
            )
        assert refused.value.code == "METHOD_NOT_ALLOWED"


async def test_handled_twice_or_at_once_it_is_still_one_contract(quiet_app, scripted, storage):
    seller, buyer, done = await _purchase(quiet_app, scripted)
    stored_before = _stored(storage)

    with SmtpServer() as server:
        # Two handlings at once (two processes, a retry racing the first try), then
        # the purchase's own event, then the event written again and handled.
        first, second = await asyncio.gather(
            contracting.contract_for_transfer(done.id),
            contracting.contract_for_transfer(done.id),
        )
        await settle_everything(quiet_app.state.sandbox.sandbox)
        async with in_transaction():
            await outbox.enqueue(contracting.CONTRACT_TOPIC, {"transfer_id": done.id})
        await settle_everything(quiet_app.state.sandbox.sandbox)
        again = await contracting.contract_for_transfer(done.id)

    assert first.id == second.id == again.id
    assert await contracting.contract_ids_of([done.id]) == {done.id: first.id}
    assert await Contract.filter(kind=ContractKind.CLAIM_TRANSFER).count() == 1
    assert first.number.endswith("-000001")  # no serial used twice
    assert again.status == ContractStatus.SIGNED
    consents = await ContractConsent.filter(contract_id=first.id).order_by("id")
    assert [(c.user_id, c.method) for c in consents] == [
        (seller.id, ConsentMethod.LISTING),
        (buyer.id, ConsentMethod.PURCHASE_CONFIRMATION),
    ]
    rows = await ContractEmail.filter(contract_id=first.id).order_by("id")
    assert [(r.user_id, r.status) for r in rows] == [
        (seller.id, EmailStatus.SENT),
        (buyer.id, EmailStatus.SENT),
    ]
    assert len(server.messages) == 2
    # Every event handled, none failed; one file archived: the racer that lost removed
    # the PDF it had stored.
    events = await _contract_events(done.id)
    assert [(e.published_at is not None, e.attempts) for e in events] == [(True, 0)] * 2
    assert _stored(storage) - stored_before == {first.storage_key}


async def test_a_purchase_not_done_has_no_contract(quiet_app, scripted):
    sandbox = quiet_app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (seller, _phone), _b, _c = made.lenders
    claim = await Claim.get(loan_id=made.loan.id, holder_id=seller.id)
    await _pay_on_due(made, sandbox)
    listing = await _list(seller, claim.id, 100_000)
    loser = await ready_lender(2_000_000, name="Loser")
    asked = await market.buy(
        actor=member_actor(loser[0].id),
        listing_id=listing.id,
        principal_fen=100_000,
        version=listing.version,
        idempotency_key=_key(),
    )
    with pytest.raises(DomainError) as waiting:  # asked, not confirmed yet
        await contracting.contract_for_transfer(asked.id)
    assert waiting.value.code == "TRANSFER_NOT_DONE"
    winner = await _buy(await ready_lender(2_000_000, name="Winner"), listing.id, 100_000)
    with pytest.raises(DomainError) as late:
        await confirmation.confirm_operation(
            actor=member_actor(loser[0].id),
            operation_id=str(asked.operation_id),
            code=await code_for(loser[1]),
        )
    assert late.value.code == "LISTING_NOT_OPEN"
    await settle_everything(sandbox)

    refused = await ClaimTransfer.get(id=asked.id)
    assert (refused.status, refused.refusal) == (TransferStatus.REFUSED, "LISTING_NOT_OPEN")
    assert await _contract_events(refused.id) == []  # rolled back with the purchase
    ids = await contracting.contract_ids_of([refused.id, winner.id])
    assert list(ids) == [winner.id]
    with pytest.raises(DomainError) as not_done:
        await contracting.contract_for_transfer(refused.id)
    assert not_done.value.code == "TRANSFER_NOT_DONE"
    assert await Contract.filter(kind=ContractKind.CLAIM_TRANSFER).count() == 1
    assert not await ContractParty.filter(user_id=loser[0].id).exists()
    assert await contracting.contract_ids_of([]) == {}
