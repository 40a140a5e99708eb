"""E-signature (M3.6): each party's consent, the platform's signature, verification.

A consent records who agreed to the document with which SHA-256, when (business clock),
from which address and how: `SMS_CODE` (a one-time code bound to the contract and its
hash, any party), `BID_CONFIRMATION` (a lender's SMS-confirmed bid, recorded by the
loans code), `PURCHASE_CONFIRMATION` (a buyer's SMS-confirmed purchase of a claim) or
`LISTING` (the seller listed the claim on the terms sold), the last two recorded by the
secondary market's code (services/transfers/contracting.py). When the last party has
consented, in the same transaction, the platform signs "sha256:<hex>:contract:<number>"
with its Ed25519 key (services/kit/signing), the contract becomes SIGNED and its
retention date is set (R6). Anyone can then check a file or a hash with `verify_document`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from tortoise.transactions import in_transaction

from models.contracts import (
    ConsentMethod,
    Contract,
    ContractConsent,
    ContractKind,
    ContractParty,
    ContractStatus,
    PartyRole,
)
from models.members import User
from models.messaging import SmsPurpose
from services.contracts.policy import RETENTION
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity import sms_codes
from services.identity.permissions import Actor
from services.kit import signing
from services.kit.security import decrypt_pii
from services.platform import clock, notifier, outbox, parameters
from services.platform.retention import add_months

_HEX64 = re.compile(r"[0-9a-f]{64}")


def signed_payload(sha256: str, number: str) -> bytes:
    """What the platform signs: the document's hash bound to the contract number."""
    return f"sha256:{sha256}:contract:{number}".encode()


def sms_binding(contract: Contract) -> str:
    """An SMS code for signing confirms this contract with this document only."""
    return f"contract:{contract.id}:{contract.sha256}"


async def retention_date(contract: Contract, signed_on: date) -> date:
    """R6: kept the retention years (a parameter) after the loan ends. The end is taken
    as the later of the contract's end date (maturity) and the signing day; a loan that
    ends later (overdue) extends it through `extend_retention`."""
    years = (await parameters.get(RETENTION)).years
    ends = date.fromisoformat(str(contract.terms.get("end_date") or signed_on.isoformat()))
    return add_months(max(ends, signed_on), 12 * years)


async def _party_of(contract_id: int, user_id: int | None) -> ContractParty:
    party = (
        await ContractParty.get_or_none(contract_id=contract_id, user_id=user_id)
        if user_id is not None
        else None
    )
    if party is None:
        raise NotFoundError("No such contract", field="contractId")
    return party


# The methods only one role may consent by (any party may consent by SMS code).
_METHOD_ROLES = {
    ConsentMethod.BID_CONFIRMATION: PartyRole.LENDER,
    ConsentMethod.PURCHASE_CONFIRMATION: PartyRole.BUYER,
    ConsentMethod.LISTING: PartyRole.SELLER,
    ConsentMethod.POLICY_ISSUE: PartyRole.GUARANTOR,
}


# Called in the consenting transaction (e.g. the loans service disburses a loan once its
# borrower has signed). Each gets the contract and the new consent.
_consent_hooks: list[Callable[[Contract, ContractConsent], Awaitable[None]]] = []


def on_consent(hook: Callable[[Contract, ContractConsent], Awaitable[None]]) -> None:
    _consent_hooks.append(hook)


async def record_consent(
    *,
    contract_id: int,
    user_id: int,
    method: ConsentMethod,
    client_ip: str,
    reference: str,
) -> ContractConsent:
    """Record that a party agrees to the contract's document; sign it once all have.

    Idempotent per party: a second call returns the first consent. `BID_CONFIRMATION`
    is for lenders only, with the confirmed bid as `reference`; `PURCHASE_CONFIRMATION`
    for the buyer, `LISTING` for the seller of a claim transfer.
    Raises NotFoundError (no such contract, or the user is not a party) and
    DomainError(METHOD_NOT_ALLOWED).
    """
    async with in_transaction():
        contract = await Contract.filter(id=contract_id).select_for_update().first()
        if contract is None:
            raise NotFoundError("No such contract", field="contractId")
        party = await _party_of(contract.id, user_id)
        role = _METHOD_ROLES.get(method)
        if role is not None and party.role != role:
            raise DomainError(
                f"Only the {role.lower()} may consent by {method}",
                code="METHOD_NOT_ALLOWED",
                field="method",
            )
        existing = await ContractConsent.get_or_none(contract_id=contract.id, user_id=user_id)
        if existing is not None:
            return existing
        now = await clock.now()
        consent = await ContractConsent.create(
            contract_id=contract.id,
            user_id=user_id,
            role=party.role,
            method=method,
            document_sha256=contract.sha256,
            client_ip=(client_ip or "")[:64],
            reference=(reference or "")[:128],
            created_at=now,
        )
        for hook in _consent_hooks:
            await hook(contract, consent)
        parties = await ContractParty.filter(contract_id=contract.id).count()
        consents = await ContractConsent.filter(contract_id=contract.id).count()
        if consents >= parties:
            await _sign(contract, now)
        elif contract.status == ContractStatus.DRAFT:
            await Contract.filter(id=contract.id).update(status=ContractStatus.SIGNING)
    outbox.wake()
    return consent


async def _sign(contract: Contract, now: datetime) -> None:
    await Contract.filter(id=contract.id).update(
        status=ContractStatus.SIGNED,
        signature=signing.sign(signed_payload(contract.sha256, contract.number)),
        signed_at=now,
        retain_until=await retention_date(contract, now.date()),
    )
    party_ids = await ContractParty.filter(contract_id=contract.id).values_list(
        "user_id", flat=True
    )
    # tortoise types a flat values_list as tuples: these are the user ids.
    for user_id in cast(list[int], party_ids):
        await notifier.notify(
            user=user_id,
            kind="contract",
            title="Contract signed 合同已签署",
            body=f"{contract.title} {contract.number} is signed by every party.",
        )


async def _signing_party(actor: Actor, contract_id: int) -> tuple[Contract, ContractParty]:
    contract = await Contract.get_or_none(id=contract_id)
    if contract is None:
        raise NotFoundError("No such contract", field="contractId")
    party = await _party_of(contract.id, actor.user_id)
    if await ContractConsent.exists(contract_id=contract.id, user_id=actor.user_id):
        raise DomainError("You have already signed this contract", code="ALREADY_SIGNED")
    return contract, party


@dataclass(frozen=True)
class SignatureRequest:
    contract: Contract
    phone_masked: str


async def request_signature(*, actor: Actor, contract_id: int) -> SignatureRequest:
    """Send the caller (a party who has not consented) an SMS code that signs this
    contract's document, and nothing else.

    Raises NotFoundError (not a party), DomainError ALREADY_SIGNED / TOO_SOON.
    """
    contract, _party = await _signing_party(actor, contract_id)
    user = await User.get(id=actor.user_id)
    await sms_codes.issue(
        phone=decrypt_pii(user.phone_cipher),
        purpose=SmsPurpose.CONFIRM_OPERATION,
        binding=sms_binding(contract),
        text=(
            f"[LendBridge] Code {{code}} signs contract {contract.number} "
            f"(SHA-256 {contract.sha256[:12]}...). Do not share it."
        ),
    )
    return SignatureRequest(contract=contract, phone_masked=user.phone_masked)


async def sign(*, actor: Actor, contract_id: int, code: str, client_ip: str) -> Contract:
    """The caller consents with the SMS code from `request_signature`.

    Raises NotFoundError, DomainError ALREADY_SIGNED and the SMS code errors
    (CODE_INVALID, CODE_EXPIRED, CODE_ATTEMPTS_EXCEEDED); nothing is recorded then.
    """
    assert actor.user_id is not None
    contract, _party = await _signing_party(actor, contract_id)
    user = await User.get(id=actor.user_id)
    await sms_codes.verify(
        phone=decrypt_pii(user.phone_cipher),
        purpose=SmsPurpose.CONFIRM_OPERATION,
        code=code,
        binding=sms_binding(contract),
        field="code",
    )
    await record_consent(
        contract_id=contract.id,
        user_id=actor.user_id,
        method=ConsentMethod.SMS_CODE,
        client_ip=client_ip,
        reference=f"SMS code to {user.phone_masked}",
    )
    return await Contract.get(id=contract.id)


async def borrower_signed(loan_id: int) -> bool:
    """Has the borrower consented to the loan's contract, and to every other contract of
    the loan naming them (a guarantee contract)? Disbursement waits for it."""
    contract = await Contract.get_or_none(kind=ContractKind.LOAN, order_key=f"loan:{loan_id}")
    if contract is None:
        return False
    naming = await ContractParty.filter(
        contract__loan_id=loan_id,
        contract__kind__in=[ContractKind.LOAN, ContractKind.GUARANTEE],
        role=PartyRole.BORROWER,
    ).values_list("contract_id", flat=True)
    consented = await ContractConsent.filter(
        contract_id__in=list(naming), role=PartyRole.BORROWER
    ).values_list("contract_id", flat=True)
    return contract.id in set(consented) and set(naming) <= set(consented)


async def extend_retention(*, loan_id: int, ended_on: date) -> int:
    """R6 from the day the loan really ended (the repayments issue calls this when a loan
    is repaid or written off): the signed contracts of the loan are kept the retention
    years after `ended_on` if that is later than their date. Returns how many moved."""
    years = (await parameters.get(RETENTION)).years
    until = add_months(ended_on, 12 * years)
    return await Contract.filter(
        loan_id=loan_id, status=ContractStatus.SIGNED, retain_until__lt=until
    ).update(retain_until=until)


# --- verification (public) ---------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    role: PartyRole
    name_masked: str
    method: ConsentMethod
    at: datetime


@dataclass(frozen=True)
class Verification:
    valid: bool
    sha256: str
    contract: Contract | None = None
    signers: tuple[Signer, ...] = ()


async def verify_document(*, data: bytes | None = None, sha256: str | None = None) -> Verification:
    """Is this file (or this SHA-256) a contract of this platform, unaltered and signed by
    every party and the platform? A single changed byte gives another hash: not valid.

    Raises InvalidInputError unless exactly one of the two is given (a hash as 64 hex
    digits).
    """
    if (data is None) == (sha256 is None):
        raise InvalidInputError("Give either the file or its SHA-256", field="file")
    if data is not None:
        digest = hashlib.sha256(data).hexdigest()
    else:
        digest = (sha256 or "").strip().lower()
        if not _HEX64.fullmatch(digest):
            raise InvalidInputError("A SHA-256 is 64 hexadecimal digits", field="sha256")
    contract = await Contract.filter(sha256=digest, status=ContractStatus.SIGNED).first()
    if contract is None or contract.signature is None:
        return Verification(valid=False, sha256=digest)
    if not signing.verify(signed_payload(digest, contract.number), contract.signature):
        return Verification(valid=False, sha256=digest)
    parties = {
        p.user_id: p
        for p in await ContractParty.filter(contract_id=contract.id).order_by("position")
    }
    consents = await ContractConsent.filter(contract_id=contract.id).order_by("id")
    signers = tuple(
        Signer(
            role=consent.role,
            name_masked=parties[consent.user_id].name_masked,
            method=consent.method,
            at=consent.created_at,
        )
        for consent in consents
        if consent.user_id in parties and consent.document_sha256 == digest
    )
    return Verification(valid=True, sha256=digest, contract=contract, signers=signers)
