"""CSV as a stream of bytes for spreadsheet programs: UTF-8 with a byte-order mark (so
Excel and WPS read the Chinese headers as UTF-8, not as the local code page), CRLF line
ends (RFC 4180), one chunk per page of rows, so no export ever holds its whole file.

The callers format their own cells (amounts, rates, dates are domain conventions); this
module only encodes, and neutralises free text a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence

BOM = "\ufeff"
MEDIA_TYPE = "text/csv; charset=utf-8"
#: A cell of free text starting with one of these is a formula to a spreadsheet
#: ("=HYPERLINK(...)" in a memo): such text is sent with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Row = Sequence[str | int]


def text(value: str | None) -> str:
    """Free text (a memo, a name) as a cell that a spreadsheet shows and never runs."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def encode(rows: Sequence[Row], *, first: bool = False) -> bytes:
    """Rows as CSV bytes; with `first`, the byte-order mark before them."""
    out = io.StringIO()
    if first:
        out.write(BOM)
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


async def stream(header: Row, pages: AsyncIterator[Sequence[Row]]) -> AsyncIterator[bytes]:
    """The file as chunks: the BOM and the header with the first page, then a chunk
    per page. The first chunk is read before this returns, so a failure of the first
    query is raised to the caller (who can still answer with an error status) rather
    than cutting a response already started."""
    nothing: Sequence[Row] = ()
    first = await anext(pages, nothing)
    head = encode([header, *first], first=True)

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        async for page in pages:
            if page:
                yield encode(page)

    return chunks()
