"""Benchmark: the two ways to embed Noto Sans SC Regular in a contract PDF (issue 17).

Run: `.venv/bin/python -m bench.contract_pdf [--documents N]`. No database.

A. what `services/kit/fonts.py` does: instance the whole variable font at wght
   400 once (into a temporary directory here, so the cache in var/ is not touched),
   load it into reportlab once per process, then render each contract;
B. per document: subset the variable font to the document's characters, instance the
   small subset at wght 400, load it into reportlab, render.

The documents are the default loan template filled with a 12-month schedule. Prints one
JSON object with the times in seconds and the number of documents after which A has
paid for its one-off build.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _elements() -> tuple[str, list[Any], str]:
    from models.contracts import ContractKind
    from services.contracts import templates

    title, body = templates.default_template(ContractKind.LOAN)
    filled = dict.fromkeys(templates.PLACEHOLDERS[ContractKind.LOAN], "周** 10000.00")
    header = ("期数 No.", "到期日 Due", "本金 Principal", "利息 Interest", "费用 Fee", "合计 Total")
    lines = [
        (str(n), f"2027-{n:02d}-29", "788.49", "100.00", "30.00", "888.49") for n in range(1, 13)
    ]
    people = (
        ("角色 Role", "名称 Name", "证件号码 ID number", "金额 Amount (CNY)"),
        ("出借人 Lender", "王*", "110***********1234", "3333.33"),
    )
    tables = {"parties": people, "lenders": people, "schedule": (header, *lines)}
    elements = templates.fill(body, filled, tables)
    characters = title + "LB-LOAN-20261203-000001 第 页 Page 0123456789"
    for element in elements:
        characters += element.text + "".join("".join(row) for row in element.rows)
    return title, elements, characters


def _render_with(font_name: str, title: str, elements: list[Any]) -> bytes:
    from services.contracts import pdf

    original = pdf.FONT
    styles = (pdf._BASE, pdf._BODY, pdf._HEADING, pdf._CELL)
    try:
        pdf.FONT = font_name
        for style in styles:
            style.fontName = style.bulletFontName = font_name
        return pdf._layout(title, "LB-LOAN-20261203-000001", elements)
    finally:
        pdf.FONT = original
        for style in styles:
            style.fontName = style.bulletFontName = original


def run(documents: int) -> dict[str, Any]:
    from fontTools import subset  # type: ignore[import-untyped]
    from fontTools.ttLib import TTFont as FontFile  # type: ignore[import-untyped]
    from fontTools.varLib import instancer  # type: ignore[import-untyped]
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from services.kit import fonts

    title, elements, characters = _elements()
    source = fonts.variable_font_path()

    started = time.perf_counter()
    static = Path(tempfile.mkdtemp()) / "static.ttf"
    fonts.make_static_instance(source, static)
    build = time.perf_counter() - started
    started = time.perf_counter()
    pdfmetrics.registerFont(TTFont("BenchStatic", str(static)))
    load = time.perf_counter() - started
    whole = []
    for _ in range(documents):
        started = time.perf_counter()
        _render_with("BenchStatic", title, elements)
        whole.append(time.perf_counter() - started)

    raw = source.read_bytes()
    per_document = []
    for number in range(documents):
        started = time.perf_counter()
        font = FontFile(io.BytesIO(raw), lazy=True)
        options = subset.Options()
        options.layout_features = []
        options.notdef_outline = True
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "STAT"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=characters)
        subsetter.subset(font)
        small = instancer.instantiateVariableFont(font, {"wght": fonts.WEIGHT})
        small.recalcTimestamp = False
        buffer = io.BytesIO()
        small.save(buffer)
        buffer.seek(0)
        pdfmetrics.registerFont(TTFont(f"BenchSubset{number}", buffer))
        _render_with(f"BenchSubset{number}", title, elements)
        per_document.append(time.perf_counter() - started)

    a, b = statistics.median(whole), statistics.median(per_document)
    return {
        "documents": documents,
        "distinct_characters": len(set(characters)),
        "A_whole_font_build_once": round(build, 2),
        "A_load_per_process": round(load, 3),
        "A_render_median": round(a, 3),
        "A_render_max": round(max(whole), 3),
        "B_subset_instance_render_median": round(b, 3),
        "B_max": round(max(per_document), 3),
        "A_pays_off_after_documents": round(build / (b - a)) if b > a else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10)
    print(json.dumps(run(parser.parse_args().documents)))


if __name__ == "__main__":
    main()
