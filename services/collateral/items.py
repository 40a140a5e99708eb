"""Collateral items and valuations (issue 21, M8.1-M8.2).

- `add_item` (staff with `loan:review`, as the loan is reviewed): an item pledged for a
  loan: kind, owner (the borrower unless a third party is named), description, where
  the lien is registered (number and authority) and its rank, and its documents. Not for
  a loan already settled or cancelled.
- `add_valuation` (the same staff): appraiser, method, value, the day valued (not after
  today), the report's reference and the report itself. Refused for an item no longer
  securing the loan (RELEASED, DISPOSED: ITEM_NOT_PLEDGED). The item's value is its
  latest valuation (by day, then as recorded).
- Documents and reports are stored, hashed and signed with the row that brings them, in
  its transaction; any refusal stores nothing (services/collateral/documents.py).
- The loan's loan-to-value: its outstanding principal (the amount before disbursement;
  after it, its installments' principal less what was paid) over the latest values of
  the items still securing it, four places half-up; None while nothing is valued. When
  a valuation takes it above `collateral.ltvWarning` from at or below it, a warning
  event (`collateral.events`, kind LTV_WARNING) goes out through the outbox, once per
  crossing.
- `collateral_of`: a loan's items with their valuations, documents, the value and LTV,
  for its borrower, the holders of its claims, and staff with `loan:review`; NotFoundError for
  anyone else (never telling whether the loan exists).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, cast

from pydantic import BaseModel, ConfigDict, Field
from tortoise.transactions import in_transaction

from models.collateral import (
    CollateralDocument,
    CollateralItem,
    CollateralKind,
    CollateralStatus,
    CollateralValuation,
)
from models.loans import Loan, LoanStatus
from models.members import User
from models.repayments import LoanInstallment
from services.collateral import access, documents
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor
from services.kit import uploads
from services.kit.uploads import UploadedFile
from services.platform import clock, outbox, parameters
from services.platform.parameters import Param

EVENTS_CHANNEL = "collateral.events"
SECURING = (CollateralStatus.PLEDGED, CollateralStatus.TRANSFERRED, CollateralStatus.IN_DISPOSAL)
_CLOSED_LOANS = (LoanStatus.SETTLED, LoanStatus.CANCELLED, LoanStatus.REJECTED, LoanStatus.FAILED)
_LTV_QUANTUM = Decimal("0.0001")
METHODS = ("MARKET", "INCOME", "COST", "AUCTION", "OTHER")


class LtvWarning(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio: Annotated[Decimal, Field(gt=0, le=10, decimal_places=4)]


LTV_WARNING = Param(
    "collateral.ltvWarning",
    LtvWarning,
    {"ratio": "0.8000"},
    "M8.2: a loan's loan-to-value (outstanding principal over its collateral's latest "
    "values) above which a valuation raises a warning event.",
)


@dataclass(frozen=True)
class ItemView:
    item: CollateralItem
    valuations: list[CollateralValuation]  # newest first
    documents: list[CollateralDocument] = field(default_factory=list)  # the item's own
    reports: dict[int, CollateralDocument] = field(default_factory=dict)  # by valuation

    @property
    def value_fen(self) -> int | None:
        return self.valuations[0].value_fen if self.valuations else None


@dataclass(frozen=True)
class LoanCollateral:
    loan_id: int
    outstanding_principal_fen: int
    items: list[ItemView]
    ltv: Decimal | None


@dataclass(frozen=True)
class Valued:
    valuation: CollateralValuation
    ltv: Decimal | None
    warned: bool  # this valuation took the LTV above the warning ratio
    report: CollateralDocument | None = None


def _text(value: str, field: str, most: int) -> str:
    value = (value or "").strip()
    if not value or len(value) > most:
        raise InvalidInputError(f"1 to {most} characters", field=field)
    return value


async def _outstanding(loan: Loan) -> int:
    rows = await LoanInstallment.filter(loan_id=loan.id).values_list(
        "principal_fen", "paid_principal_fen"
    )
    if not rows:
        return int(loan.amount_fen)
    return sum(principal - paid for principal, paid in cast(list[tuple[int, int]], rows))


def _ltv(outstanding: int, values: list[int]) -> Decimal | None:
    total = sum(values)
    if not values or total <= 0:
        return None
    return (Decimal(outstanding) / Decimal(total)).quantize(_LTV_QUANTUM, rounding=ROUND_HALF_UP)


async def _views(loan_id: int) -> list[ItemView]:
    items = await CollateralItem.filter(loan_id=loan_id).order_by("id")
    valuations: dict[int, list[CollateralValuation]] = defaultdict(list)
    for row in await CollateralValuation.filter(loan_id=loan_id).order_by("-valued_on", "-id"):
        valuations[row.item_id].append(row)
    files: dict[int, list[CollateralDocument]] = defaultdict(list)
    reports: dict[int, dict[int, CollateralDocument]] = defaultdict(dict)
    for document in await documents.of_loan(loan_id):
        if document.valuation_id is None:
            files[document.item_id].append(document)
        else:
            reports[document.item_id][document.valuation_id] = document
    return [
        ItemView(
            item=item,
            valuations=valuations[item.id],
            documents=files[item.id],
            reports=reports[item.id],
        )
        for item in items
    ]


def _securing_values(views: list[ItemView]) -> list[int]:
    return [
        view.value_fen
        for view in views
        if view.item.status in SECURING and view.value_fen is not None
    ]


async def add_item(
    *,
    actor: Actor,
    loan_id: int,
    kind: CollateralKind,
    description: str,
    registration_number: str,
    registration_authority: str,
    lien_rank: int,
    owner_id: int | None = None,
    files: Sequence[UploadedFile] = (),
) -> CollateralItem:
    """Record an item pledged for a loan with its documents `files`; see the module
    docstring. NotFoundError (no such loan or owner), DomainError LOAN_CLOSED,
    InvalidInputError (UploadRefusedError for the files)."""
    assert actor.user_id is not None
    loan = await Loan.get_or_none(id=loan_id)
    if loan is None:
        raise NotFoundError("No such loan", field="loanId")
    if loan.status in _CLOSED_LOANS:
        raise DomainError(f"The loan is {loan.status.lower()}", code="LOAN_CLOSED", field="loanId")
    owner = loan.borrower_id if owner_id is None else owner_id
    if owner_id is not None and not await User.filter(id=owner_id).exists():
        raise NotFoundError("No such owner", field="ownerId")
    if not 1 <= lien_rank <= 99:
        raise InvalidInputError("The lien's rank is 1 to 99", field="lienRank")
    description = _text(description, "description", 500)
    registration_number = _text(registration_number, "registrationNumber", 64)
    registration_authority = _text(registration_authority, "registrationAuthority", 128)
    cleaned = documents.clean_documents(files)
    now = await clock.now()
    async with uploads.store(cleaned) as stored, in_transaction():
        item = await CollateralItem.create(
            loan_id=loan.id,
            owner_id=owner,
            kind=kind,
            description=description,
            registration_number=registration_number,
            registration_authority=registration_authority,
            lien_rank=lien_rank,
            recorded_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        await documents.record(stored, item_id=item.id, uploader_id=actor.user_id, at=now)
    return item


async def add_valuation(
    *,
    actor: Actor,
    item_id: int,
    appraiser: str,
    method: str,
    value_fen: int,
    valued_on: date,
    report_ref: str = "",
    report: UploadedFile | None = None,
) -> Valued:
    """Record a valuation with its report (a file, optional); see the module docstring.
    NotFoundError, DomainError ITEM_NOT_PLEDGED, InvalidInputError (value, day, method,
    texts; UploadRefusedError for the report)."""
    assert actor.user_id is not None
    if value_fen <= 0:
        raise InvalidInputError("The value must be positive", field="value")
    if valued_on > await clock.today():
        raise InvalidInputError("A valuation cannot be dated after today", field="valuedOn")
    method = (method or "").strip().upper()
    if method not in METHODS:
        raise InvalidInputError(f"The method is one of {', '.join(METHODS)}", field="method")
    appraiser = _text(appraiser, "appraiser", 128)
    if len(report_ref or "") > 256:
        raise InvalidInputError("At most 256 characters", field="reportRef")
    cleaned = documents.clean_report(report)
    async with uploads.store(cleaned) as stored, in_transaction():
        item = await CollateralItem.filter(id=item_id).select_for_update().first()
        if item is None:
            raise NotFoundError("No such item", field="itemId")
        if item.status not in SECURING:
            raise DomainError(
                f"The item is {item.status.lower()}", code="ITEM_NOT_PLEDGED", field="itemId"
            )
        # The loan's row orders valuations of one loan, so each sees the LTV before it.
        loan = await Loan.filter(id=item.loan_id).select_for_update().get()
        outstanding = await _outstanding(loan)
        before = _ltv(outstanding, _securing_values(await _views(loan.id)))
        valuation = await CollateralValuation.create(
            item_id=item.id,
            loan_id=loan.id,
            appraiser=appraiser,
            method=method,
            value_fen=value_fen,
            valued_on=valued_on,
            report_ref=(report_ref or "").strip(),
            recorded_by=actor.user_id,
            created_at=await clock.now(),
        )
        filed = await documents.record(
            stored,
            item_id=item.id,
            valuation_id=valuation.id,
            uploader_id=actor.user_id,
            at=valuation.created_at,
        )
        after = _ltv(outstanding, _securing_values(await _views(loan.id)))
        ratio = (await parameters.get(LTV_WARNING)).ratio
        warned = after is not None and after > ratio and (before is None or before <= ratio)
        if warned:
            await outbox.enqueue(
                EVENTS_CHANNEL,
                {
                    "kind": "LTV_WARNING",
                    "loan_id": loan.id,
                    "item_id": item.id,
                    "ltv": str(after),
                    "ratio": str(ratio),
                    "at": (await clock.now()).isoformat(),
                },
            )
    if warned:
        outbox.wake()
    return Valued(valuation=valuation, ltv=after, warned=warned, report=filed[0] if filed else None)


async def collateral_of(*, actor: Actor, loan_id: int) -> LoanCollateral:
    """A loan's collateral as its borrower, holders and reviewers see it; NotFoundError
    for anyone else."""
    loan = await Loan.get_or_none(id=loan_id)
    if loan is None or not await access.may_see(actor, loan):
        raise NotFoundError("No such loan", field="loanId")
    views = await _views(loan.id)
    outstanding = await _outstanding(loan)
    return LoanCollateral(
        loan_id=loan.id,
        outstanding_principal_fen=outstanding,
        items=views,
        ltv=_ltv(outstanding, _securing_values(views)),
    )
