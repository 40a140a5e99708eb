"""Verification materials (M1.2, M2.1-M2.3, D4, R6): what a member submits for a kind.

A submission is checked against the catalogue before anything is stored (unknown kind,
missing or malformed field, too many, too large or wrongly typed files: INVALID with
the field at fault). Personal values are encrypted with PII_KEY and kept with a masked
copy, the only form that ever leaves the service. Each file is stored under a new key,
hashed (SHA-256) and signed by the platform over "<sha256>:<size>:<submission id>:<user
id>" when it arrives, so `verify_material` can later tell a changed file from a changed
record. The rows are written in one transaction, and the stored files are removed again
if it fails. The file half (checks, storage, hash, signature, verification) is
services/kit/uploads.py; a refusal of the files is INVALID here, as it always was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from tortoise.transactions import in_transaction

from models.credit import MaterialFile, VerificationSubmission
from services.credit.catalogue import FieldFormat, FieldSpec, VerificationKind, get_kind
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.kit import uploads
from services.kit.security import encrypt_pii, mask_email, mask_phone
from services.kit.storage import get_storage
from services.money.money import format_money, parse_money

# (filename, content type, bytes) as received.
UploadedFile = uploads.UploadedFile

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_PHONE = re.compile(r"1[3-9]\d{9}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_NUMBER = re.compile(r"[0-9A-Za-z-]{4,40}")
MaterialProblem = uploads.IntegrityProblem  # FILE_CHANGED, RECORD_CHANGED, MISSING_FILE


@dataclass(frozen=True)
class MaterialReport:
    file_id: int
    valid: bool
    problem: MaterialProblem | None


@dataclass(frozen=True)
class FieldView:
    name: str
    value: str  # masked when personal
    personal: bool


# --- checks --------------------------------------------------------------------------


def _id_number_ok(value: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


def _clean_value(spec: FieldSpec, raw: str) -> str:
    value = (raw or "").strip()
    if len(value) > spec.max_length:
        raise InvalidInputError(
            f"{spec.label}: at most {spec.max_length} characters", field=spec.name
        )
    match spec.format:
        case FieldFormat.ID_NUMBER:
            value = value.upper()
            ok = _id_number_ok(value)
        case FieldFormat.PHONE:
            ok = bool(_PHONE.fullmatch(value))
        case FieldFormat.EMAIL:
            ok = bool(_EMAIL.fullmatch(value))
        case FieldFormat.NUMBER:
            ok = bool(_NUMBER.fullmatch(value))
        case FieldFormat.DATE:
            try:
                date.fromisoformat(value)
                ok = len(value) == 10
            except ValueError:
                ok = False
        case FieldFormat.CONSENT:
            value = value.lower()
            ok = value == "yes"
        case FieldFormat.MONEY:
            try:
                value = format_money(parse_money(value, field=spec.name))
                ok = True
            except InvalidInputError:
                ok = False
        case _:
            ok = bool(value)
    if not ok:
        raise InvalidInputError(f"{spec.label}: not a valid value", field=spec.name)
    return value


def mask(spec: FieldSpec, value: str) -> str:
    """The only form of a personal value that leaves the service."""
    match spec.format:
        case FieldFormat.ID_NUMBER:
            return f"{value[:3]}***********{value[-4:]}"
        case FieldFormat.PHONE:
            return mask_phone(value)
        case FieldFormat.EMAIL:
            return mask_email(value)
        case FieldFormat.NUMBER:
            return f"****{value[-4:]}" if len(value) > 6 else "****"
        case FieldFormat.NAME:
            return value[:1] + "*" * max(len(value) - 1, 1)
        case _:
            return f"{value[:3]}****" if len(value) > 6 else "****"


def _clean_fields(kind: VerificationKind, raw: dict[str, str]) -> dict[str, dict[str, str]]:
    unknown = sorted(set(raw) - {spec.name for spec in kind.fields})
    if unknown:
        raise InvalidInputError(f"{kind.code} has no field {unknown[0]}", field=unknown[0])
    stored: dict[str, dict[str, str]] = {}
    for spec in kind.fields:
        given = (raw.get(spec.name) or "").strip()
        if not given:
            if spec.required:
                raise InvalidInputError(f"{spec.label} is required", field=spec.name)
            continue
        value = _clean_value(spec, given)
        if spec.personal:
            stored[spec.name] = {"cipher": encrypt_pii(value), "masked": mask(spec, value)}
        else:
            stored[spec.name] = {"value": value}
    return stored


def _clean_files(kind: VerificationKind, files: Sequence[UploadedFile]) -> list[UploadedFile]:
    try:
        return uploads.clean_files(
            files,
            types=kind.file_types,
            max_bytes=kind.max_file_bytes,
            least=kind.min_files,
            most=kind.max_files,
            field="files",
            label=kind.title,
        )
    except uploads.UploadRefusedError as error:
        # submitVerification's published code for every refusal stays INVALID.
        raise InvalidInputError(error.message, field=error.field) from error


# --- operations ----------------------------------------------------------------------


async def submit(
    actor: Actor, kind: str, fields: dict[str, str], files: Sequence[UploadedFile]
) -> VerificationSubmission:
    """Check, store, hash and sign; the submission comes back with its files loaded."""
    if actor.user_id is None:
        raise NotFoundError("Log in first")
    spec = get_kind(kind)
    if spec is None:
        raise InvalidInputError(f"Unknown verification kind {kind!r}", field="kind")
    values = _clean_fields(spec, fields)
    cleaned = _clean_files(spec, files)

    async with uploads.store(cleaned) as stored, in_transaction():
        submission = await VerificationSubmission.create(
            user_id=actor.user_id, kind=spec.code, field_values=values
        )
        for upload in stored:
            await MaterialFile.create(
                submission_id=submission.id,
                **upload.signed_fields(submission.id, actor.user_id),
            )
    await submission.fetch_related("files", "reviews")
    return submission


async def list_for(actor: Actor) -> list[VerificationSubmission]:
    """The caller's own submissions, newest first."""
    if actor.user_id is None:
        return []
    return (
        await VerificationSubmission.filter(user_id=actor.user_id)
        .order_by("-id")
        .prefetch_related("files", "reviews")
    )


async def get(actor: Actor, submission_id: int) -> VerificationSubmission:
    """Own submissions; any with credit:review. Otherwise (or unknown) NotFoundError."""
    row = await VerificationSubmission.get_or_none(id=submission_id).prefetch_related(
        "files", "reviews"
    )
    if row is None or actor.user_id is None:
        raise NotFoundError("No such submission")
    if row.user_id != actor.user_id and not actor.can(Permission.CREDIT_REVIEW):
        raise NotFoundError("No such submission")
    return row


def field_views(row: VerificationSubmission) -> list[FieldView]:
    """The submission's values as they may be shown: personal ones masked."""
    views: list[FieldView] = []
    for name, stored in row.field_values.items():
        if "masked" in stored:
            views.append(FieldView(name=name, value=stored["masked"], personal=True))
        else:
            views.append(FieldView(name=name, value=stored.get("value", ""), personal=False))
    return views


async def verify_material(file_id: int) -> MaterialReport:
    """Does the record still hold its signature, and the stored file its hash?"""
    row = await MaterialFile.get_or_none(id=file_id).prefetch_related("submission")
    if row is None:
        raise NotFoundError("No such file", field="fileId")
    problem = await uploads.verify(row, (row.submission_id, row.submission.user_id))
    return MaterialReport(row.id, problem is None, problem)


async def get_file(actor: Actor, file_id: int) -> MaterialFile:
    """A stored file's record, for its owner or a credit officer; NotFoundError for anyone
    else (or no such file). The single point where material files are scoped to an actor."""
    row = await MaterialFile.get_or_none(id=file_id).prefetch_related("submission")
    if row is None or actor.user_id is None:
        raise NotFoundError("No such file", field="fileId")
    if row.submission.user_id != actor.user_id and not actor.can(Permission.CREDIT_REVIEW):
        raise NotFoundError("No such file", field="fileId")
    return row


async def read_file(actor: Actor, file_id: int) -> tuple[MaterialFile, bytes]:
    """A stored file for its owner or a credit officer, checked against its signed hash
    first. NotFoundError for anyone else (or no such file); MaterialIntegrityError when
    the record or the bytes no longer match what was signed at receipt."""
    row = await get_file(actor, file_id)
    report = await verify_material(file_id)
    if not report.valid:
        assert report.problem is not None
        raise MaterialIntegrityError(report.problem)
    return row, await get_storage().get(row.storage_key)


class MaterialIntegrityError(DomainError):
    code = "INTEGRITY"

    def __init__(self, problem: MaterialProblem) -> None:
        super().__init__(f"The stored material fails its integrity check: {problem}")
        self.problem = problem
