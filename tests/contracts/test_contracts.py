"""M3.1-M3.6 in the services: a full loan makes one contract naming every lender to the
fen, the PDF carries the parties, amounts and schedule, consents lead to the platform's
signature, a changed byte fails verification, templates are versioned, e-mails go out
over real SMTP and are retried."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from models.contracts import (
    ConsentMethod,
    Contract,
    ContractConsent,
    ContractEmail,
    ContractKind,
    ContractParty,
    ContractStatus,
    ContractTemplate,
    EmailStatus,
    PartyRole,
)
from services.contracts import (
    ClaimTransferContractData,
    ContractDataError,
    GuaranteeContractData,
    access,
    borrower_signed,
    create_claim_transfer_contract,
    create_guarantee_contract,
    create_loan_contract,
    emails,
    extend_retention,
    issue,
    pdf,
    record_consent,
    signatures,
    templates,
    verify_document,
)
from services.contracts import ContractParty as Party
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor
from services.kit import signing
from services.kit.storage import LocalStorage, set_storage
from services.money.money import format_money
from services.platform import mailer, outbox, parameters
from services.platform.clock import system_now
from tests.factories import (
    BORROWER_NAME,
    LENDER_AMOUNTS,
    LENDER_NAMES,
    SmtpServer,
    approve_email,
    create_member,
    create_staff,
    full_loan_data,
    pdf_text,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

STAFF = Actor(user_id=None, kind="staff", permissions=frozenset({"contracts:read"}))


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


def _stored_files(store: LocalStorage) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file()] if store.root.exists() else []


async def _staff() -> Actor:
    user, _phone = await create_staff("cs")
    return Actor(user_id=user.id, kind="staff", permissions=frozenset({"contracts:read"}))


async def _document(contract: Contract) -> bytes:
    return await access.archived_document(contract)


# --- issuing --------------------------------------------------------------------------------


async def test_a_full_loan_makes_one_contract_naming_every_lender(storage):
    data = await full_loan_data(loan_id=42)

    contract = await create_loan_contract(data)

    assert re.fullmatch(r"LB-LOAN-\d{8}-000001", contract.number), contract.number
    assert (contract.kind, contract.status) == (ContractKind.LOAN, ContractStatus.DRAFT)
    assert (contract.loan_id, contract.amount_fen, contract.template_version) == (42, 1_000_000, 1)
    parties = await ContractParty.filter(contract_id=contract.id).order_by("position")
    assert [(p.role, p.user_id, p.amount_fen) for p in parties] == [
        (PartyRole.BORROWER, data.borrower.user_id, None),
        *((PartyRole.LENDER, lender.user_id, lender.amount_fen) for lender in data.lenders),
    ]
    assert sum(p.amount_fen or 0 for p in parties) == contract.amount_fen == 1_000_000
    # The archive holds exactly the bytes whose hash is on record.
    document = await _document(contract)
    assert hashlib.sha256(document).hexdigest() == contract.sha256
    assert document.startswith(b"%PDF-")
    assert len(_stored_files(storage)) == 1

    text = pdf_text(document)
    assert contract.number in text
    assert "借款合同 Loan Agreement" in text
    assert BORROWER_NAME in text
    assert data.borrower.id_masked in text
    for name, lender, amount in zip(LENDER_NAMES, data.lenders, LENDER_AMOUNTS, strict=True):
        assert name in text
        assert lender.id_masked in text
        assert format_money(amount) in text
    assert [format_money(a) for a in LENDER_AMOUNTS] == ["3333.33", "3333.33", "3333.34"]
    assert "10000.00" in text
    assert "12.00%" in text
    assert "等额本息" in text
    first, last = data.schedule[0], data.schedule[-1]
    assert (format_money(first[5]), format_money(last[5])) == ("888.49", "888.47")
    for line in (first, last):
        assert line[1].isoformat() in text
        assert all(format_money(amount) in text for amount in line[2:])
    assert "661.86" in text  # total interest


async def test_creating_twice_gives_the_same_contract(storage):
    data = await full_loan_data(loan_id=7)

    first = await create_loan_contract(data)
    second = await create_loan_contract(data)
    raced = await asyncio.gather(*(create_loan_contract(data) for _ in range(3)))

    assert {c.id for c in [second, *raced]} == {first.id}
    assert await Contract.filter(loan_id=7).count() == 1
    assert len(_stored_files(storage)) == 1  # nothing left behind by the repeats


async def test_other_terms_for_the_same_loan_are_refused(storage):
    data = await full_loan_data(loan_id=8)
    await create_loan_contract(data)

    with pytest.raises(ContractDataError) as refused:
        await create_loan_contract(dataclasses.replace(data, purpose="something else"))

    assert refused.value.code == "CONFLICT"
    assert await Contract.all().count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("lender_short", "lenders"),
        ("schedule_short", "schedule"),
        ("borrower_as_lender", "parties"),
        ("no_lenders", "lenders"),
        ("wrong_role", "borrower"),
    ],
)
async def test_inconsistent_data_is_refused_and_nothing_is_stored(storage, change, field):
    data = await full_loan_data(loan_id=9)
    lenders = list(data.lenders)
    if change == "lender_short":
        lenders[2] = dataclasses.replace(lenders[2], amount_fen=333_333)  # one fen short
        data = dataclasses.replace(data, lenders=lenders)
    elif change == "schedule_short":
        schedule = list(data.schedule)
        n, due, principal, interest, fee, _total = schedule[-1]
        schedule[-1] = (n, due, principal - 1, interest, fee, principal - 1 + interest + fee)
        data = dataclasses.replace(data, schedule=schedule)
    elif change == "borrower_as_lender":
        lenders[0] = dataclasses.replace(lenders[0], user_id=data.borrower.user_id)
        data = dataclasses.replace(data, lenders=lenders)
    elif change == "no_lenders":
        data = dataclasses.replace(data, lenders=[])
    else:
        data = dataclasses.replace(
            data, borrower=dataclasses.replace(data.borrower, role=PartyRole.LENDER)
        )

    with pytest.raises(ContractDataError) as refused:
        await create_loan_contract(data)

    assert (refused.value.code, refused.value.field) == ("INVALID_CONTRACT_DATA", field)
    assert await Contract.all().count() == 0
    assert _stored_files(storage) == []


async def test_order_numbers_are_unique_and_counted_per_kind_and_day():
    loans = [await full_loan_data(loan_id=100 + i) for i in range(5)]

    made = await asyncio.gather(*(create_loan_contract(data) for data in loans))

    numbers = sorted(c.number for c in made)
    assert len(set(numbers)) == 5
    assert [n[-6:] for n in numbers] == ["000001", "000002", "000003", "000004", "000005"]
    async with in_transaction() as connection:
        other_kind = await issue.next_number(connection, ContractKind.GUARANTEE, date(2030, 1, 2))
        other_day = await issue.next_number(connection, ContractKind.LOAN, date(2030, 1, 2))
    assert other_kind == "LB-GUAR-20300102-000001"
    assert other_day == "LB-LOAN-20300102-000001"


@pytest.mark.postgres_only
async def test_concurrent_numbering_never_repeats_on_postgres():
    from tests import conftest

    if conftest.BACKEND != "postgres":
        pytest.skip("row locks are proven on PostgreSQL")

    async def one() -> str:
        async with in_transaction() as connection:
            number = await issue.next_number(connection, ContractKind.LOAN, date(2031, 5, 6))
            await asyncio.sleep(0.01)  # hold the counter row while others wait for it
            return number

    numbers = await asyncio.gather(*(one() for _ in range(20)))
    assert sorted(numbers) == [f"LB-LOAN-20310506-{i:06d}" for i in range(1, 21)]


async def test_the_same_content_renders_the_same_bytes():
    elements = templates.fill(
        "# 标题 Title\n\n金额 $amount\n\n@parties",
        {"amount": "1.00"},
        {"parties": (("角色 Role", "名称 Name"), ("借款人 Borrower", "周**"))},
    )
    assert pdf.render("T", "LB-1", elements) == pdf.render("T", "LB-1", elements)
    assert pdf.render("T", "LB-1", elements) != pdf.render("T", "LB-2", elements)


async def test_guarantee_and_claim_transfer_contracts(storage):
    loan = await full_loan_data(loan_id=11)
    guarantor, _phone = await create_staff("guarantor")
    guarantee = await create_guarantee_contract(
        GuaranteeContractData(
            order_ref="G0001",
            loan_ref=loan.loan_ref,
            loan_id=loan.loan_id,
            amount_fen=loan.amount_fen,
            annual_rate=loan.annual_rate,
            term_months=12,
            borrower=loan.borrower,
            guarantor=Party(PartyRole.GUARANTOR, guarantor.id, "安心担保", "91110000MA01****"),
            lenders=loan.lenders,
            coverage="本金和利息 principal and interest",
            fee_fen=20_000,
            start_date=loan.start_date,
            end_date=loan.schedule[-1][1],
        )
    )
    seller, buyer = loan.lenders[0], await create_member(name="Buyer")
    transfer = await create_claim_transfer_contract(
        ClaimTransferContractData(
            transfer_ref="T0001",
            loan_ref=loan.loan_ref,
            loan_id=loan.loan_id,
            seller=Party(
                PartyRole.SELLER, seller.user_id, seller.name_masked, seller.id_masked, 250_000
            ),
            buyer=Party(PartyRole.BUYER, buyer[0].id, "孙**", "320***********5678", 250_000),
            principal_fen=250_000,
            price_fen=251_234,
            accrued_interest_fen=1_234,
            fee_fen=500,
            transfer_date=date(2027, 3, 1),
            maturity_date=loan.schedule[-1][1],
        )
    )

    assert guarantee.number.startswith("LB-GUAR-")
    assert transfer.number.startswith("LB-XFER-")
    guarantee_text = pdf_text(await _document(guarantee))
    assert "担保合同 Guarantee Agreement" in guarantee_text
    assert "安心担保" in guarantee_text
    assert "200.00" in guarantee_text
    assert all(name in guarantee_text for name in LENDER_NAMES)
    transfer_text = pdf_text(await _document(transfer))
    assert "债权转让合同" in transfer_text
    assert "孙**" in transfer_text
    assert "2500.00" in transfer_text
    assert "2512.34" in transfer_text


# --- consent and signature ----------------------------------------------------------------


async def _signed_contract(loan_id: int = 21) -> tuple[Contract, object]:
    data = await full_loan_data(loan_id=loan_id)
    contract = await create_loan_contract(data)
    for index, lender in enumerate(data.lenders):
        await record_consent(
            contract_id=contract.id,
            user_id=lender.user_id,
            method=ConsentMethod.BID_CONFIRMATION,
            client_ip="10.0.0.1",
            reference=f"bid:{index + 1}",
        )
    await record_consent(
        contract_id=contract.id,
        user_id=data.borrower.user_id,
        method=ConsentMethod.SMS_CODE,
        client_ip="10.0.0.2",
        reference="SMS code to 177****0001",
    )
    return await Contract.get(id=contract.id), data


async def test_every_consent_then_the_platform_signs():
    data = await full_loan_data(loan_id=22)
    contract = await create_loan_contract(data)

    for index, lender in enumerate(data.lenders):
        consent = await record_consent(
            contract_id=contract.id,
            user_id=lender.user_id,
            method=ConsentMethod.BID_CONFIRMATION,
            client_ip="10.0.0.1",
            reference=f"bid:{index + 1}",
        )
        assert (consent.role, consent.document_sha256) == (PartyRole.LENDER, contract.sha256)
    signing_now = await Contract.get(id=contract.id)
    assert (signing_now.status, signing_now.signature) == (ContractStatus.SIGNING, None)
    assert await borrower_signed(22) is False

    await record_consent(
        contract_id=contract.id,
        user_id=data.borrower.user_id,
        method=ConsentMethod.SMS_CODE,
        client_ip="10.0.0.2",
        reference="SMS code to 177****0001",
    )

    signed = await Contract.get(id=contract.id)
    assert signed.status == ContractStatus.SIGNED
    assert signed.signature is not None
    assert signed.signed_at is not None
    payload = f"sha256:{signed.sha256}:contract:{signed.number}".encode()
    assert signing.verify(payload, signed.signature)
    assert await borrower_signed(22) is True
    assert await borrower_signed(999) is False
    # R6: five years (the parameter) after the loan ends.
    assert signed.retain_until == date(2032, 11, 29)
    assert await ContractConsent.filter(contract_id=contract.id).count() == 4


async def test_consent_is_idempotent_and_bid_confirmation_is_for_lenders():
    data = await full_loan_data(loan_id=23)
    contract = await create_loan_contract(data)
    lender = data.lenders[0]

    first = await record_consent(
        contract_id=contract.id,
        user_id=lender.user_id,
        method=ConsentMethod.BID_CONFIRMATION,
        client_ip="10.0.0.1",
        reference="bid:1",
    )
    again = await record_consent(
        contract_id=contract.id,
        user_id=lender.user_id,
        method=ConsentMethod.BID_CONFIRMATION,
        client_ip="10.0.0.9",
        reference="bid:1",
    )
    assert again.id == first.id

    with pytest.raises(DomainError) as refused:
        await record_consent(
            contract_id=contract.id,
            user_id=data.borrower.user_id,
            method=ConsentMethod.BID_CONFIRMATION,
            client_ip="10.0.0.1",
            reference="bid:x",
        )
    assert refused.value.code == "METHOD_NOT_ALLOWED"
    outsider, _phone = await create_member()
    with pytest.raises(NotFoundError):
        await record_consent(
            contract_id=contract.id,
            user_id=outsider.id,
            method=ConsentMethod.SMS_CODE,
            client_ip="10.0.0.1",
            reference="",
        )
    assert await ContractConsent.filter(contract_id=contract.id).count() == 1


async def test_verification_by_file_and_hash_and_a_changed_byte_fails():
    contract, _data = await _signed_contract()
    document = await _document(contract)

    by_file = await verify_document(data=document)
    by_hash = await verify_document(sha256=contract.sha256.upper())
    assert by_file.valid
    assert by_hash.valid
    assert by_file.contract is not None
    assert by_file.contract.id == contract.id
    assert [(s.role, s.method) for s in by_file.signers] == [
        (PartyRole.LENDER, ConsentMethod.BID_CONFIRMATION)
    ] * 3 + [(PartyRole.BORROWER, ConsentMethod.SMS_CODE)]
    assert [s.name_masked for s in by_file.signers] == [*LENDER_NAMES, BORROWER_NAME]

    changed = bytearray(document)
    changed[len(changed) // 2] ^= 0x01
    assert (await verify_document(data=bytes(changed))).valid is False
    assert (await verify_document(sha256="0" * 64)).valid is False
    with pytest.raises(InvalidInputError):
        await verify_document(sha256="not-a-hash")
    with pytest.raises(InvalidInputError):
        await verify_document()


async def test_an_unsigned_or_forged_record_does_not_verify():
    data = await full_loan_data(loan_id=24)
    draft = await create_loan_contract(data)
    assert (await verify_document(data=await _document(draft))).valid is False

    contract, _ = await _signed_contract(loan_id=25)
    await Contract.filter(id=contract.id).update(number="LB-LOAN-20000101-999999")
    assert (await verify_document(sha256=contract.sha256)).valid is False


async def test_retention_follows_the_parameter_and_a_late_end():
    staff, _phone = await create_staff("admin")
    await parameters.set_value(
        Actor(user_id=staff.id, kind="staff"),
        "contracts.retention",
        {"years": 8},
        "longer retention policy",
    )
    contract, _data = await _signed_contract(loan_id=26)
    assert contract.retain_until == date(2035, 11, 29)

    assert await extend_retention(loan_id=26, ended_on=date(2028, 3, 1)) == 1
    assert (await Contract.get(id=contract.id)).retain_until == date(2036, 3, 1)
    assert await extend_retention(loan_id=26, ended_on=date(2027, 1, 1)) == 0  # never shorter


# --- archive and access --------------------------------------------------------------------


async def test_only_parties_and_permitted_staff_see_a_contract(storage):
    data = await full_loan_data(loan_id=31)
    contract = await create_loan_contract(data)
    lender = Actor(user_id=data.lenders[1].user_id, kind="member")
    outsider_user, _phone = await create_member()
    outsider = Actor(user_id=outsider_user.id, kind="member")
    staff = await _staff()

    assert (await access.get_contract(actor=lender, contract_id=contract.id)).id == contract.id
    _row, document = await access.read_document(actor=staff, contract_id=contract.id)
    assert hashlib.sha256(document).hexdigest() == contract.sha256
    with pytest.raises(NotFoundError):
        await access.get_contract(actor=outsider, contract_id=contract.id)
    with pytest.raises(NotFoundError):
        await access.read_document(actor=outsider, contract_id=contract.id)
    assert (await access.list_contracts(actor=outsider, first=10)).total == 0
    assert [c.id for c in (await access.list_contracts(actor=lender, first=10)).rows] == [
        contract.id
    ]

    # A changed archive is refused rather than served.
    [path] = _stored_files(storage)
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(access.ContractIntegrityError):
        await access.read_document(actor=lender, contract_id=contract.id)


# --- templates ------------------------------------------------------------------------------


async def test_a_new_template_version_is_used_by_new_contracts_only():
    old = await create_loan_contract(await full_loan_data(loan_id=41))
    admin, _phone = await create_staff("admin")
    title, body = templates.default_template(ContractKind.LOAN)

    published = await templates.publish(
        actor=Actor(user_id=admin.id, kind="staff"),
        kind=ContractKind.LOAN,
        title="借款协议 Loan Agreement v2",
        body=body.replace("# 借款合同 Loan Agreement", "# 借款协议 Loan Agreement v2"),
    )
    new = await create_loan_contract(await full_loan_data(loan_id=42))

    assert (published.version, new.template_version, new.title) == (
        2,
        2,
        "借款协议 Loan Agreement v2",
    )
    assert (await Contract.get(id=old.id)).template_version == 1
    assert "Loan Agreement v2" in pdf_text(await _document(new))
    assert "Loan Agreement v2" not in pdf_text(await _document(old))
    assert title == "借款合同 Loan Agreement"
    versions = await templates.list_templates(ContractKind.LOAN)
    assert [v.version for v in versions] == [2, 1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("金额 $amount $bogus", "Unknown placeholder $bogus"),
        ("@schedule", "Unknown table"),
        ("cost $ 5", "A $ must start a placeholder"),
    ],
)
async def test_a_template_with_unknown_names_is_refused(body, message):
    await templates.seed_templates()
    with pytest.raises(InvalidInputError) as refused:
        await templates.publish(actor=STAFF, kind=ContractKind.CLAIM_TRANSFER, title="X", body=body)
    assert message in refused.value.message
    assert refused.value.field == "body"
    assert await ContractTemplate.filter(kind=ContractKind.CLAIM_TRANSFER).count() == 1


# --- e-mail -----------------------------------------------------------------------------------


async def test_the_contract_is_emailed_to_each_party_with_the_pdf_attached():
    data = await full_loan_data(loan_id=51)
    contract = await create_loan_contract(data)
    await approve_email(data.borrower.user_id, "borrower@example.com")
    await approve_email(data.lenders[0].user_id, "lender.one@example.com")
    staff = await _staff()

    with SmtpServer() as server:
        queued = await emails.email_parties(actor=staff, contract_id=contract.id)
        assert [e.recipient_masked for e in queued.emails] == [
            "b***@example.com",
            "l***@example.com",
        ]
        assert [p.user_id for p in queued.skipped] == [
            data.lenders[1].user_id,
            data.lenders[2].user_id,
        ]
        await outbox.dispatch_once()

    assert sorted(m["To"] for m in server.messages) == [
        "borrower@example.com",
        "lender.one@example.com",
    ]
    document = await _document(contract)
    for message in server.messages:
        assert contract.number in message["Subject"]
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == f"{contract.number}.pdf"
        assert attachment.get_content() == document
    rows = await ContractEmail.filter(contract_id=contract.id).order_by("id")
    assert [(r.status, r.attempts, r.last_error) for r in rows] == [(EmailStatus.SENT, 1, "")] * 2


async def test_a_refused_email_is_retried_after_a_backoff_and_sent():
    data = await full_loan_data(loan_id=52)
    contract = await create_loan_contract(data)
    await approve_email(data.borrower.user_id, "borrower@example.com")
    staff = await _staff()

    with SmtpServer(refuse=1) as server:
        await emails.email_parties(actor=staff, contract_id=contract.id)
        await outbox.dispatch_once()
        [failed] = await ContractEmail.filter(contract_id=contract.id)
        assert (failed.status, failed.attempts) == (EmailStatus.FAILED, 1)
        assert "451" in failed.last_error
        assert failed.next_attempt_at is not None
        wait = failed.next_attempt_at - system_now()
        assert timedelta(seconds=50) < wait <= timedelta(minutes=1)
        assert server.messages == []

        # Not due yet: nothing happens; once the backoff has passed, it goes.
        assert await emails.retry_due() == 0
        assert await emails.retry_due(now=system_now() + timedelta(minutes=2)) == 1

    [sent] = await ContractEmail.filter(contract_id=contract.id)
    assert (sent.status, sent.attempts, sent.last_error, sent.next_attempt_at) == (
        EmailStatus.SENT,
        2,
        "",
        None,
    )
    assert len(server.messages) == 1


async def test_an_unreachable_server_is_given_up_after_the_last_attempt():
    data = await full_loan_data(loan_id=53)
    contract = await create_loan_contract(data)
    await approve_email(data.borrower.user_id, "borrower@example.com")
    staff = await _staff()
    mailer.set_mailer(mailer.SmtpMailer(host="127.0.0.1", port=1, timeout=2))
    try:
        [email] = (await emails.email_parties(actor=staff, contract_id=contract.id)).emails
        now = system_now()
        for attempt in range(1, emails.MAX_ATTEMPTS + 1):
            now += timedelta(hours=2)
            assert await emails.attempt(email.id, now=now) == EmailStatus.FAILED
            row = await ContractEmail.get(id=email.id)
            assert row.attempts == attempt
    finally:
        mailer.set_mailer(None)
    assert row.next_attempt_at is None  # given up: staff see it among the FAILED
    assert await emails.attempt(email.id, now=now + timedelta(days=1)) is None
    failed = await emails.list_emails(status=EmailStatus.FAILED, first=10)
    assert [r.id for r in failed.rows] == [email.id]
    assert backoffs() == [1, 2, 4, 8, 16, 32, 60, 60]


def backoffs() -> list[int]:
    return [int(emails.backoff(n).total_seconds() // 60) for n in range(1, 9)]


async def test_the_rate_is_printed_as_a_percentage():
    filled = templates.values(
        ContractKind.LOAN,
        {
            "loan_ref": "L1",
            "amount_fen": 100,
            "start_date": "2026-01-01",
            "end_date": "2026-02-01",
            "annual_rate": "0.0850",
            "term_months": 1,
            "method": "LUMP_SUM",
            "purpose": "p",
            "fees": "f",
            "schedule": [[1, "2026-02-01", 100, 1, 0, 101]],
            "parties": [
                {
                    "role": "BORROWER",
                    "user_id": 1,
                    "name_masked": "周**",
                    "id_masked": "x",
                    "amount_fen": None,
                }
            ],
        },
        "LB-1",
        date(2026, 1, 1),
    )
    assert (filled["rate"], filled["total_repayment"]) == ("8.50%", "1.01")
    assert signatures.signed_payload("ab", "N") == b"sha256:ab:contract:N"
