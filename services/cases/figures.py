"""The complaints' figures of the staff dashboard (M5.3, M12.4), at business time now,
in one statement: complaints not closed, those waiting for the platform past their SLA
now, complaints opened today (from 00:00 UTC of the business date), and the average
time from opening to the first staff answer (or closing) over the complaints answered,
in whole seconds (None while none was)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

from tortoise import connections

from models.cases import CaseKind, CaseStatus


@dataclass(frozen=True)
class ComplaintFigures:
    open: int
    breaching: int
    opened_today: int
    average_first_answer_seconds: Decimal | None  # exact: rounded once, where shown


async def complaint_figures(now: datetime) -> ComplaintFigures:
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"

    def p(number: int) -> str:
        return f"${number}" if postgres else f"?{number}"

    start = datetime.combine(now.date(), time(), tzinfo=UTC)
    rows = await connection.execute_query_dict(
        f"""SELECT
  COUNT(CASE WHEN status <> {p(2)} THEN 1 END) AS open_n,
  COUNT(CASE WHEN status = {p(3)} AND due_at <= {p(4)} THEN 1 END) AS breaching_n,
  COUNT(CASE WHEN opened_at >= {p(5)} AND opened_at <= {p(4)} THEN 1 END) AS today_n,
  AVG(first_answer_seconds) AS first_answer
FROM service_cases WHERE kind = {p(1)}""",
        [str(CaseKind.COMPLAINT), str(CaseStatus.CLOSED), str(CaseStatus.OPEN), now, start],
    )
    row = rows[0]
    average = row["first_answer"]
    return ComplaintFigures(
        open=int(row["open_n"] or 0),
        breaching=int(row["breaching_n"] or 0),
        opened_today=int(row["today_n"] or 0),
        average_first_answer_seconds=None if average is None else Decimal(str(average)),
    )
