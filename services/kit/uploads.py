"""Uploaded files: checked, stored, hashed and signed when they arrive; verified later.

The generic half of every upload (verification materials, collateral documents):

- `clean_files`: how many, which types (the declared content type *and* the bytes' magic
  number must agree, so an empty file is never of an accepted type), none too large,
  names made safe. Refusals are
  `UploadRefusedError` with a stable code (`UploadProblem`) and the input field; nothing
  has been stored yet.
- `store`: puts the files in storage under new keys, hashes them (SHA-256), and removes
  them again if the caller's block raises (its transaction rolled back), so a refusal or
  a failure never leaves a stored file without its record.
- `StoredUpload.sign`: the platform's signature over "<sha256>:<size>:<context...>", the
  context naming what the file belongs to and who uploaded it, so that a changed file
  (its hash no longer matches) and a changed record (the signature no longer holds) are
  both detectable by `verify` (or `read_verified`, which serves the bytes only then).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from services.errors import DomainError, InvalidInputError
from services.kit import signing
from services.kit.storage import StoredFileMissingError, get_storage

# (filename, content type, bytes) as received.
UploadedFile = tuple[str, str, bytes]

MB = 1024 * 1024
_CONTENT_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


class UploadProblem(StrEnum):
    """Why files were refused; the value is the error's stable code."""

    TOO_FEW_FILES = "TOO_FEW_FILES"
    TOO_MANY_FILES = "TOO_MANY_FILES"
    FILE_TYPE_NOT_ACCEPTED = "FILE_TYPE_NOT_ACCEPTED"  # type not allowed, or bytes not of it
    FILE_TOO_LARGE = "FILE_TOO_LARGE"


class UploadRefusedError(InvalidInputError):
    """Files refused before anything was stored; `code` is the problem's value."""

    def __init__(self, message: str, *, problem: UploadProblem, field: str) -> None:
        super().__init__(message, code=problem.value, field=field)
        self.problem = problem


class IntegrityProblem(StrEnum):
    FILE_CHANGED = "FILE_CHANGED"  # the stored bytes no longer match the signed hash
    RECORD_CHANGED = "RECORD_CHANGED"  # the record no longer matches its signature
    MISSING_FILE = "MISSING_FILE"  # nothing stored under the record's key


def looks_like(content_type: str, data: bytes) -> bool:
    """The bytes are what the declared type says (magic numbers)."""
    if content_type == "image/jpeg":
        return data.startswith(b"\xff\xd8\xff")
    if content_type == "image/png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if content_type == "application/pdf":
        return data.startswith(b"%PDF-")
    if content_type in ("video/mp4", "video/quicktime"):
        return data[4:8] == b"ftyp"
    if content_type == "video/webm":
        return data.startswith(b"\x1a\x45\xdf\xa3")
    return False


def clean_filename(name: str) -> str:
    """The last path segment, printable characters only, at most 255 ("file" if none)."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(c for c in base if c.isprintable()).strip()
    return base[-255:] or "file"


def clean_files(
    files: Sequence[UploadedFile],
    *,
    types: Collection[str],
    max_bytes: int,
    least: int,
    most: int,
    field: str,
    label: str,
) -> list[UploadedFile]:
    """The files with safe names and canonical content types, or UploadRefusedError on
    `field`: fewer than `least` or more than `most` (messages start with `label`), a type
    not in `types` or bytes not of the declared type (an empty file among them: every
    type `looks_like` knows has a magic number), one over `max_bytes`. Checked in that
    order, the count first."""
    if len(files) < least:
        raise UploadRefusedError(
            f"{label}: at least {least} file(s)", problem=UploadProblem.TOO_FEW_FILES, field=field
        )
    if len(files) > most:
        raise UploadRefusedError(
            f"{label}: at most {most} file(s)", problem=UploadProblem.TOO_MANY_FILES, field=field
        )
    cleaned: list[UploadedFile] = []
    for filename, content_type, data in files:
        declared = (content_type or "").split(";")[0].strip().lower()
        declared = _CONTENT_ALIASES.get(declared, declared)
        name = clean_filename(filename)
        if declared not in types or not looks_like(declared, data):
            raise UploadRefusedError(
                f"{name}: only {', '.join(types)} files are accepted",
                problem=UploadProblem.FILE_TYPE_NOT_ACCEPTED,
                field=field,
            )
        if len(data) > max_bytes:
            raise UploadRefusedError(
                f"{name} is larger than {max_bytes // MB} MB",
                problem=UploadProblem.FILE_TOO_LARGE,
                field=field,
            )
        cleaned.append((name, declared, data))
    return cleaned


def signed_payload(sha256: str, size: int, *context: object) -> bytes:
    """What the platform signs for a file: "<sha256>:<size>:<context, ':'-joined>"."""
    return ":".join([sha256, str(size), *(str(part) for part in context)]).encode()


@dataclass(frozen=True)
class StoredUpload:
    """A file in storage, not yet recorded: what its record holds."""

    storage_key: str
    filename: str
    content_type: str
    size: int
    sha256: str

    def sign(self, *context: object) -> str:
        """The platform's signature over this file's hash, size and `context`."""
        return signing.sign(signed_payload(self.sha256, self.size, *context))

    def signed_fields(self, *context: object) -> dict[str, Any]:
        """What every file record stores of it: key, name, type, size, hash and the
        signature over `context` (each domain's record adds what the file belongs to)."""
        return {
            "storage_key": self.storage_key,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "signature": self.sign(*context),
        }


@asynccontextmanager
async def store(files: Sequence[UploadedFile]) -> AsyncIterator[list[StoredUpload]]:
    """Store and hash the (cleaned) files; write their records inside the block, in the
    caller's transaction. If the block raises (a refusal, a rollback), every file stored
    here is deleted again and the error goes on."""
    storage = get_storage()
    stored: list[StoredUpload] = []
    try:
        for filename, content_type, data in files:
            key = await storage.put(data)
            digest = hashlib.sha256(data).hexdigest()
            stored.append(StoredUpload(key, filename, content_type, len(data), digest))
        yield stored
    except BaseException:
        for upload in stored:
            await storage.delete(upload.storage_key)
        raise


class StoredFileIntegrityError(DomainError):
    code = "INTEGRITY"

    def __init__(self, problem: IntegrityProblem) -> None:
        super().__init__(f"The stored file fails its integrity check: {problem}")
        self.problem = problem


class FileRecord(Protocol):
    """What a stored file's record holds (credit materials, collateral documents, case
    attachments each have these columns)."""

    storage_key: str
    size: int
    sha256: str
    signature: str


async def read_verified(record: FileRecord, context: Sequence[object]) -> bytes:
    """The stored bytes, once the record still holds its signature (over its hash, size
    and `context`) and the bytes their hash; else StoredFileIntegrityError saying what
    is wrong."""
    if not signing.verify(signed_payload(record.sha256, record.size, *context), record.signature):
        raise StoredFileIntegrityError(IntegrityProblem.RECORD_CHANGED)
    try:
        data = await get_storage().get(record.storage_key)
    except StoredFileMissingError:
        raise StoredFileIntegrityError(IntegrityProblem.MISSING_FILE) from None
    if len(data) != record.size or hashlib.sha256(data).hexdigest() != record.sha256:
        raise StoredFileIntegrityError(IntegrityProblem.FILE_CHANGED)
    return data


async def verify(record: FileRecord, context: Sequence[object]) -> IntegrityProblem | None:
    """None when the record still holds its signature and the stored bytes their hash;
    else what is wrong (see `read_verified`)."""
    try:
        await read_verified(record, context)
    except StoredFileIntegrityError as error:
        return error.problem
    return None
