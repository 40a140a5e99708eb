"""Verification kinds, submitting materials, a member's submissions, checking a file."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from models.credit import MaterialFile, VerificationSubmission
from schema.errors import BadUserInputError
from schema.types import credit as t
from services.credit import materials
from services.credit.catalogue import KINDS
from services.errors import DomainError, InvalidInputError


def verification_kinds() -> list[t.VerificationKindType]:
    return [
        t.VerificationKindType(
            code=kind.code,
            tier=t.VerificationTier(kind.tier.value),
            title=kind.title,
            fields=[
                t.VerificationFieldSpec(
                    name=spec.name,
                    label=spec.label,
                    required=spec.required,
                    personal=spec.personal,
                    format=spec.format.value,
                )
                for spec in kind.fields
            ],
            file_types=list(kind.file_types),
            min_files=kind.min_files,
            max_files=kind.max_files,
            max_file_bytes=kind.max_file_bytes,
            score=kind.score,
            required_for_borrowing=kind.required_for_borrowing,
            required_for_lending=kind.required_for_lending,
            external_source=kind.external_source,
        )
        for kind in KINDS
    ]


def _file(row: MaterialFile) -> t.MaterialFileType:
    return t.MaterialFileType(
        id=strawberry.ID(str(row.id)),
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        signature=row.signature,
        created_at=row.created_at,
    )


def _verification(row: VerificationSubmission) -> t.Verification:
    return t.Verification(
        id=strawberry.ID(str(row.id)),
        kind=row.kind,
        status=t.VerificationStatus(row.status.value),
        fields=[
            t.VerificationField(name=view.name, value=view.value, personal=view.personal)
            for view in materials.field_views(row)
        ],
        files=[_file(f) for f in sorted(row.files, key=lambda f: f.id)],
        created_at=row.created_at,
    )


async def _read(upload: Any) -> materials.UploadedFile:
    data = await upload.read()
    return (upload.filename or "", upload.content_type or "", data)


async def submit_verification(
    info: Info, input: t.SubmitVerificationInput
) -> t.SubmitVerificationResult:
    try:
        fields: dict[str, str] = {}
        for item in input.fields:
            if item.name in fields:
                raise InvalidInputError(f"{item.name} is given twice", field=item.name)
            fields[item.name] = item.value
        row = await materials.submit(
            actor=await info.context.get_actor(),
            kind=input.kind,
            fields=fields,
            files=[await _read(upload) for upload in input.files],
        )
    except DomainError as error:
        return t.SubmitVerificationError.from_domain(error)
    return t.VerificationSubmitted(verification=_verification(row))


async def my_verifications(info: Info) -> list[t.Verification]:
    rows = await materials.list_for(await info.context.get_actor())
    return [_verification(row) for row in rows]


async def verify_material(info: Info, file_id: strawberry.ID) -> t.MaterialCheck:
    try:
        report = await materials.verify_material(int(file_id))
    except (ValueError, DomainError) as error:
        raise BadUserInputError("No such file", field="fileId") from error
    return t.MaterialCheck(
        file_id=strawberry.ID(str(report.file_id)),
        valid=report.valid,
        problem=t.MaterialProblem(report.problem.value) if report.problem else None,
    )
