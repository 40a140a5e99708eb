"""Contract templates as data: versioned text per kind, edited by the admin.

A body is paragraphs separated by blank lines. A paragraph starting with "# " is a
heading; a paragraph that is exactly "@parties", "@lenders" or "@schedule" is replaced by
that table; any other paragraph is a `string.Template`: `$amount`, `${number}`, `$$` for
a dollar sign. Each kind has its own set of placeholders and tables (`PLACEHOLDERS`,
`BLOCKS`); a new version that names anything else is refused. Versions are never
changed; the newest is used for new contracts and each contract keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from string import Template
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.contracts import ContractKind, ContractTemplate, PartyRole
from services.contracts.data import METHOD_LABELS
from services.errors import DomainError, InvalidInputError
from services.identity.permissions import Actor
from services.money.money import format_money

ROLE_LABELS = {
    PartyRole.BORROWER: "借款人 Borrower",
    PartyRole.LENDER: "出借人 Lender",
    PartyRole.GUARANTOR: "担保人 Guarantor",
    PartyRole.SELLER: "转让人 Seller",
    PartyRole.BUYER: "受让人 Buyer",
}

_COMMON = {"number", "date", "platform", "loan_ref", "amount", "start_date", "end_date"}
PLACEHOLDERS: dict[ContractKind, frozenset[str]] = {
    ContractKind.LOAN: frozenset(
        _COMMON
        | {
            "rate",
            "term_months",
            "method",
            "purpose",
            "fees",
            "total_interest",
            "total_repayment",
            "borrower_name",
            "borrower_id",
        }
    ),
    ContractKind.GUARANTEE: frozenset(
        _COMMON
        | {
            "order_ref",
            "rate",
            "term_months",
            "coverage",
            "fee",
            "borrower_name",
            "borrower_id",
            "guarantor_name",
            "guarantor_id",
        }
    ),
    ContractKind.CLAIM_TRANSFER: frozenset(
        _COMMON
        | {
            "transfer_ref",
            "principal",
            "price",
            "accrued_interest",
            "fee",
            "seller_name",
            "seller_id",
            "buyer_name",
            "buyer_id",
        }
    ),
}
BLOCKS: dict[ContractKind, frozenset[str]] = {
    ContractKind.LOAN: frozenset({"parties", "lenders", "schedule"}),
    ContractKind.GUARANTEE: frozenset({"parties", "lenders"}),
    ContractKind.CLAIM_TRANSFER: frozenset({"parties"}),
}

_DEFAULTS_DIR = Path(__file__).resolve().parent / "default_templates"


def default_template(kind: ContractKind) -> tuple[str, str]:
    """Version 1 of a kind, from `default_templates/<kind>.txt`: the title on the first
    line, then a blank line, then the body."""
    text = (_DEFAULTS_DIR / f"{kind.value.lower()}.txt").read_text(encoding="utf-8")
    title, _, body = text.partition("\n\n")
    return title.strip(), body.strip()


@dataclass(frozen=True)
class Element:
    """A piece of a filled-in document: a heading, a paragraph or a table."""

    kind: str  # "heading", "text" or "table"
    text: str = ""
    rows: tuple[tuple[str, ...], ...] = ()


class TemplateConflictError(DomainError):
    code = "CONFLICT"


# --- filling in -----------------------------------------------------------------------


def _percent(rate: str) -> str:
    return f"{(Decimal(rate) * 100).quantize(Decimal('0.01'))}%"


def _party(terms: dict[str, Any], role: PartyRole) -> dict[str, Any]:
    return next(p for p in terms["parties"] if p["role"] == str(role))


def values(
    kind: ContractKind, terms: dict[str, Any], number: str, issued_on: date
) -> dict[str, str]:
    """The placeholders of `kind`, filled from a contract's terms."""
    filled: dict[str, str] = {
        "number": number,
        "date": issued_on.isoformat(),
        "platform": "LendBridge",
        "loan_ref": terms["loan_ref"],
        "amount": format_money(terms["amount_fen"]),
        "start_date": terms["start_date"],
        "end_date": terms["end_date"],
    }
    if kind == ContractKind.LOAN:
        interest = sum(line[3] for line in terms["schedule"])
        borrower = _party(terms, PartyRole.BORROWER)
        filled |= {
            "rate": _percent(terms["annual_rate"]),
            "term_months": str(terms["term_months"]),
            "method": METHOD_LABELS[terms["method"]],
            "purpose": terms["purpose"],
            "fees": terms["fees"],
            "total_interest": format_money(interest),
            "total_repayment": format_money(sum(line[5] for line in terms["schedule"])),
            "borrower_name": borrower["name_masked"],
            "borrower_id": borrower["id_masked"],
        }
    elif kind == ContractKind.GUARANTEE:
        borrower = _party(terms, PartyRole.BORROWER)
        guarantor = _party(terms, PartyRole.GUARANTOR)
        filled |= {
            "order_ref": terms["order_ref"],
            "rate": _percent(terms["annual_rate"]),
            "term_months": str(terms["term_months"]),
            "coverage": terms["coverage"],
            "fee": format_money(terms["fee_fen"]),
            "borrower_name": borrower["name_masked"],
            "borrower_id": borrower["id_masked"],
            "guarantor_name": guarantor["name_masked"],
            "guarantor_id": guarantor["id_masked"],
        }
    else:
        seller = _party(terms, PartyRole.SELLER)
        buyer = _party(terms, PartyRole.BUYER)
        filled |= {
            "transfer_ref": terms["transfer_ref"],
            "principal": format_money(terms["principal_fen"]),
            "price": format_money(terms["price_fen"]),
            "accrued_interest": format_money(terms["accrued_interest_fen"]),
            "fee": format_money(terms["fee_fen"]),
            "seller_name": seller["name_masked"],
            "seller_id": seller["id_masked"],
            "buyer_name": buyer["name_masked"],
            "buyer_id": buyer["id_masked"],
        }
    return filled


def _amount(fen: int | None) -> str:
    return "" if fen is None else format_money(fen)


def blocks(terms: dict[str, Any]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """The tables a template may place, header row first."""
    parties = [
        ("角色 Role", "名称 Name", "证件号码 ID number", "金额 Amount (CNY)"),
        *(
            (
                ROLE_LABELS[PartyRole(p["role"])],
                p["name_masked"],
                p["id_masked"],
                _amount(p["amount_fen"]),
            )
            for p in terms["parties"]
        ),
    ]
    lenders = [
        ("序号 No.", "出借人 Lender", "证件号码 ID number", "出借金额 Amount (CNY)"),
        *(
            (str(index), p["name_masked"], p["id_masked"], _amount(p["amount_fen"]))
            for index, p in enumerate(
                (p for p in terms["parties"] if p["role"] == str(PartyRole.LENDER)), start=1
            )
        ),
    ]
    schedule = [
        (
            "期数 No.",
            "到期日 Due",
            "本金 Principal",
            "利息 Interest",
            "费用 Fee",
            "合计 Total",
        ),
        *(
            (str(n), due, *(format_money(x) for x in amounts))
            for n, due, *amounts in terms.get("schedule", [])
        ),
    ]
    return {
        "parties": tuple(parties),
        "lenders": tuple(lenders),
        "schedule": tuple(schedule),
    }


def _paragraphs(body: str) -> list[str]:
    normalized = body.replace("\r\n", "\n")
    return [p.strip() for p in normalized.split("\n\n") if p.strip()]


def fill(
    body: str, filled: dict[str, str], tables: dict[str, tuple[tuple[str, ...], ...]]
) -> list[Element]:
    """The template body with its placeholders and tables filled in."""
    elements: list[Element] = []
    for paragraph in _paragraphs(body):
        if paragraph.startswith("@") and paragraph[1:] in tables:
            elements.append(Element("table", rows=tables[paragraph[1:]]))
        elif paragraph.startswith("# "):
            elements.append(Element("heading", Template(paragraph[2:]).substitute(filled)))
        else:
            text = Template(paragraph).substitute(filled)
            elements.append(Element("text", " ".join(text.split("\n"))))
    return elements


def check(kind: ContractKind, title: str, body: str) -> tuple[str, str]:
    """A title and body that would fill in for `kind`; InvalidInputError (field title /
    body) naming the unknown placeholder or table otherwise."""
    title = (title or "").strip()
    if not 1 <= len(title) <= 200:
        raise InvalidInputError("The title needs 1 to 200 characters", field="title")
    body = (body or "").replace("\r\n", "\n").strip()
    if not 1 <= len(body) <= 50_000:
        raise InvalidInputError("The body needs 1 to 50000 characters", field="body")
    for paragraph in _paragraphs(body):
        if paragraph.startswith("@"):
            if paragraph[1:] not in BLOCKS[kind]:
                allowed = ", ".join(f"@{b}" for b in sorted(BLOCKS[kind]))
                raise InvalidInputError(
                    f"Unknown table {paragraph!r}: {kind} templates may use {allowed}",
                    field="body",
                )
            continue
        template = Template(paragraph.removeprefix("# "))
        if not template.is_valid():
            raise InvalidInputError(
                "A $ must start a placeholder ($name or ${name}) or be doubled ($$)",
                field="body",
            )
        unknown = sorted(set(template.get_identifiers()) - PLACEHOLDERS[kind])
        if unknown:
            raise InvalidInputError(f"Unknown placeholder ${unknown[0]}", field="body")
    return title, body


# --- versions --------------------------------------------------------------------------


async def _newest(kind: ContractKind) -> ContractTemplate | None:
    return await ContractTemplate.filter(kind=kind).order_by("-version").first()


async def current(kind: ContractKind) -> ContractTemplate:
    """The newest version of `kind`, seeding the default version 1 on first use."""
    row = await _newest(kind)
    if row is None:
        await seed_templates()
        row = await _newest(kind)
    if row is None:
        raise RuntimeError(f"no {kind} contract template")
    return row


async def seed_templates() -> None:
    """Version 1 of every kind that has no template yet (idempotent, safe to race)."""
    for kind in ContractKind:
        if await ContractTemplate.exists(kind=kind):
            continue
        title, body = default_template(kind)
        try:
            async with in_transaction():
                await ContractTemplate.create(kind=kind, version=1, title=title, body=body)
        except IntegrityError:
            continue  # another process seeded it first


async def list_templates(kind: ContractKind | None = None) -> list[ContractTemplate]:
    """Every version, by kind then newest first."""
    await seed_templates()
    query = ContractTemplate.all()
    if kind is not None:
        query = query.filter(kind=kind)
    return await query.order_by("kind", "-version")


async def publish(*, actor: Actor, kind: ContractKind, title: str, body: str) -> ContractTemplate:
    """Add the next version of `kind`; new contracts use it, existing ones keep theirs.

    Raises InvalidInputError (title, body) and TemplateConflictError when another
    version was published at the same moment (try again).
    """
    title, body = check(kind, title, body)
    await seed_templates()
    try:
        async with in_transaction():
            latest = await ContractTemplate.filter(kind=kind).order_by("-version").first()
            version = (latest.version if latest else 0) + 1
            return await ContractTemplate.create(
                kind=kind, version=version, title=title, body=body, created_by=actor.user_id
            )
    except IntegrityError as error:
        raise TemplateConflictError(
            "Another version was published at the same time: try again"
        ) from error
