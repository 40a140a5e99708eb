"""The monthly disclosure (R7): in the first five working days of a month the platform
builds last month's report as of its last day, stores it once with its PDF, signs it,
and anyone may read it (docs/disclosure.md).

Working days are Monday to Friday: the code has no holiday calendar (public holidays
and make-up working days are not modelled, as for the bidding window in
`services.loans.policy`).

What is signed: "sha256:<report hash>:pdf:<PDF hash>:disclosure:<YYYY-MM>" with the
platform's Ed25519 key (`services.kit.signing`), so the report, its PDF and its month
stand or fall together. Every read checks the report against its hash and the signature
(and the PDF against its hash) and refuses what no longer matches
(DisclosureIntegrityError, logged).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta

from tortoise.exceptions import IntegrityError

from models.disclosures import MonthlyDisclosure
from services.analytics import disclosure_pdf
from services.analytics.disclosure_report import (
    build_report,
    canonical,
    label,
    month_end,
    report_sha256,
)
from services.analytics.window import first_day
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.kit import signing
from services.kit.storage import StoredFileMissingError, get_storage
from services.platform import clock

logger = logging.getLogger(__name__)

#: R7: the report is published within the first five working days of the month.
WINDOW_WORKING_DAYS = 5
#: The most reports one `disclosures` request lists.
MAX_LISTED = 120

_MONTH_LABEL = re.compile(r"(\d{4})-(\d{2})")


class DisclosureIntegrityError(DomainError):
    """A stored report no longer matches its hash or the platform's signature, or its
    PDF no longer matches the hash on record."""

    code = "INTEGRITY"


@dataclass(frozen=True)
class PublishOutcome:
    """What one run of the job did: the month it looked at (None outside the window),
    the disclosure of that month (None when there is none) and whether this run made
    it."""

    day: date
    month: date | None
    disclosure: MonthlyDisclosure | None
    built: bool
    summary: str


def working_day_number(day: date) -> int | None:
    """1 for the month's first working day (Monday to Friday), 2 for the second, ...;
    None on a Saturday or Sunday."""
    if day.weekday() >= 5:
        return None
    return sum(1 for n in range(1, day.day + 1) if day.replace(day=n).weekday() < 5)


def due_month(day: date) -> date | None:
    """The month whose report is due on `day` (the previous one, by its first day) when
    `day` is one of its month's first five working days; None otherwise."""
    number = working_day_number(day)
    if number is None or number > WINDOW_WORKING_DAYS:
        return None
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def signed_payload(report_hash: str, pdf_hash: str, month: date) -> bytes:
    """What the platform signs: the report's and the PDF's hashes bound to the month."""
    return f"sha256:{report_hash}:pdf:{pdf_hash}:disclosure:{label(month)}".encode()


def pdf_path(month: date) -> str:
    """Where the app serves the PDF, to anyone: /disclosures/2026-11.pdf."""
    return f"/disclosures/{label(month)}.pdf"


async def publish(today: date | None = None) -> PublishOutcome:
    """The job's work on business day `today` (default today): on one of the month's
    first five working days, build and store last month's report unless it exists.
    Idempotent: a second run (or a second worker) changes nothing. A month that ended
    before the platform's first day has nothing to disclose and builds nothing."""
    day = today or await clock.today()
    month = due_month(day)
    if month is None:
        return PublishOutcome(day, None, None, False, f"{day}: not a disclosure day")
    existing = await MonthlyDisclosure.get_or_none(month=month)
    if existing is not None:
        return PublishOutcome(day, month, existing, False, f"{label(month)} already published")
    if month_end(month) < await first_day(day):
        return PublishOutcome(
            day, month, None, False, f"{label(month)}: the platform had not started"
        )
    row, built = await build(month)
    verb = "published" if built else "already published"
    return PublishOutcome(day, month, row, built, f"{label(month)} {verb}")


async def build(month: date) -> tuple[MonthlyDisclosure, bool]:
    """Build, sign and store `month`'s report (its first day) as of its last day; with
    whether this call stored it. When the month has a report already (stored before, or
    by a concurrent call that won the unique month) that one is returned unchanged and
    the PDF made here is removed from storage again.

    Raises InvalidInputError (a month that is not over, or before the platform's first
    day: `window.check_window`).
    """
    if month.day != 1:
        raise InvalidInputError("A month is named by its first day", field="month")
    existing = await MonthlyDisclosure.get_or_none(month=month)
    if existing is not None:
        return existing, False
    report = await build_report(month)
    digest = report_sha256(report)
    document = await disclosure_pdf.render(report, digest)
    document_hash = hashlib.sha256(document).hexdigest()
    storage = get_storage()
    key = await storage.put(document)
    try:
        row = await MonthlyDisclosure.create(
            month=month,
            as_of=month_end(month),
            report=report,
            report_sha256=digest,
            signature=signing.sign(signed_payload(digest, document_hash, month)),
            pdf_storage_key=key,
            pdf_sha256=document_hash,
            pdf_size=len(document),
            created_at=await clock.now(),
        )
    except IntegrityError:
        await storage.delete(key)
        # Another worker stored this month first: its report stands.
        winner = await MonthlyDisclosure.get_or_none(month=month)
        if winner is None:
            raise
        return winner, False
    except BaseException:
        await storage.delete(key)
        raise
    logger.info("disclosure %s published: report sha256 %s", label(month), digest)
    return row, True


def is_intact(row: MonthlyDisclosure) -> bool:
    """Does the stored report still hash to its recorded hash, name its own month, and
    carry the platform's signature over both hashes and the month?"""
    return (
        report_sha256(row.report) == row.report_sha256
        and row.report.get("month") == label(row.month)
        and signing.verify(
            signed_payload(row.report_sha256, row.pdf_sha256, row.month), row.signature
        )
    )


def checked(row: MonthlyDisclosure) -> MonthlyDisclosure:
    """`row` if intact; DisclosureIntegrityError (logged as an error) if not."""
    if not is_intact(row):
        logger.error("disclosure %s fails its hash or signature check", label(row.month))
        raise DisclosureIntegrityError(
            f"The disclosure of {label(row.month)} no longer matches its signature"
        )
    return row


def report_json(row: MonthlyDisclosure) -> str:
    """The report in the canonical form its hash is taken over."""
    return canonical(row.report).decode()


async def list_disclosures(*, first: int) -> list[MonthlyDisclosure]:
    """The newest `first` reports (1..MAX_LISTED, else InvalidInputError on `first`),
    newest month first, each checked (DisclosureIntegrityError)."""
    if not 1 <= first <= MAX_LISTED:
        raise InvalidInputError(f"first must be between 1 and {MAX_LISTED}", field="first")
    rows = await MonthlyDisclosure.all().order_by("-month").limit(first)
    return [checked(row) for row in rows]


async def get_disclosure(*, month: date | None = None) -> MonthlyDisclosure | None:
    """The report of `month` (its first day, else InvalidInputError on `month`; None: the
    newest), checked (DisclosureIntegrityError); None when none was published."""
    if month is None:
        row = await MonthlyDisclosure.all().order_by("-month").first()
    elif month.day != 1:
        raise InvalidInputError("A month is named by its first day, as 2026-11-01", field="month")
    else:
        row = await MonthlyDisclosure.get_or_none(month=month)
    return None if row is None else checked(row)


async def read_pdf(month_label: str) -> tuple[MonthlyDisclosure, bytes]:
    """The PDF of the month "YYYY-MM", checked against the hash on record and the
    signature. Raises NotFoundError (no such month, or none published) and
    DisclosureIntegrityError."""
    found = _MONTH_LABEL.fullmatch(month_label)
    if found is None or int(found.group(1)) < 1 or not 1 <= int(found.group(2)) <= 12:
        raise NotFoundError("No such disclosure", field="month")
    row = await MonthlyDisclosure.get_or_none(
        month=date(int(found.group(1)), int(found.group(2)), 1)
    )
    if row is None:
        raise NotFoundError("No such disclosure", field="month")
    checked(row)
    try:
        document = await get_storage().get(row.pdf_storage_key)
    except StoredFileMissingError as error:
        logger.error("disclosure %s: the PDF is missing", month_label)
        raise DisclosureIntegrityError("The disclosure's PDF is missing") from error
    if len(document) != row.pdf_size or hashlib.sha256(document).hexdigest() != row.pdf_sha256:
        logger.error("disclosure %s: the PDF has changed", month_label)
        raise DisclosureIntegrityError("The disclosure's PDF has changed")
    return row, document
