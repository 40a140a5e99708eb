"""Issue 17: a contract reads the same in every viewer. The real loan contract (¥10,000 at
12 % over 12 months) goes through poppler on a machine without any CJK system font:
`pdffonts` shows Noto Sans SC embedded as a subset, `pdftotext` gives back the text the
contract was made from, and `pdftoppm` draws the Chinese title (and nothing in the
margin). Poppler missing fails the test when CI is set, and skips it only outside CI."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib import metadata
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image
from pypdf import PdfReader

from models.contracts import Contract, ContractKind, ContractTemplate
from services.contracts import access, create_loan_contract, pdfa, templates
from services.contracts.templates import Element
from services.kit import fonts
from services.kit.storage import LocalStorage, set_storage
from tests.factories import BORROWER_NAME, LENDER_NAMES, full_loan_data

pytestmark = pytest.mark.asyncio(loop_scope="session")

DPI = 50
POINTS_PER_INCH = 72


def poppler(tool: str) -> str:
    """The path of a poppler tool. Missing: a failure under CI, a skip elsewhere."""
    path = shutil.which(tool)
    if path is None:
        reason = f"{tool} not found: install poppler-utils (apt-get install poppler-utils)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(f"{reason}; outside CI the PDF rendering tests are skipped")
    return path


async def run(tool: str, *arguments: str | int | Path) -> bytes:
    """What a poppler tool writes to stdout; a failure if it exits with an error."""
    process = await asyncio.create_subprocess_exec(
        poppler(tool),
        *map(str, arguments),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode(errors="replace")
    return stdout


def squeezed(text: str) -> str:
    """Text without any whitespace: line breaks fall where the layout puts them."""
    return re.sub(r"\s+", "", text)


@dataclass
class Rendered:
    contract: Contract
    path: Path
    document: bytes
    elements: list[Element]


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


@pytest_asyncio.fixture(loop_scope="session")
async def rendered(tmp_path: Path) -> Rendered:
    """The archived PDF of a real loan contract, and the elements it was made from."""
    contract = await create_loan_contract(await full_loan_data(loan_id=17))
    document = await access.archived_document(contract)
    template = await ContractTemplate.get(id=contract.template_id)
    issued_on = date.fromisoformat(contract.number.split("-")[2])  # LB-LOAN-<yyyymmdd>-...
    elements = templates.fill(
        template.body,
        templates.values(ContractKind.LOAN, contract.terms, contract.number, issued_on),
        templates.blocks(contract.terms),
    )
    path = tmp_path / f"{contract.number}.pdf"
    path.write_bytes(document)
    return Rendered(contract, path, document, elements)


async def test_the_machine_has_no_cjk_system_font():
    # The point of the other tests: only the embedded font can draw the Chinese here.
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return  # no fontconfig at all: no system fonts for poppler to fall back on
    process = await asyncio.create_subprocess_exec(
        fc_list, ":lang=zh", stdout=asyncio.subprocess.PIPE
    )
    listed, _ = await process.communicate()
    assert listed.strip() == b""


async def test_the_cjk_font_is_embedded_as_a_subset(rendered: Rendered):
    # What poppler reads is exactly what is archived, hashed and (later) signed.
    assert hashlib.sha256(rendered.document).hexdigest() == rendered.contract.sha256
    lines = (await run("pdffonts", rendered.path)).decode().splitlines()[2:]
    fonts_used = [line.split() for line in lines if line.strip()]

    assert fonts_used, "no font at all"
    for columns in fonts_used:
        name, emb, sub, uni = columns[0], *columns[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), columns
        assert re.fullmatch(r"[A-Z]{6}\+NotoSansSC-Regular", name), name


async def test_the_text_extracted_is_the_contract_text(rendered: Rendered):
    text = (await run("pdftotext", "-enc", "UTF-8", rendered.path, "-")).decode("utf-8")
    number = re.escape(rendered.contract.number)
    footers = re.findall(rf"{number}\s+第 (\d+) 页 Page \1", text)
    assert footers[:1] == ["1"], footers
    # A paragraph may run across a page break: compare without the page footers.
    flat = squeezed(re.sub(rf"{number}\s+第 \d+ 页 Page \d+", "", text))

    assert "借款合同 Loan Agreement" in text
    assert rendered.contract.number in flat
    for heading in ("第一条 借款金额", "第二条 利率与期限", "第三条 还款", "第六条 电子签名"):
        assert squeezed(heading) in flat, heading
    for label in ("借款人 Borrower", "出借人 Lender", BORROWER_NAME, *LENDER_NAMES):
        assert label in text, label
    for amount in ("10000.00", "888.49", "888.47", "661.86", "3333.34", "12.00%"):
        assert amount in text, amount
    # Every paragraph and every table cell the contract was made from, in full.
    for element in rendered.elements:
        if element.kind == "table":
            for row in element.rows:
                for cell in row:
                    assert squeezed(cell) in flat, cell
        else:
            assert squeezed(element.text) in flat, element.text


def _word_box(bbox_html: str, word: str) -> tuple[float, float, float, float]:
    match = re.search(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
        + re.escape(word)
        + "</word>",
        bbox_html,
    )
    assert match, f"{word} not on page 1"
    x0, y0, x1, y1 = (float(v) for v in match.groups())
    return x0, y0, x1, y1


def _pixels(image: Image.Image, box: tuple[float, float, float, float]) -> bytes:
    """The grey levels (0 black, 255 white) inside a box given in points."""
    scale = DPI / POINTS_PER_INCH
    left, top, right, bottom = (round(v * scale) for v in box)
    return image.crop((left, top, right, bottom)).tobytes()


async def test_the_chinese_title_is_drawn(rendered: Rendered, tmp_path: Path):
    words = await run(
        "pdftotext", "-bbox", "-f", "1", "-l", "1", "-enc", "UTF-8", rendered.path, "-"
    )
    bbox_html = words.decode("utf-8")
    title = _word_box(bbox_html, "借款合同")
    await run(
        "pdftoppm", "-r", DPI, "-gray", "-f", "1", "-singlefile", rendered.path, tmp_path / "page"
    )
    image = Image.open(tmp_path / "page.pgm")
    assert image.mode == "L"

    drawn = _pixels(image, title)
    dark = sum(1 for value in drawn if value < 128)
    assert dark >= len(drawn) * 0.1, f"{dark} dark pixels of {len(drawn)} in the title"
    # The left margin (18 mm, nothing printed there) stays white: a page drawn all
    # dark would not pass for a drawn title.
    margin_points = 15 / 25.4 * POINTS_PER_INCH
    margin = _pixels(image, (0, 0, margin_points, image.height * POINTS_PER_INCH / DPI))
    assert min(margin) >= 250


async def test_the_document_carries_pdfa_2b_metadata_and_srgb_intent(rendered: Rendered):
    reader = PdfReader(io.BytesIO(rendered.document))
    root = reader.trailer["/Root"]

    (intent,) = root["/OutputIntents"]
    assert (intent["/S"], intent["/OutputConditionIdentifier"]) == (
        "/GTS_PDFA1",
        pdfa.OUTPUT_CONDITION,
    )
    profile = intent["/DestOutputProfile"].get_object()
    icc = profile.get_data()
    assert profile["/N"] == 3
    assert (icc[12:16], icc[16:20], icc[36:40]) == (b"mntr", b"RGB ", b"acsp")
    assert int.from_bytes(icc[:4], "big") == len(icc)

    metadata = root["/Metadata"].get_object()
    assert "/Filter" not in metadata
    xmp = metadata.get_data().decode("utf-8")
    assert "<pdfaid:part>2</pdfaid:part>" in xmp
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert f">{rendered.contract.title}</rdf:li>" in xmp
    assert reader.metadata is not None
    assert reader.metadata.title == rendered.contract.title
    assert "/Encrypt" not in reader.trailer


async def test_the_font_licence_ships_with_the_font():
    licence = fonts.licence_path().read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE" in licence.upper()
    assert fonts.variable_font_path().is_file()


async def test_the_static_font_is_made_once_per_package_version(tmp_path, monkeypatch):
    made: list[Path] = []

    def make(source: Path, target: Path, weight: int = fonts.WEIGHT) -> None:
        made.append(target)
        if len(made) == 3:
            raise OSError("disk full")
        target.write_bytes(b"static font")

    monkeypatch.setattr(fonts, "make_static_instance", make)
    first = fonts._build_in(tmp_path)
    again = fonts._build_in(tmp_path)
    assert first == again
    assert len(made) == 1
    assert first.name == fonts.cache_name()
    assert f"justmytype-intl-cjk-{metadata.version('justmytype-intl-cjk')}-" in first.name
    assert first.read_bytes() == b"static font"

    versions = {"justmytype-intl-cjk": "99.0.0", "fonttools": metadata.version("fonttools")}
    monkeypatch.setattr(fonts.metadata, "version", versions.__getitem__)
    newer = fonts._build_in(tmp_path)  # a new package: a new file, the old one not reused
    assert newer != first
    assert "justmytype-intl-cjk-99.0.0-" in newer.name
    assert len(made) == 2

    versions["fonttools"] = "99.0.0"
    with pytest.raises(OSError, match="disk full"):
        fonts._build_in(tmp_path)  # a failed build leaves neither a file nor a temporary
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert files == sorted([first.name, newer.name])
