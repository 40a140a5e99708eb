"""The sandbox provider's outside world: the bank, settlement runs, statements, callbacks."""

from __future__ import annotations

import csv
import io
import json
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


def _parts(row: Row) -> tuple[SplitPart, ...]:
    if row["kind"] != TransactionKind.SPLIT:
        return ()
    return tuple(
        SplitPart(to_account_id=str(target), amount_fen=int(amount))
        for target, amount in json.loads(row["extra"])["parts"]
    )


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
