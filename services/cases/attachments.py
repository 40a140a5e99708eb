"""The files of a service case (M5.3), through the upload pipeline of
services/kit/uploads.py, as collateral documents go:

- Checked before anything is stored: PDF, JPEG or PNG (the declared type and the bytes
  agree), none empty, at most `MAX_BYTES` each, at most `MAX_FILES` with one message.
  Refusals keep the kit's stable codes (TOO_MANY_FILES, FILE_TYPE_NOT_ACCEPTED,
  FILE_TOO_LARGE) on the field `attachments`.
- Stored under new keys, hashed (SHA-256) and signed over
  "<sha256>:<size>:case:<case id>:<uploader id>" in the transaction that records the
  message (`record`); if it fails, the stored files are removed again.
- `check` tells a changed file or record from one that still holds; `read_attachment`
  serves the bytes only while they check, and only to those who may see the case (its
  member, case staff): the signed download links' SERVICE_CASE_ATTACHMENT kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from models.cases import CaseAttachment
from services.cases import access
from services.errors import NotFoundError
from services.identity.permissions import Actor
from services.kit import uploads
from services.kit.uploads import MB, IntegrityProblem, StoredUpload, UploadedFile

TYPES = ("application/pdf", "image/jpeg", "image/png")
MAX_BYTES = 10 * MB
MAX_FILES = 5  # 5 x 10 MB fits the 64 MB multipart body (UPLOAD_MAX_BODY_BYTES)


def clean(files: Sequence[UploadedFile]) -> list[UploadedFile]:
    """A message's files as they will be stored, or UploadRefusedError on `attachments`."""
    return uploads.clean_files(
        files,
        types=TYPES,
        max_bytes=MAX_BYTES,
        least=0,
        most=MAX_FILES,
        field="attachments",
        label="Attachments",
    )


def _context(row: CaseAttachment) -> tuple[object, ...]:
    return ("case", row.case_id, row.uploaded_by)


async def record(
    stored: Sequence[StoredUpload], *, case_id: int, message_id: int, uploader_id: int, at: datetime
) -> list[CaseAttachment]:
    """Write the stored files' records, signed; in the caller's transaction."""
    return [
        await CaseAttachment.create(
            case_id=case_id,
            message_id=message_id,
            **upload.signed_fields("case", case_id, uploader_id),
            uploaded_by=uploader_id,
            created_at=at,
        )
        for upload in stored
    ]


async def by_message(case_ids: Iterable[int]) -> dict[int, list[CaseAttachment]]:
    """The attachments of the cases, by message, in the order received (one statement)."""
    found: dict[int, list[CaseAttachment]] = defaultdict(list)
    wanted = list(case_ids)
    if not wanted:
        return found
    for row in await CaseAttachment.filter(case_id__in=wanted).order_by("id"):
        found[row.message_id].append(row)
    return found


async def check(row: CaseAttachment) -> IntegrityProblem | None:
    """None while the record holds its signature and the stored file its hash."""
    return await uploads.verify(row, _context(row))


async def get_attachment(actor: Actor, attachment_id: int) -> CaseAttachment:
    """An attachment's record for its case's member and case staff; NotFoundError for
    anyone else (or no such attachment), never telling which."""
    row = await CaseAttachment.get_or_none(id=attachment_id).prefetch_related("case")
    mine = row is not None and access.is_member(actor) and row.case.member_id == actor.user_id
    if row is None or not (mine or access.is_staff(actor)):
        raise NotFoundError("No such attachment", field="id")
    return row


async def read_attachment(actor: Actor, attachment_id: int) -> tuple[CaseAttachment, bytes]:
    """The attachment and its bytes, for those who may see it (else NotFoundError), once
    they still match what was signed at receipt (else StoredFileIntegrityError)."""
    row = await get_attachment(actor, attachment_id)
    data = await uploads.read_verified(row, _context(row))
    return row, data
