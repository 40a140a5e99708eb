"""Contracts: listing, signing, verifying, e-mailing, templates (M3)."""

from __future__ import annotations

from typing import Any, cast

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types import Info

from models.contracts import Contract, ContractConsent, ContractEmail, EmailStatus
from models.contracts import ContractKind as ModelKind
from models.contracts import ContractParty as PartyRow
from models.contracts import ContractTemplate as TemplateRow
from schema.errors import BadUserInputError
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.scalars import Money
from schema.types import contracts as t
from services.contracts import access, emails, signatures, templates
from services.errors import DomainError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.kit import signing


def _contract_id(value: strawberry.ID) -> int:
    try:
        number = int(value)
    except ValueError as error:
        raise NotFoundError("No such contract", field="contractId") from error
    if number <= 0:
        raise NotFoundError("No such contract", field="contractId")
    return number


def _party(row: PartyRow, consent: ContractConsent | None, actor: Actor) -> t.ContractParty:
    sees_address = actor.can(Permission.CONTRACTS_READ) or row.user_id == actor.user_id
    return t.ContractParty(
        role=t.ContractPartyRole(row.role.value),
        name_masked=row.name_masked,
        id_masked=row.id_masked,
        amount=Money(row.amount_fen) if row.amount_fen is not None else None,
        signed_at=consent.created_at if consent else None,
        method=t.ConsentMethod(consent.method.value) if consent else None,
        client_ip=consent.client_ip if consent and sees_address else None,
    )


async def _contracts(rows: list[Contract], actor: Actor) -> list[t.Contract]:
    ids = [row.id for row in rows]
    parties = await access.parties_of(ids)
    consents = await access.consents_of(ids)
    shaped = []
    for row in rows:
        by_user = {c.user_id: c for c in consents[row.id]}
        shaped.append(
            t.Contract(
                id=strawberry.ID(str(row.id)),
                number=row.number,
                kind=t.ContractKind(row.kind.value),
                status=t.ContractStatus(row.status.value),
                title=row.title,
                template_version=row.template_version,
                loan_ref=row.loan_ref,
                amount=Money(row.amount_fen),
                sha256=row.sha256,
                signature=row.signature,
                signed_at=row.signed_at,
                retain_until=row.retain_until,
                created_at=row.created_at,
                parties=[_party(p, by_user.get(p.user_id), actor) for p in parties[row.id]],
                download_path=f"/contracts/{row.id}.pdf",
            )
        )
    return shaped


async def _one(row: Contract, actor: Actor) -> t.Contract:
    return (await _contracts([row], actor))[0]


async def contracts(
    info: Info, first: int | None = 20, after: str | None = None
) -> Connection[t.Contract]:
    before_id = cursor_key(after)
    actor = await info.context.get_actor()
    size = clamp_first(first)
    page = await access.list_contracts(actor=actor, first=size + 1, before_id=before_id)
    shaped = dict(
        zip((row.id for row in page.rows), await _contracts(page.rows, actor), strict=True)
    )
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=lambda row: shaped[row.id],
    )


async def contract(info: Info, id: strawberry.ID) -> t.Contract | None:
    actor = await info.context.get_actor()
    try:
        row = await access.get_contract(actor=actor, contract_id=_contract_id(id))
    except NotFoundError:
        return None
    return await _one(row, actor)


async def verify_contract(
    file: Upload | None = None, sha256: str | None = None
) -> t.ContractVerification:
    # strawberry's Upload is starlette's UploadFile at run time.
    data = await cast(Any, file).read() if file is not None else None
    try:
        result = await signatures.verify_document(data=data, sha256=sha256)
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    row = result.contract
    return t.ContractVerification(
        valid=result.valid,
        sha256=result.sha256,
        contract_number=row.number if row else None,
        kind=t.ContractKind(row.kind.value) if row else None,
        signed_at=row.signed_at if row else None,
        signature=row.signature if row else None,
        platform_public_key=signing.public_key_b64(),
        signers=[
            t.ContractSigner(
                role=t.ContractPartyRole(s.role.value),
                name_masked=s.name_masked,
                method=t.ConsentMethod(s.method.value),
                at=s.at,
            )
            for s in result.signers
        ],
    )


async def request_contract_signature(
    info: Info, input: t.RequestContractSignatureInput
) -> t.RequestContractSignatureResult:
    actor = await info.context.get_actor()
    try:
        request = await signatures.request_signature(
            actor=actor, contract_id=_contract_id(input.contract_id)
        )
    except DomainError as error:
        return t.RequestContractSignatureError.from_domain(error)
    return t.ContractSignatureRequested(
        contract=await _one(request.contract, actor), phone=request.phone_masked
    )


async def sign_contract(info: Info, input: t.SignContractInput) -> t.SignContractResult:
    actor = await info.context.get_actor()
    try:
        row = await signatures.sign(
            actor=actor,
            contract_id=_contract_id(input.contract_id),
            code=input.code,
            client_ip=info.context.client_ip,
        )
    except DomainError as error:
        return t.SignContractError.from_domain(error)
    return t.ContractSigned(contract=await _one(row, actor))


def _email(row: ContractEmail) -> t.ContractEmail:
    return t.ContractEmail(
        id=strawberry.ID(str(row.id)),
        contract_id=strawberry.ID(str(row.contract_id)),
        recipient=row.recipient_masked,
        status=t.ContractEmailStatus(row.status.value),
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        created_at=row.created_at,
    )


async def email_contract(info: Info, input: t.EmailContractInput) -> t.EmailContractResult:
    actor = await info.context.get_actor()
    try:
        queued = await emails.email_parties(
            actor=actor, contract_id=_contract_id(input.contract_id)
        )
    except DomainError as error:
        return t.EmailContractError.from_domain(error)
    return t.ContractEmailed(
        emails=[_email(row) for row in queued.emails],
        skipped=[_party(row, None, actor) for row in queued.skipped],
    )


async def contract_emails(
    info: Info,
    status: t.ContractEmailStatus | None = None,
    first: int | None = 20,
    after: str | None = None,
) -> Connection[t.ContractEmail]:
    before_id = cursor_key(after)
    size = clamp_first(first)
    page = await emails.list_emails(
        status=EmailStatus(status.value) if status else None, first=size + 1, before_id=before_id
    )
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=_email,
    )


def _template(row: TemplateRow) -> t.ContractTemplate:
    return t.ContractTemplate(
        id=strawberry.ID(str(row.id)),
        kind=t.ContractKind(row.kind.value),
        version=row.version,
        title=row.title,
        body=row.body,
        placeholders=sorted(templates.PLACEHOLDERS[row.kind]),
        tables=sorted(templates.BLOCKS[row.kind]),
        created_at=row.created_at,
    )


async def contract_templates(kind: t.ContractKind | None = None) -> list[t.ContractTemplate]:
    rows = await templates.list_templates(ModelKind(kind.value) if kind else None)
    return [_template(row) for row in rows]


async def publish_contract_template(
    info: Info, input: t.PublishContractTemplateInput
) -> t.PublishContractTemplateResult:
    try:
        row = await templates.publish(
            actor=await info.context.get_actor(),
            kind=ModelKind(input.kind.value),
            title=input.title,
            body=input.body,
        )
    except DomainError as error:
        return t.PublishContractTemplateError.from_domain(error)
    return t.ContractTemplatePublished(template=_template(row))
