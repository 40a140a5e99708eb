"""Where uploaded files live: a small `Storage` protocol and a local-directory store.

Keys are random (not derived from the content), so two members uploading the same
bytes get two files and one can never affect the other. A key is never reused and a
stored file is never overwritten: it is written to a temporary name and linked into
place, which fails if the name exists.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Protocol

import anyio.to_thread

from services.kit.settings import get_settings


class StoredFileMissingError(Exception):
    """No file under this key."""


class Storage(Protocol):
    async def put(self, data: bytes) -> str:
        """Store the bytes under a new key and return it."""
        ...

    async def get(self, key: str) -> bytes:
        """The stored bytes. StoredFileMissingError when there are none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove a file stored by a transaction that then failed (compensation only)."""
        ...


def _check_key(key: str) -> str:
    if len(key) != 32 or any(c not in "0123456789abcdef" for c in key):
        raise StoredFileMissingError(key)
    return key


class LocalStorage:
    """Files under `root/<first two hex digits>/<key>`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        key = _check_key(key)
        return self.root / key[:2] / key

    def _put(self, data: bytes) -> str:
        while True:
            key = secrets.token_hex(16)
            target = self.path_for(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                try:
                    os.link(temporary, target)  # refuses to replace an existing file
                except FileExistsError:
                    continue
                return key
            finally:
                os.unlink(temporary)

    def _get(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError as error:
            raise StoredFileMissingError(key) from error

    def _delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    async def put(self, data: bytes) -> str:
        return await anyio.to_thread.run_sync(self._put, data)

    async def get(self, key: str) -> bytes:
        return await anyio.to_thread.run_sync(self._get, key)

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self._delete, key)


_override: Storage | None = None


def get_storage() -> Storage:
    """The configured store (STORAGE_DIR), unless a test installed another."""
    return _override or LocalStorage(get_settings().storage_dir)


def set_storage(storage: Storage | None) -> None:
    global _override
    _override = storage
