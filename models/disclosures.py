"""The monthly disclosure (R7): one signed report per calendar month, never changed; and
the daily snapshots of the platform's figures (M12) that the disclosure and the figure
queries read for a closed business day."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient


class ImmutableRecordError(Exception):
    """A published record was about to be written a second time."""


class MonthlyDisclosure(Model):
    """The R7 report of one month as of its last day, as the platform published it.

    `report` holds every item (amounts in fen, rates as decimal strings), `report_sha256`
    the SHA-256 of its canonical JSON, `signature` the platform's Ed25519 signature over
    that hash bound to the PDF's hash and the month. The PDF is stored once under
    `pdf_storage_key`. A row is written once and never updated (`month` is unique, so a
    second build of the same month writes nothing).
    """

    id = fields.BigIntField(primary_key=True)
    month = fields.DateField(unique=True)  # the first day of the month reported
    as_of = fields.DateField()  # the month's last day: the figures are at its end
    report: fields.JSONField[dict[str, Any]] = fields.JSONField()
    report_sha256 = fields.CharField(max_length=64)
    signature = fields.CharField(max_length=128)
    pdf_storage_key = fields.CharField(max_length=64, unique=True)
    pdf_sha256 = fields.CharField(max_length=64)
    pdf_size = fields.BigIntField()
    created_at = fields.DatetimeField()  # business time of the build

    class Meta:
        table = "monthly_disclosures"

    async def save(
        self,
        using_db: BaseDBAsyncClient | None = None,
        update_fields: Iterable[str] | None = None,
        force_create: bool = False,
        force_update: bool = False,
    ) -> None:
        # Published means final: an instance loaded from the table is never saved back.
        if self._saved_in_db:
            raise ImmutableRecordError(f"The disclosure of {self.month} is never changed")
        await super().save(using_db, update_fields, force_create, force_update)


class FigureSnapshot(Model):
    """One figure as of the end of a closed business day, stored the day after.

    The figure is `platform`, `risk` or `platform_returns`, as
    `services.analytics.snapshots` computed it. `payload` is the figure's dataclass as
    JSON (amounts in fen as integers, rates as decimal strings, dates ISO). (`day`,
    `figure`) is unique and a row is never updated: a second run of the job for a day
    inserts nothing."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    figure = fields.CharField(max_length=32)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField()  # business time of the computation

    class Meta:
        table = "figure_snapshots"
        unique_together = (("day", "figure"),)
