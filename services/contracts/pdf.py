"""The contract document as a PDF (M3.4), aiming at PDF/A-2b.

Noto Sans SC Regular (`fonts`: from the font package, instanced once from its variable
font) carries the Chinese, the English and the digits; reportlab embeds the subset of
glyphs the document uses with a ToUnicode map, so every viewer draws the same glyphs
and copying gives the text back. `pdfa` adds the XMP metadata and the sRGB output
intent. Invariant mode fixes the creation date and document id, so the same elements
give the same bytes: the hash the parties consent to depends on the content only.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from services.contracts import pdfa
from services.contracts.templates import Element
from services.kit import fonts

FONT = fonts.FONT_NAME
AUTHOR = "LendBridge"
# reportlab reads a TrueType font's glyphs through one shared file position: one
# document at a time (a contract takes tens of milliseconds).
_render_lock = threading.Lock()

# Every font reportlab would default to (bullets, table cells) is set to ours: PDF/A
# wants every font embedded, and the standard 14 never are.
_BASE = ParagraphStyle("base", fontName=FONT, bulletFontName=FONT)
_BODY = ParagraphStyle("body", _BASE, fontSize=10, leading=15, wordWrap="CJK")
_HEADING = ParagraphStyle("heading", _BASE, fontSize=16, leading=22, alignment=1, spaceAfter=6)
_CELL = ParagraphStyle("cell", _BASE, fontSize=8.5, leading=11, wordWrap="CJK")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table(rows: Sequence[Sequence[str]], width: float) -> Table:
    columns = len(rows[0])
    cells = [[Paragraph(_escape(cell), _CELL) for cell in row] for row in rows]
    table = Table(cells, colWidths=[width / columns] * columns, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEEEEE")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _build(title: str, number: str, elements: Sequence[Element]) -> bytes:
    fonts.register()
    with _render_lock:
        return _layout(title, number, elements)


def _layout(title: str, number: str, elements: Sequence[Element]) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title,
        author=AUTHOR,
        creator=AUTHOR,
        producer=AUTHOR,
        subject=number,
        keywords=number,
        invariant=1,
        initialFontName=FONT,  # not Helvetica, which nobody embeds
    )
    story: list[Flowable] = []
    for element in elements:
        if element.kind == "heading":
            story.append(Paragraph(_escape(element.text), _HEADING))
        elif element.kind == "table":
            story.append(_table(element.rows, document.width))
            story.append(Spacer(1, 4 * mm))
        else:
            story.append(Paragraph(_escape(element.text), _BODY))
            story.append(Spacer(1, 2 * mm))

    def footer(canvas: Any, doc: Any) -> None:
        pdfa.mark(canvas, title=title, author=AUTHOR, subject=number, keywords=number, tool=AUTHOR)
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.drawCentredString(A4[0] / 2, 10 * mm, f"{number}  第 {doc.page} 页 Page {doc.page}")
        canvas.restoreState()

    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def render(title: str, number: str, elements: Sequence[Element]) -> bytes:
    """The PDF bytes, the same for the same input."""
    return _build(title, number, elements)


async def render_async(title: str, number: str, elements: Sequence[Element]) -> bytes:
    """`render` in a worker thread: a long schedule takes tens of milliseconds."""
    return await anyio.to_thread.run_sync(_build, title, number, list(elements))


async def prepare() -> None:
    """Make the contract font ready (in a worker thread). The first time on a machine
    (per font package version) it instances the variable font, which takes seconds:
    call it before opening a transaction that will render a contract."""
    await anyio.to_thread.run_sync(fonts.register)
