"""The simulation's checks of advances: the risk reserve's (and, with guarantees, a
guarantee company's compensation); called by `invariants.check_all`."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from models.repayments import LoanInstallment, Receipt, Repayment, ReserveAdvance
from services.money import ledger
from simulation.broken import holds


async def reserve(book: Any) -> None:
    """`reserve.accounts_for_itself` and `reserve.advances_on_time` (`invariants.Book`)."""
    details = cast(
        list[dict[str, Any]],
        await Repayment.filter(status="DONE").values_list("details", flat=True),
    )
    fee_shares = sum(int(detail.get("reserve_fen", 0)) for detail in details)
    recovered = sum(
        principal + interest
        for principal, interest in await Receipt.filter(
            to_reserve=True, recoverer=ledger.RISK_RESERVE
        ).values_list("principal_fen", "interest_fen")
    )
    amounts = await ReserveAdvance.filter(recoverer=ledger.RISK_RESERVE).values_list(
        "principal_fen", "interest_fen"
    )
    advanced = sum(principal + interest for principal, interest in amounts)
    balance = await ledger.balance(ledger.RISK_RESERVE)
    expected = book.reserve_funded_fen + fee_shares + recovered - advanced
    holds(
        balance == expected and balance >= 0,
        "reserve.accounts_for_itself",
        f"balance {balance}; funding {book.reserve_funded_fen} + fee shares {fee_shares} "
        f"+ recovered {recovered} - advanced {advanced} = {expected}",
    )
    new = await ReserveAdvance.filter(
        id__gt=book.last_advance_checked, recoverer=ledger.RISK_RESERVE
    ).order_by("id")
    due = dict(
        cast(
            list[tuple[int, date]],
            await LoanInstallment.filter(id__in=[a.installment_id for a in new]).values_list(
                "id", "due_date"
            ),
        )
    )
    for advance in new:
        late = (advance.created_at.date() - due[advance.installment_id]).days
        holds(
            late >= book.advance_after_days,
            "reserve.advances_on_time",
            f"advance {advance.id} after {late} days",
        )
        pair = (advance.installment_id, advance.claim_id)
        holds(
            pair not in book.advances_checked,
            "reserve.advances_on_time",
            f"advanced twice: {pair}",
        )
        book.advances_checked.add(pair)
        book.last_advance_checked = advance.id
