"""Files as clients send them (GraphQL multipart request spec): read into what the
upload pipeline takes (services/kit/uploads.py)."""

from __future__ import annotations

from typing import Any

from services.kit.uploads import UploadedFile


async def read_upload(upload: Any) -> UploadedFile:
    """(filename, content type, bytes) of one `Upload` (starlette's UploadFile)."""
    data = await upload.read()
    return (upload.filename or "", upload.content_type or "", data)
