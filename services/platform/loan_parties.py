"""When each loan ends, and whose loans they are (R6 counts its periods from there).

"The loan ends" (`loan_ends`): a SETTLED loan on the day its last installment was paid;
a FAILED, REJECTED or CANCELLED one on the day it closed (created, when it never
listed). Any other loan is still running. A party of a loan is its borrower, every
bidder and every claim holder (`Parties`). Used by the retention purge
(`services/jobs/retention_rows.py`) and by a member's deletion request
(`services/customers/member_data.py`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from tortoise.functions import Max

from models.bids import Bid, Claim
from models.loans import Loan, LoanStatus
from models.repayments import LoanInstallment
from services.platform.retention import Period

_CLOSED_UNFUNDED = (LoanStatus.FAILED, LoanStatus.REJECTED, LoanStatus.CANCELLED)


async def loan_ends(loan_ids: Collection[int] | None = None) -> dict[int, date | None]:
    """Every loan's end day (or these loans'), or None while it runs."""
    ends: dict[int, date | None] = {}
    settled = []
    loans = Loan.all() if loan_ids is None else Loan.filter(id__in=list(loan_ids))
    for loan_id, status, closed_at, created_at in await loans.values_list(
        "id", "status", "closed_at", "created_at"
    ):
        if status == LoanStatus.SETTLED:
            settled.append(loan_id)
            ends[loan_id] = closed_at.date() if closed_at else created_at.date()
        elif status in _CLOSED_UNFUNDED:
            ends[loan_id] = (closed_at or created_at).date()
        else:
            ends[loan_id] = None
    for row in (
        await LoanInstallment.filter(loan_id__in=settled, paid_on__isnull=False)
        .annotate(last=Max("paid_on"))
        .group_by("loan_id")
        .values("loan_id", "last")
    ):
        ends[row["loan_id"]] = max(row["last"], ends[row["loan_id"]] or row["last"])
    return ends


@dataclass
class Parties:
    """Each party's loan ends: `last_end[user]` the latest, users with a running loan in
    `running`."""

    last_end: dict[int, date] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)

    @classmethod
    async def load(cls, ends: dict[int, date | None]) -> Parties:
        return cls._of(await _links(), ends)

    @classmethod
    async def of_user(cls, user_id: int) -> Parties:
        """One person's loans only, and their ends (a member's own question)."""
        links = await _links(user_id)
        return cls._of(links, await loan_ends({loan_id for _user, loan_id in links}))

    @classmethod
    def _of(cls, links: set[tuple[int, int]], ends: dict[int, date | None]) -> Parties:
        parties = cls()
        for user_id, loan_id in links:
            end = ends.get(loan_id)
            if end is None:
                parties.running.add(user_id)
            elif end > parties.last_end.get(user_id, date.min):
                parties.last_end[user_id] = end
        return parties

    def passed(self, period: Period, today: date) -> list[int]:
        """The parties whose every loan has ended and the period has run out since the
        last end (the period's last day is before today)."""
        return sorted(
            user_id
            for user_id, end in self.last_end.items()
            if user_id not in self.running and today > period.ends_after(end)
        )

    def protected(self, user_id: int | None, period: Period, today: date) -> bool | None:
        """True for a party still inside the period, False for one past it, None for
        someone who was never a party."""
        if user_id is None or (user_id not in self.running and user_id not in self.last_end):
            return None
        if user_id in self.running:
            return True
        return not today > period.ends_after(self.last_end[user_id])


async def _links(user_id: int | None = None) -> set[tuple[int, int]]:
    """(party, loan): each loan's borrower, bidders and claim holders (one person's)."""
    links: set[tuple[int, int]] = set()
    for model, party, loan in (
        (Loan, "borrower_id", "id"),
        (Bid, "lender_id", "loan_id"),
        (Claim, "holder_id", "loan_id"),
    ):
        query = model.all() if user_id is None else model.filter(**{party: user_id})
        links.update(await query.values_list(party, loan))
    return links
