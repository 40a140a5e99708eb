"""Collateral documents (issue 21, M8.1-M8.2): an item's files and a valuation's report.

Through the upload pipeline of services/kit/uploads.py, as verification materials:

- Checked before anything is stored: PDF, JPEG or PNG (the declared type and the bytes
  agree), none empty, at most `MAX_BYTES` each, at most `MAX_DOCUMENTS` with an item, one
  report with a valuation. Refusals keep the kit's stable codes (TOO_MANY_FILES,
  FILE_TYPE_NOT_ACCEPTED, FILE_TOO_LARGE) on the field `documents` or `report`.
- Stored under new keys, hashed (SHA-256) and signed over
  "<sha256>:<size>:collateral:<item id>:<uploader id>" in the transaction that records
  the item or the valuation (`record`); if it fails, the stored files are removed again.
- `check` tells a changed file (hash) from a changed record (signature) or a missing
  one; `read_document` serves the bytes only while they check, and only to those who
  may see the item's loan (services/collateral/access.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from models.collateral import CollateralDocument
from models.loans import Loan
from services.collateral import access
from services.errors import NotFoundError
from services.identity.permissions import Actor
from services.kit import uploads
from services.kit.uploads import MB, IntegrityProblem, StoredUpload, UploadedFile

TYPES = ("application/pdf", "image/jpeg", "image/png")
MAX_BYTES = 10 * MB
MAX_DOCUMENTS = 6  # 6 x 10 MB fits the 64 MB multipart body (UPLOAD_MAX_BODY_BYTES)


def clean_documents(files: Sequence[UploadedFile]) -> list[UploadedFile]:
    """An item's files as they will be stored, or UploadRefusedError on `documents`."""
    return uploads.clean_files(
        files,
        types=TYPES,
        max_bytes=MAX_BYTES,
        least=0,
        most=MAX_DOCUMENTS,
        field="documents",
        label="Documents",
    )


def clean_report(report: UploadedFile | None) -> list[UploadedFile]:
    """A valuation's report (none or one) as it will be stored, or UploadRefusedError on
    `report`."""
    return uploads.clean_files(
        [] if report is None else [report],
        types=TYPES,
        max_bytes=MAX_BYTES,
        least=0,
        most=1,
        field="report",
        label="Report",
    )


def _context(document: CollateralDocument) -> tuple[object, ...]:
    return ("collateral", document.item_id, document.uploaded_by)


async def record(
    stored: Sequence[StoredUpload],
    *,
    item_id: int,
    uploader_id: int,
    at: datetime,
    valuation_id: int | None = None,
) -> list[CollateralDocument]:
    """Write the stored files' records, signed; in the caller's transaction."""
    return [
        await CollateralDocument.create(
            item_id=item_id,
            valuation_id=valuation_id,
            **upload.signed_fields("collateral", item_id, uploader_id),
            uploaded_by=uploader_id,
            created_at=at,
        )
        for upload in stored
    ]


async def of_loan(loan_id: int) -> list[CollateralDocument]:
    """Every document of the loan's items, in the order received (one statement)."""
    return await CollateralDocument.filter(item__loan_id=loan_id).order_by("id")


async def of_item(item_id: int) -> list[CollateralDocument]:
    """The item's own documents (not its valuations' reports), in the order received."""
    return await CollateralDocument.filter(item_id=item_id, valuation_id=None).order_by("id")


async def check(document: CollateralDocument) -> IntegrityProblem | None:
    """None while the record holds its signature and the stored file its hash."""
    return await uploads.verify(document, _context(document))


async def get_document(actor: Actor, document_id: int) -> CollateralDocument:
    """A document's record for those who may see its item's loan; NotFoundError for
    anyone else (or no such document)."""
    row = await CollateralDocument.get_or_none(id=document_id).prefetch_related("item")
    if row is None:
        raise NotFoundError("No such document", field="id")
    loan = await Loan.get(id=row.item.loan_id)
    if not await access.may_see(actor, loan):
        raise NotFoundError("No such document", field="id")
    return row


async def read_document(actor: Actor, document_id: int) -> tuple[CollateralDocument, bytes]:
    """The document and its bytes, for those who may see it (else NotFoundError), once
    they still match what was signed at receipt (else StoredFileIntegrityError)."""
    row = await get_document(actor, document_id)
    data = await uploads.read_verified(row, _context(row))
    return row, data
