"""Who may see a contract and its document (M3.4): its parties, and staff holding
`contracts:read`. Everyone else is told there is no such contract.

The single point where contract rows are scoped to an actor is `_visible`.
"""

from __future__ import annotations

import hashlib

from tortoise.queryset import QuerySet

from models.contracts import Contract, ContractConsent, ContractParty, ContractStatus
from services.contracts.signatures import signed_payload
from services.errors import DomainError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.kit import signing
from services.kit.storage import StoredFileMissingError, get_storage
from services.pages import Page


class ContractIntegrityError(DomainError):
    """The archived document no longer matches the hash (or signature) on record."""

    code = "INTEGRITY"


def _visible(actor: Actor) -> QuerySet[Contract]:
    if actor.user_id is None:
        return Contract.filter(id__in=[])
    if actor.can(Permission.CONTRACTS_READ):
        return Contract.all()
    return Contract.filter(parties__user_id=actor.user_id)


async def list_contracts(
    *, actor: Actor, first: int, before_id: int | None = None
) -> Page[Contract]:
    """The contracts the actor may see, newest first (keyset on id)."""
    query = _visible(actor)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)


async def get_contract(*, actor: Actor, contract_id: int) -> Contract:
    """A contract the actor may see; NotFoundError otherwise (or when there is none)."""
    contract = await _visible(actor).filter(id=contract_id).first()
    if contract is None:
        raise NotFoundError("No such contract", field="contractId")
    return contract


async def parties_of(contract_ids: list[int]) -> dict[int, list[ContractParty]]:
    rows = await ContractParty.filter(contract_id__in=contract_ids).order_by("position")
    grouped: dict[int, list[ContractParty]] = {cid: [] for cid in contract_ids}
    for row in rows:
        grouped[row.contract_id].append(row)
    return grouped


async def consents_of(contract_ids: list[int]) -> dict[int, list[ContractConsent]]:
    rows = await ContractConsent.filter(contract_id__in=contract_ids).order_by("id")
    grouped: dict[int, list[ContractConsent]] = {cid: [] for cid in contract_ids}
    for row in rows:
        grouped[row.contract_id].append(row)
    return grouped


async def archived_document(contract: Contract) -> bytes:
    """The stored PDF, checked against the hash on record (and, once signed, against the
    platform's signature). Raises ContractIntegrityError when either fails."""
    if contract.status == ContractStatus.SIGNED and not (
        contract.signature
        and signing.verify(signed_payload(contract.sha256, contract.number), contract.signature)
    ):
        raise ContractIntegrityError("The contract record no longer matches its signature")
    try:
        document = await get_storage().get(contract.storage_key)
    except StoredFileMissingError as error:
        raise ContractIntegrityError("The archived document is missing") from error
    if len(document) != contract.size or hashlib.sha256(document).hexdigest() != contract.sha256:
        raise ContractIntegrityError("The archived document has changed")
    return document


async def read_document(*, actor: Actor, contract_id: int) -> tuple[Contract, bytes]:
    """The PDF for printing, for a party or staff with contracts:read, checked first.

    Raises NotFoundError (anyone else) and ContractIntegrityError.
    """
    contract = await get_contract(actor=actor, contract_id=contract_id)
    return contract, await archived_document(contract)
