"""The sandbox provider's outside world: the bank, settlement runs, statements, callbacks."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from services.payments.provider import (
    DepositChannel,
    ProviderResult,
    ProviderStatus,
    SplitPart,
    StatementLine,
    TransactionKind,
    format_parts,
)
from services.payments.sandbox.common import (
    MOVEMENT_KINDS,
    STATEMENT_COLUMNS,
    CallbackRecord,
    StateConflictError,
    _result,
)
from services.payments.sandbox.engine import SandboxEngine
from services.payments.sandbox.store import Row, Tx

_BANK_PAGE_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class BankPayment:
    """A GATEWAY or POS deposit as the bank's page shows it to the member."""

    request_id: str
    provider_ref: str
    channel: DepositChannel
    amount_fen: int
    status: ProviderStatus
    reason: str
    holder_name: str  # the custody account's holder, as the provider knows them


def _parts(row: Row) -> tuple[SplitPart, ...]:
    if row["kind"] != TransactionKind.SPLIT:
        return ()
    return tuple(
        SplitPart(to_account_id=str(target), amount_fen=int(amount))
        for target, amount in json.loads(row["extra"])["parts"]
    )


DECLINED_AT_THE_BANK = "declined by the member at the bank"


class SandboxSettlement(SandboxEngine):
    """The outside world and the day's end: the bank paying or refusing, settlement runs, the
    statement file, callbacks waiting for delivery."""

    async def statement_lines(self, day: date) -> list[StatementLine]:
        """Every movement that SUCCEEDED with settlement day `day`, in settlement order,
        as the statement file reports it: amounts listed in the `alter_statement` fault
        are misreported. Money that never moved (FAILED, PENDING) is not listed; a
        withdrawal is listed on the day it settles, not the day it was accepted."""
        kinds = [kind.value for kind in MOVEMENT_KINDS]
        async with self.store.transaction() as tx:
            rows = await tx.all(
                "SELECT * FROM transactions WHERE settled_day = ? AND status = 'SUCCEEDED'"
                f" AND kind IN ({', '.join('?' for _ in kinds)}) ORDER BY settled_at, rowid",
                (day.isoformat(), *kinds),
            )
        altered = self._faults.alter_statement
        return [
            StatementLine(
                request_id=row["request_id"],
                kind=TransactionKind(row["kind"]),
                account_id=row["account_id"],
                counter_account_id=row["counter_account_id"],
                amount_fen=altered.get(row["request_id"], row["amount_fen"]),
                status=ProviderStatus(row["status"]),
                settled_at=datetime.fromisoformat(row["settled_at"]),
                parts=_parts(row),
            )
            for row in rows
        ]

    async def statement_csv(self, day: date) -> str:
        """The statement file: a header line, then one CSV line per `statement_lines`."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(STATEMENT_COLUMNS)
        for line in await self.statement_lines(day):
            writer.writerow(
                (
                    line.request_id,
                    line.kind.value,
                    line.account_id,
                    line.counter_account_id,
                    line.amount_fen,
                    line.status.value,
                    line.settled_at.isoformat(),
                    format_parts(line.parts),
                )
            )
        return buffer.getvalue()

    async def bank_pay(self, request_id: str) -> ProviderResult:
        """The member paid a pending GATEWAY/POS deposit: SUCCEEDED, available credited,
        callback delivered before this returns. NotFoundError / StateConflictError."""

        async def change(tx: Tx, row: Row) -> tuple[ProviderStatus, str]:
            if row["kind"] != TransactionKind.DEPOSIT or row["mode"] == DepositChannel.AUTO_DEBIT:
                raise StateConflictError("only GATEWAY and POS deposits are paid at the bank")
            await tx.run(
                "UPDATE accounts SET available_fen = available_fen + ? WHERE id = ?",
                (row["amount_fen"], row["account_id"]),
            )
            return ProviderStatus.SUCCEEDED, ""

        return await self._finish_pending(request_id, change)

    async def bank_reject(self, request_id: str, reason: str = "") -> ProviderResult:
        """The bank refused a pending deposit (FAILED, nothing credited) or bounced a
        pending withdrawal (FAILED, the amount returns to available); callback
        delivered before this returns."""

        async def change(tx: Tx, row: Row) -> tuple[ProviderStatus, str]:
            if row["kind"] == TransactionKind.WITHDRAW:
                await tx.run(
                    "UPDATE accounts SET available_fen = available_fen + ? WHERE id = ?",
                    (row["amount_fen"], row["account_id"]),
                )
            elif row["kind"] != TransactionKind.DEPOSIT:
                raise StateConflictError("only deposits and withdrawals are decided by the bank")
            return ProviderStatus.FAILED, reason or "rejected by the bank"

        return await self._finish_pending(request_id, change)

    async def bank_payment(self, token: str) -> BankPayment | None:
        """The payment whose bank page `token` opens (see `deposit`); None for a token
        the sandbox never issued."""
        if not _BANK_PAGE_TOKEN.fullmatch(token):
            return None
        async with self.store.transaction() as tx:
            row = await tx.one(
                "SELECT t.*, a.real_name FROM bank_pages p"
                " JOIN transactions t ON t.request_id = p.request_id"
                " LEFT JOIN accounts a ON a.id = t.account_id WHERE p.token = ?",
                (token,),
            )
        if row is None:
            return None
        return BankPayment(
            request_id=row["request_id"],
            provider_ref=row["provider_ref"],
            channel=DepositChannel(row["mode"]),
            amount_fen=row["amount_fen"],
            status=ProviderStatus(row["status"]),
            reason=row["reason"],
            holder_name=row["real_name"] or "",
        )

    async def decide_bank_payment(
        self, token: str, *, approve: bool
    ) -> tuple[BankPayment, bool] | None:
        """The member approves (`bank_pay`) or declines (`bank_reject`) the payment on
        its page; the callback is delivered before this returns. Returns the payment as
        it now stands and whether this call decided it: a payment already decided (a
        second click, another tab) is returned as it is and nothing changes. None for
        an unknown token."""
        payment = await self.bank_payment(token)
        if payment is None or payment.status != ProviderStatus.PENDING:
            return None if payment is None else (payment, False)
        try:
            if approve:
                await self.bank_pay(payment.request_id)
            else:
                await self.bank_reject(payment.request_id, DECLINED_AT_THE_BANK)
        except StateConflictError:
            decided = False  # decided meanwhile: the first answer stands
        else:
            decided = True
        now = await self.bank_payment(token)
        assert now is not None
        return now, decided

    async def settle(self, day: date | None = None) -> list[ProviderResult]:
        """The settlement run of `day` (default: today): every pending withdrawal due on
        or before `day` SUCCEEDS with settlement day `day`; callbacks are delivered
        before this returns. Returns the settled transactions."""
        run_day = day or await self._today()
        now = await self._now()
        events: list[str] = []
        async with self.store.transaction() as tx:
            rows = await tx.all(
                "SELECT * FROM transactions WHERE kind = 'WITHDRAW' AND status = 'PENDING'"
                " AND due_day <= ? ORDER BY created_at, rowid",
                (run_day.isoformat(),),
            )
            settled = []
            for row in rows:
                await tx.run(
                    "UPDATE transactions SET status = 'SUCCEEDED', settled_day = ?, settled_at = ?"
                    " WHERE request_id = ?",
                    (run_day.isoformat(), now.isoformat(), row["request_id"]),
                )
                updated = await tx.one(
                    "SELECT * FROM transactions WHERE request_id = ?", (row["request_id"],)
                )
                assert updated is not None
                settled.append(_result(updated))
                events += await self._record_callback(tx, updated, now)
        await self._after_commit(events, inline=True)
        return settled

    async def redeliver_pending(self) -> int:
        """Send every callback not yet delivered (and not dropped by the fault): oldest
        first, or newest first under `reorder_callbacks`. Returns how many were
        delivered now; the rest stay pending for the next call."""
        return await self._deliver(None, newest_first=self._faults.reorder_callbacks)

    async def callbacks(self) -> list[CallbackRecord]:
        """Every callback recorded, oldest first, with its delivery state."""
        async with self.store.transaction() as tx:
            rows = await tx.all("SELECT * FROM callbacks ORDER BY seq")
        return [
            CallbackRecord(
                event_id=row["event_id"],
                request_id=row["request_id"],
                status=ProviderStatus(json.loads(row["body"])["status"]),
                delivered=bool(row["delivered"]),
                dropped=bool(row["dropped"]),
                attempts=row["attempts"],
                last_error=row["last_error"],
            )
            for row in rows
        ]
