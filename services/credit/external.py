"""External credit sources (M2.7) behind one adapter interface.

The credit bureau, the courts, online reputation and the P2P industry credit-sharing
service are reached through one `ExternalSourceAdapter`: `fetch(source, subject, as_of)`
answers with a JSON report whose shape is fixed per source (below; money in integer fen,
dates ISO). The adapter in use is chosen by the `EXTERNAL_SOURCES` setting: "local" (the
shipped `LocalExternalSources`, deterministic, used by tests and demo data) or
"package.module:ClassName", a class implementing the protocol, built with no arguments.

`fetch(user_id, source)` looks the member up by their newest approved ID card, calls the
adapter outside any transaction, checks the answer against the source's shape, and stores
it as an `ExternalCheck` row in its own short transaction. The row never holds the ID
number or the name in clear: it keeps the keyed hash of the number, and any occurrence of
either in the answer's text is masked before it is stored. A failing adapter or a
malformed answer is SOURCE_UNAVAILABLE and nothing is stored.

Report shapes:

- credit_bureau: {"overdue_items": [{"date", "amount_fen", "days", "lender"}],
  "outstanding_debt_fen", "monthly_debt_payment_fen"}
- court: {"cases": [{"case_no", "filed_on", "kind", "status": "open" | "closed"}]}
- reputation: {"negative_hits": [{"title", "source", "date"}]}
- industry_sharing: {"platforms": [{"platform", "outstanding_fen", "overdue"}],
  "total_outstanding_fen"}

`signals(user_id)` condenses the newest check of each source into what the scorecard
reads. Windows are counted on the business clock: an item is "in the last N months" when
it is dated after the same day N months before today (the day clamped to the month's
end) and not after today, so an item exactly N months old has dropped out.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import logging
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar, cast

from pydantic import ValidationError
from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.transactions import in_transaction

from models.credit import VerificationStatus, VerificationSubmission
from models.external import ExternalCheck
from services.credit.report_shapes import (
    CourtReport,
    CreditBureauReport,
    IndustrySharingReport,
    Report,
    ReputationReport,
    _Shape,
    within_months,
)
from services.errors import DomainError
from services.kit.security import decrypt_pii, lookup_hash
from services.kit.settings import get_settings
from services.platform import clock

logger = logging.getLogger(__name__)

#: Window of the credit-report overdue items the scorecard counts.
BUREAU_OVERDUE_MONTHS = 24


class Source(StrEnum):
    CREDIT_BUREAU = "credit_bureau"
    COURT = "court"
    REPUTATION = "reputation"
    INDUSTRY_SHARING = "industry_sharing"


@dataclass(frozen=True)
class Subject:
    """Who is looked up. Never logged: the ID number and name stay out of its repr."""

    user_id: int
    id_number: str = field(repr=False)
    name: str = field(repr=False)


class ExternalSourceAdapter(Protocol):
    """An outside data source. `fetch` answers with the source's report (JSON-able, shape
    in the module docstring) or raises: any exception means the source is unavailable.
    An adapter sets its own timeouts and must not be called inside a transaction."""

    name: str

    async def fetch(self, source: Source, subject: Subject, as_of: date) -> dict[str, Any]: ...


class ExternalSourceError(Exception):
    """The source could not answer (raise it, or any exception, from an adapter)."""


# --- report shapes -------------------------------------------------------------------


SHAPES: dict[Source, type[Report]] = {
    Source.CREDIT_BUREAU: CreditBureauReport,
    Source.COURT: CourtReport,
    Source.REPUTATION: ReputationReport,
    Source.INDUSTRY_SHARING: IndustrySharingReport,
}


def parse_report(source: Source, result: dict[str, Any]) -> Report:
    """A stored or fetched result as its source's shape (ValidationError if it is not)."""
    return SHAPES[source].model_validate_json(json.dumps(result))


# --- the local implementation --------------------------------------------------------

_LENDERS = (
    "Huaxia Consumer Finance",
    "Jiangnan Rural Commercial Bank",
    "Zhongyuan Credit Card Centre",
    "Beifang Auto Finance",
    "Xinghe Microcredit",
)
_COURT_KINDS = ("civil", "enforcement", "administrative")
_NEWS_TITLES = (
    "Borrower named in local debt-dispute report",
    "Listed among dishonest judgement debtors in regional notice",
    "Complaint about unpaid supplier invoices",
    "Named in consumer-protection warning",
)
_NEWS_SOURCES = ("Regional Daily", "Finance Watch", "Consumer Forum", "City Evening News")
_PLATFORMS = (
    "Yingtong P2P",
    "Hengxin Lending",
    "Jinqiao Online Credit",
    "Ruida Peer Finance",
    "Anyi Loans",
)


def _yuan(rng: random.Random, low: int, high: int) -> int:
    """A plausible amount between `low` and `high` yuan, in whole hundreds, as fen."""
    return rng.randint(low // 100, high // 100) * 100 * 100


class LocalExternalSources:
    """The shipped adapter: made-up but stable reports, no network.

    Everything is derived from the keyed hash of the ID number (and the source), so the
    same person always gets the same report; dates are counted back from `as_of`. Most
    people are clean: about 70 % have no credit-report overdue items, 90 % no court case,
    85 % no negative news and 60 % no loans on other platforms. Reports carry neither
    the name nor the ID number.

    `overrides={id_number: {source: report}}` scripts an exact report for a person and
    source; `fail_sources` makes those sources raise `ExternalSourceError`.
    """

    name = "local"

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, dict[str, Any]]] | None = None,
        fail_sources: Iterable[Source] = (),
    ) -> None:
        self.overrides = {
            id_number: {Source(key): report for key, report in reports.items()}
            for id_number, reports in (overrides or {}).items()
        }
        self.fail_sources = frozenset(fail_sources)

    async def fetch(self, source: Source, subject: Subject, as_of: date) -> dict[str, Any]:
        if source in self.fail_sources:
            raise ExternalSourceError(f"{source} is unavailable (simulated)")
        scripted = self.overrides.get(subject.id_number, {}).get(source)
        if scripted is not None:
            return copy.deepcopy(scripted)
        return self.generate(source, lookup_hash(subject.id_number), as_of)

    @staticmethod
    def generate(source: Source, person: str, as_of: date) -> dict[str, Any]:
        """The report for the person with this keyed hash, as of that day."""
        seed = hashlib.sha256(f"{person}:{source.value}".encode()).hexdigest()
        rng = random.Random(seed)
        match source:
            case Source.CREDIT_BUREAU:
                return LocalExternalSources._bureau(rng, as_of)
            case Source.COURT:
                return LocalExternalSources._court(rng, as_of)
            case Source.REPUTATION:
                return LocalExternalSources._reputation(rng, as_of)
            case Source.INDUSTRY_SHARING:
                return LocalExternalSources._industry(rng)

    @staticmethod
    def _bureau(rng: random.Random, as_of: date) -> dict[str, Any]:
        debt = 0 if rng.random() < 0.5 else _yuan(rng, 5_000, 800_000)
        # A debt repaid over one to ten years.
        payment = debt // rng.randint(12, 120) if debt else 0
        items: list[dict[str, Any]] = []
        if rng.random() >= 0.70:
            for _ in range(rng.randint(1, 4)):
                items.append(
                    {
                        # Spread over three years: some fall outside the 24-month window.
                        "date": (as_of - timedelta(days=rng.randint(1, 3 * 365))).isoformat(),
                        "amount_fen": _yuan(rng, 100, 20_000),
                        "days": rng.choice((5, 12, 30, 35, 60, 95, 130)),
                        "lender": rng.choice(_LENDERS),
                    }
                )
            items.sort(key=lambda item: item["date"], reverse=True)
        return {
            "overdue_items": items,
            "outstanding_debt_fen": debt,
            "monthly_debt_payment_fen": payment,
        }

    @staticmethod
    def _court(rng: random.Random, as_of: date) -> dict[str, Any]:
        cases: list[dict[str, Any]] = []
        if rng.random() >= 0.90:
            for _ in range(rng.randint(1, 2)):
                filed = as_of - timedelta(days=rng.randint(30, 5 * 365))
                cases.append(
                    {
                        "case_no": f"({filed.year}) Civ. {rng.randint(100, 99999)}",
                        "filed_on": filed.isoformat(),
                        "kind": rng.choice(_COURT_KINDS),
                        "status": "open" if rng.random() < 0.4 else "closed",
                    }
                )
        return {"cases": cases}

    @staticmethod
    def _reputation(rng: random.Random, as_of: date) -> dict[str, Any]:
        hits: list[dict[str, Any]] = []
        if rng.random() >= 0.85:
            for _ in range(rng.randint(1, 3)):
                hits.append(
                    {
                        "title": rng.choice(_NEWS_TITLES),
                        "source": rng.choice(_NEWS_SOURCES),
                        "date": (as_of - timedelta(days=rng.randint(1, 3 * 365))).isoformat(),
                    }
                )
        return {"negative_hits": hits}

    @staticmethod
    def _industry(rng: random.Random) -> dict[str, Any]:
        platforms: list[dict[str, Any]] = []
        if rng.random() >= 0.60:
            for name in rng.sample(_PLATFORMS, rng.randint(1, 3)):
                # Now and then a large debt, so the all-platforms cap (R1) is reachable.
                high = 600_000 if rng.random() < 0.05 else 80_000
                platforms.append(
                    {
                        "platform": name,
                        "outstanding_fen": _yuan(rng, 1_000, high),
                        "overdue": rng.random() < 0.15,
                    }
                )
        return {
            "platforms": platforms,
            "total_outstanding_fen": sum(loan["outstanding_fen"] for loan in platforms),
        }


# --- the configured adapter ----------------------------------------------------------

_override: ExternalSourceAdapter | None = None
_configured: tuple[str, ExternalSourceAdapter] | None = None


def _build(spec: str) -> ExternalSourceAdapter:
    if spec == "local":
        return LocalExternalSources()
    module_name, _, class_name = spec.partition(":")
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return cast(ExternalSourceAdapter, adapter_class())


def get_adapter() -> ExternalSourceAdapter:
    """The adapter a test installed, or the one EXTERNAL_SOURCES names (built once)."""
    global _configured
    if _override is not None:
        return _override
    spec = get_settings().external_sources
    if _configured is None or _configured[0] != spec:
        _configured = (spec, _build(spec))
    return _configured[1]


def set_adapter(adapter: ExternalSourceAdapter | None) -> None:
    """Install an adapter (tests); None goes back to the configured one."""
    global _override
    _override = adapter


# --- operations ----------------------------------------------------------------------


async def subject_for(user_id: int) -> Subject | None:
    """The member as their newest approved ID card names them, or None."""
    row = (
        await VerificationSubmission.filter(
            user_id=user_id, kind="ID_CARD", status=VerificationStatus.APPROVED
        )
        .order_by("-id")
        .first()
    )
    if row is None:
        return None
    values = row.field_values
    try:
        id_number = decrypt_pii(values["idNumber"]["cipher"])
        name = decrypt_pii(values["realName"]["cipher"])
    except KeyError:
        return None
    return Subject(user_id=user_id, id_number=id_number, name=name)


def _mask_id(id_number: str) -> str:
    return f"{id_number[:3]}***********{id_number[-4:]}"


def _redact(value: Any, subject: Subject) -> Any:
    """`value` with the subject's ID number and name masked in every string."""
    if isinstance(value, str):
        value = re.sub(re.escape(subject.id_number), _mask_id(subject.id_number), value, flags=re.I)
        if len(subject.name) >= 2:  # one character would mask ordinary words
            masked = subject.name[:1] + "*" * (len(subject.name) - 1)
            value = re.sub(re.escape(subject.name), masked, value, flags=re.I)
        return value
    if isinstance(value, dict):
        return {_redact(key, subject): _redact(item, subject) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, subject) for item in value]
    return value


def _in_transaction() -> bool:
    return isinstance(connections.get("default"), TransactionalDBClient)


async def fetch(user_id: int, source: Source) -> ExternalCheck:
    """Ask the configured adapter about the member and store its answer.

    Raises DomainError IDENTITY_REQUIRED (no approved ID card) or SOURCE_UNAVAILABLE
    (the adapter failed or answered something that is not the source's report; nothing
    is stored). Must be called outside a transaction: the outside call may be slow.
    """
    if _in_transaction():
        raise RuntimeError("external sources are called outside transactions")
    source = Source(source)
    subject = await subject_for(user_id)
    if subject is None:
        raise DomainError(
            "An approved ID card is needed before outside sources can be checked",
            code="IDENTITY_REQUIRED",
        )
    adapter = get_adapter()
    as_of = await clock.today()
    try:
        answer = await adapter.fetch(source, subject, as_of)
    except Exception as error:  # whatever went wrong out there; never the subject in logs
        logger.warning(
            "%s: %s failed for user %s (%s)", adapter.name, source, user_id, type(error).__name__
        )
        raise DomainError(
            f"The {source} source is unavailable, try again later", code="SOURCE_UNAVAILABLE"
        ) from error
    try:
        report = parse_report(source, _redact(answer, subject))
    except (ValidationError, TypeError, ValueError) as error:
        logger.warning(
            "%s: %s answered a malformed report for user %s", adapter.name, source, user_id
        )
        raise DomainError(
            f"The {source} source answered with something unusable", code="SOURCE_UNAVAILABLE"
        ) from error
    fetched_at = await clock.now()
    async with in_transaction():
        return await ExternalCheck.create(
            user_id=user_id,
            source=source.value,
            adapter=adapter.name[:64],
            subject_lookup=lookup_hash(subject.id_number),
            result=report.model_dump(mode="json"),
            fetched_at=fetched_at,
        )


async def latest(user_id: int, source: Source) -> ExternalCheck | None:
    """The member's newest check of that source (by fetch time, then id), or None."""
    return (
        await ExternalCheck.filter(user_id=user_id, source=Source(source).value)
        .order_by("-fetched_at", "-id")
        .first()
    )


ShapeT = TypeVar("ShapeT", bound=_Shape)


async def latest_report(
    user_id: int, source: Source, shape: type[ShapeT]
) -> tuple[ExternalCheck, ShapeT] | None:
    """The newest check of that source with its result read as `shape`, or None."""
    _check_shape(source, shape)
    return _read(await latest(user_id, source), shape)


def _check_shape(source: Source, shape: type[_Shape]) -> None:
    if SHAPES[source] is not shape:
        raise TypeError(f"{source} reports are {SHAPES[source].__name__}")


def _read(check: ExternalCheck | None, shape: type[ShapeT]) -> tuple[ExternalCheck, ShapeT] | None:
    """`check` with its result read as `shape` (None for no check)."""
    if check is None:
        return None
    return check, shape.model_validate_json(json.dumps(check.result))


@dataclass(frozen=True)
class Signals:
    """What the scorecard reads from outside sources (0 where nothing was fetched)."""

    court_cases: int  # cases on record (open or closed) in the newest court check
    bureau_overdue_items: int  # overdue items of the last 24 months, newest bureau check
    negative_hits: int
    other_platforms_outstanding_fen: int  # newest industry-sharing check
    other_platform_overdue: int  # platforms there with overdue=True


async def _latest_reports(user_id: int) -> dict[Source, ExternalCheck]:
    """The member's newest check of each source (as `latest`) in two queries, not four:
    the scorecard reads all of them on every re-evaluation (each installment repaid).
    The first reads only ids, so older checks' reports are never loaded."""
    newest: dict[Source, int] = {}
    for check_id, source in (
        await ExternalCheck.filter(user_id=user_id)
        .order_by("-fetched_at", "-id")
        .values_list("id", "source")
    ):
        newest.setdefault(Source(source), int(check_id))
    if not newest:
        return {}
    checks = {check.id: check for check in await ExternalCheck.filter(id__in=list(newest.values()))}
    return {source: checks[check_id] for source, check_id in newest.items()}


def _report(
    newest: dict[Source, ExternalCheck], source: Source, shape: type[ShapeT]
) -> tuple[ExternalCheck, ShapeT] | None:
    _check_shape(source, shape)
    return _read(newest.get(source), shape)


async def signals(user_id: int) -> Signals:
    today = await clock.today()
    newest = await _latest_reports(user_id)
    court = _report(newest, Source.COURT, CourtReport)
    bureau = _report(newest, Source.CREDIT_BUREAU, CreditBureauReport)
    reputation = _report(newest, Source.REPUTATION, ReputationReport)
    industry = _report(newest, Source.INDUSTRY_SHARING, IndustrySharingReport)
    court_cases = bureau_overdue = hits = outstanding = overdue_platforms = 0
    if court is not None:
        court_cases = len(court[1].cases)
    if bureau is not None:
        bureau_overdue = sum(
            within_months(item.date, today, BUREAU_OVERDUE_MONTHS)
            for item in bureau[1].overdue_items
        )
    if reputation is not None:
        hits = len(reputation[1].negative_hits)
    if industry is not None:
        outstanding = industry[1].total_outstanding_fen
        overdue_platforms = sum(loan.overdue for loan in industry[1].platforms)
    return Signals(
        court_cases=court_cases,
        bureau_overdue_items=bureau_overdue,
        negative_hits=hits,
        other_platforms_outstanding_fen=outstanding,
        other_platform_overdue=overdue_platforms,
    )
