"""The files of a service case (M5.3), through the upload pipeline of
services/kit/uploads.py, as collateral documents go:

- Checked before anything is stored: PDF, JPEG or PNG (the declared type and the bytes
  agree), none empty, at most `MAX_BYTES` each, at most `MAX_FILES` with one message.
  Refusals keep the kit's stable codes (TOO_MANY_FILES, FILE_TYPE_NOT_ACCEPTED,
  FILE_TOO_LARGE) on the field `attachments`.
- Stored under new keys, hashed (SHA-256) and signed over
  "<sha256>:<size>:case:<case id>:<uploader id>" in the transaction that records the
  message (`record`); if it fails, the stored files are removed again.
- `check` tells a changed file or record from one that still holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from models.cases import CaseAttachment
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
            storage_key=upload.storage_key,
            filename=upload.filename,
            content_type=upload.content_type,
            size=upload.size,
            sha256=upload.sha256,
            signature=upload.sign("case", case_id, uploader_id),
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
    return await uploads.verify(
        storage_key=row.storage_key,
        size=row.size,
        sha256=row.sha256,
        signature=row.signature,
        context=_context(row),
    )
