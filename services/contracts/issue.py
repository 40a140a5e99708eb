"""Issuing contracts: order number, template, PDF, archive (M3.1-M3.4).

`create_loan_contract` (and its guarantee and claim-transfer siblings) checks the data,
numbers the order, fills in the kind's newest template, renders the PDF, stores it
through the storage interface and writes the contract with its parties, all or nothing.
Calling it again for the same order returns the contract already made.
"""

from __future__ import annotations

import hashlib
from datetime import date

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.contracts import Contract, ContractKind, ContractParty
from services.contracts import data as contract_data
from services.contracts import pdf, templates
from services.contracts.data import (
    AnyContractData,
    ClaimTransferContractData,
    ContractDataError,
    GuaranteeContractData,
    LoanContractData,
)
from services.kit.db import param
from services.kit.storage import get_storage
from services.platform import clock

NUMBER_PREFIX = {
    ContractKind.LOAN: "LOAN",
    ContractKind.GUARANTEE: "GUAR",
    ContractKind.CLAIM_TRANSFER: "XFER",
}


async def next_number(connection: BaseDBAsyncClient, kind: ContractKind, day: date) -> str:
    """`LB-<KIND>-<yyyymmdd>-<serial>`, the serial counted per kind and day.

    One statement increments the counter (inserting it at 1 the first time), so on
    PostgreSQL concurrent transactions queue on the counter row and never share a serial;
    the number is also unique in `contracts`. Call it inside the transaction that writes
    the contract: a rolled-back contract gives its serial back.
    """
    key = f"{NUMBER_PREFIX[kind]}-{day:%Y%m%d}"
    rows = await connection.execute_query_dict(
        'INSERT INTO contract_counters ("key", "value") VALUES ('
        + param(connection, 1)
        + ', 1) ON CONFLICT ("key") DO UPDATE SET "value" = contract_counters."value" + 1'
        ' RETURNING "value"',
        [key],
    )
    return f"LB-{key}-{int(rows[0]['value']):06d}"


async def _create(data: AnyContractData) -> Contract:
    contract_data.validate(data)
    kind = contract_data.kind_of(data)
    key = contract_data.order_key(data)
    terms = contract_data.terms(data)
    fingerprint = contract_data.fingerprint(terms)
    existing = await Contract.get_or_none(order_key=key)
    if existing is not None:
        return _same_order(existing, fingerprint)
    template = await templates.current(kind)
    await pdf.prepare()  # the font, made once per machine, outside the transaction
    issued_on = await clock.today()
    storage = get_storage()
    stored: str | None = None
    try:
        async with in_transaction() as connection:
            number = await next_number(connection, kind, issued_on)
            elements = templates.fill(
                template.body,
                templates.values(kind, terms, number, issued_on),
                templates.blocks(terms),
            )
            document = await pdf.render_async(template.title, number, elements)
            stored = await storage.put(document)
            contract = await Contract.create(
                number=number,
                kind=kind,
                order_key=key,
                data_sha256=fingerprint,
                loan_id=data.loan_id,
                loan_ref=data.loan_ref,
                template_id=template.id,
                template_version=template.version,
                title=template.title,
                amount_fen=terms["amount_fen"],
                terms=terms,
                storage_key=stored,
                sha256=hashlib.sha256(document).hexdigest(),
                size=len(document),
            )
            await ContractParty.bulk_create(
                [
                    ContractParty(
                        contract_id=contract.id,
                        position=position,
                        role=party.role,
                        user_id=party.user_id,
                        name_masked=party.name_masked,
                        id_masked=party.id_masked,
                        amount_fen=party.amount_fen,
                    )
                    for position, party in enumerate(contract_data.parties(data), start=1)
                ]
            )
    except IntegrityError:
        if stored is not None:
            await storage.delete(stored)
        # Two callers raced for the same order: the other one's contract stands.
        existing = await Contract.get_or_none(order_key=key)
        if existing is None:
            raise
        return _same_order(existing, fingerprint)
    except BaseException:
        if stored is not None:
            await storage.delete(stored)
        raise
    return contract


def _same_order(existing: Contract, fingerprint: str) -> Contract:
    if existing.data_sha256 != fingerprint:
        raise ContractDataError(
            f"Contract {existing.number} already exists for this order with other terms",
            code="CONFLICT",
        )
    return existing


async def create_loan_contract(data: LoanContractData) -> Contract:
    """The loan contract of a full loan (M3.1): one per loan, naming the borrower and
    every lender with the amount lent, the terms and the whole repayment schedule.

    Idempotent per loan: a second call with the same data returns the same contract.
    Raises ContractDataError (INVALID_CONTRACT_DATA with the field at fault: Σ lenders or
    Σ schedule principal differing from the amount, wrong roles, a person twice) and
    ContractDataError(CONFLICT) when the loan already has a contract with other terms.
    """
    return await _create(data)


async def create_guarantee_contract(data: GuaranteeContractData) -> Contract:
    """The guarantee contract of a guarantee order (M3.2): borrower, guarantor, lenders.
    Idempotent per order; raises as `create_loan_contract`."""
    return await _create(data)


async def create_claim_transfer_contract(data: ClaimTransferContractData) -> Contract:
    """The contract of a claim transfer (M3.3): seller and buyer. Idempotent per
    transfer; raises as `create_loan_contract`."""
    return await _create(data)
