"""The sandbox provider's money movements: deposit, withdraw, freeze, unfreeze, transfer,
split."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from services.payments.provider import (
    DepositChannel,
    ProviderResult,
    ProviderStatus,
    SplitPart,
    TransactionKind,
    WithdrawSpeed,
)
from services.payments.sandbox.common import (
    BANK_PAGES_PREFIX,
    MAX_AMOUNT_FEN,
    InvalidRequestError,
    _check_amount,
    _check_enum,
    _check_text,
    _Outcome,
    bank_page_token,
    due_day,
)
from services.payments.sandbox.engine import SandboxEngine
from services.payments.sandbox.store import Tx


class SandboxMovements(SandboxEngine):
    """Money movements the platform instructs: deposit, withdraw, freeze, unfreeze, transfer."""

    async def deposit(
        self,
        *,
        request_id: str,
        account_id: str,
        amount_fen: int,
        channel: DepositChannel,
        card_id: str | None = None,
    ) -> ProviderResult:
        """GATEWAY and POS: PENDING with extra pay_url (the bank's page for this payment,
        opened by its unguessable token) until the bank pays or rejects.
        AUTO_DEBIT: debits a card bound to the account and SUCCEEDS at once (FAILED
        without one). extra: account_id, and pay_url or card_id."""
        account_id = _check_text("account_id", account_id)
        amount_fen = _check_amount(amount_fen)
        channel = _check_enum(DepositChannel, "channel", channel)
        if card_id is not None:
            card_id = _check_text("card_id", card_id)

        async def action(tx: Tx, _today: date) -> _Outcome:
            if await tx.one("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                return _Outcome(ProviderStatus.FAILED, account_id, reason="unknown account")
            if channel != DepositChannel.AUTO_DEBIT:
                # The member's page at the bank: only its unguessable token opens it.
                token = bank_page_token()
                await tx.run(
                    "INSERT INTO bank_pages (token, request_id) VALUES (?, ?)", (token, request_id)
                )
                pay_url = f"{self._public_url}{BANK_PAGES_PREFIX}/pay/{token}"
                return _Outcome(
                    ProviderStatus.PENDING,
                    account_id,
                    mode=channel,
                    extra={"account_id": account_id, "pay_url": pay_url},
                )
            if card_id is None:
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    mode=channel,
                    reason="auto-debit needs a bound card",
                )
            if not await self._card_bound(tx, card_id, account_id):
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    mode=channel,
                    reason="card is not bound to this account",
                )
            await tx.run(
                "UPDATE accounts SET available_fen = available_fen + ? WHERE id = ?",
                (amount_fen, account_id),
            )
            return _Outcome(
                ProviderStatus.SUCCEEDED,
                account_id,
                mode=channel,
                extra={"account_id": account_id, "card_id": card_id},
            )

        content = {"account_id": account_id, "channel": channel.value, "card_id": card_id}
        return await self._instruction(
            TransactionKind.DEPOSIT, request_id, amount_fen, content, action
        )

    async def withdraw(
        self,
        *,
        request_id: str,
        account_id: str,
        card_id: str,
        amount_fen: int,
        speed: WithdrawSpeed,
    ) -> ProviderResult:
        """Pays out to a bound card. Accepting it takes the amount from available at once
        (FAILED with nothing moved when available is short). REALTIME: SUCCEEDED now;
        T0: PENDING until that day's settlement run; T1: PENDING until the next business
        day's run. extra: account_id, card_id, and due_day when pending."""
        account_id = _check_text("account_id", account_id)
        card_id = _check_text("card_id", card_id)
        amount_fen = _check_amount(amount_fen)
        speed = _check_enum(WithdrawSpeed, "speed", speed)

        async def action(tx: Tx, today: date) -> _Outcome:
            if await tx.one("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                return _Outcome(ProviderStatus.FAILED, account_id, reason="unknown account")
            if not await self._card_bound(tx, card_id, account_id):
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    mode=speed,
                    reason="card is not bound to this account",
                )
            if not await self._move(tx, account_id, "available_fen", None, amount_fen):
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    mode=speed,
                    reason="insufficient available balance",
                )
            extra: dict[str, Any] = {"account_id": account_id, "card_id": card_id}
            if speed == WithdrawSpeed.REALTIME:
                return _Outcome(ProviderStatus.SUCCEEDED, account_id, mode=speed, extra=extra)
            due = due_day(speed, today)
            extra["due_day"] = due.isoformat()
            return _Outcome(
                ProviderStatus.PENDING, account_id, mode=speed, extra=extra, due_day=due
            )

        content = {"account_id": account_id, "card_id": card_id, "speed": speed.value}
        return await self._instruction(
            TransactionKind.WITHDRAW, request_id, amount_fen, content, action
        )

    async def freeze(self, *, request_id: str, account_id: str, amount_fen: int) -> ProviderResult:
        """available -> frozen in one account; FAILED when available is short."""
        return await self._shift(
            TransactionKind.FREEZE, request_id, account_id, amount_fen, "available_fen"
        )

    async def unfreeze(
        self, *, request_id: str, account_id: str, amount_fen: int
    ) -> ProviderResult:
        """frozen -> available in one account; FAILED when frozen is short."""
        return await self._shift(
            TransactionKind.UNFREEZE, request_id, account_id, amount_fen, "frozen_fen"
        )

    async def _shift(
        self,
        kind: TransactionKind,
        request_id: str,
        account_id: str,
        amount_fen: int,
        source: str,
    ) -> ProviderResult:
        account_id = _check_text("account_id", account_id)
        amount_fen = _check_amount(amount_fen)
        target = "frozen_fen" if source == "available_fen" else "available_fen"

        async def action(tx: Tx, _today: date) -> _Outcome:
            if await tx.one("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                return _Outcome(ProviderStatus.FAILED, account_id, reason="unknown account")
            if not await self._move(tx, account_id, source, (account_id, target), amount_fen):
                balance = "available" if source == "available_fen" else "frozen"
                return _Outcome(
                    ProviderStatus.FAILED, account_id, reason=f"insufficient {balance} balance"
                )
            return _Outcome(ProviderStatus.SUCCEEDED, account_id, extra={"account_id": account_id})

        content = {"account_id": account_id}
        return await self._instruction(kind, request_id, amount_fen, content, action)

    async def transfer(
        self,
        *,
        request_id: str,
        from_account_id: str,
        to_account_id: str,
        amount_fen: int,
        from_frozen: bool = False,
    ) -> ProviderResult:
        """Moves money from one account's available (or frozen, when from_frozen) to
        another's available; FAILED with nothing moved when the source is short."""
        from_account_id = _check_text("from_account_id", from_account_id)
        to_account_id = _check_text("to_account_id", to_account_id)
        amount_fen = _check_amount(amount_fen)
        if not isinstance(from_frozen, bool):
            raise InvalidRequestError("from_frozen must be true or false")
        if from_account_id == to_account_id:
            raise InvalidRequestError("from_account_id and to_account_id must differ")
        source = "frozen_fen" if from_frozen else "available_fen"

        async def action(tx: Tx, _today: date) -> _Outcome:
            for account_id in (from_account_id, to_account_id):
                if await tx.one("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                    return _Outcome(
                        ProviderStatus.FAILED,
                        from_account_id,
                        to_account_id,
                        reason=f"unknown account {account_id}",
                    )
            moved = await self._move(
                tx, from_account_id, source, (to_account_id, "available_fen"), amount_fen
            )
            if not moved:
                balance = "frozen" if from_frozen else "available"
                return _Outcome(
                    ProviderStatus.FAILED,
                    from_account_id,
                    to_account_id,
                    mode=source,
                    reason=f"insufficient {balance} balance",
                )
            return _Outcome(
                ProviderStatus.SUCCEEDED,
                from_account_id,
                to_account_id,
                mode=source,
                extra={"from_frozen": from_frozen},
            )

        content = {
            "from_account_id": from_account_id,
            "to_account_id": to_account_id,
            "from_frozen": from_frozen,
        }
        return await self._instruction(
            TransactionKind.TRANSFER, request_id, amount_fen, content, action
        )

    async def split(
        self,
        *,
        request_id: str,
        from_account_id: str,
        parts: Sequence[SplitPart],
        from_frozen: bool = False,
    ) -> ProviderResult:
        """Moves money from one account's available (or frozen) to several accounts'
        available at once (分账): every part or none. FAILED with nothing moved when the
        source is short or an account is unknown. The parts are kept in `extra` and
        listed on the statement."""
        from_account_id = _check_text("from_account_id", from_account_id)
        if not isinstance(from_frozen, bool):
            raise InvalidRequestError("from_frozen must be true or false")
        checked = _check_parts(from_account_id, parts)
        total = sum(amount for _target, amount in checked)
        if total > MAX_AMOUNT_FEN:
            raise InvalidRequestError("the parts add up to too much")
        source = "frozen_fen" if from_frozen else "available_fen"
        listed = [[target, amount] for target, amount in checked]

        async def action(tx: Tx, _today: date) -> _Outcome:
            accounts = [from_account_id, *(target for target, _amount in checked)]
            known = {
                row["id"]
                for row in await tx.all(
                    f"SELECT id FROM accounts WHERE id IN ({', '.join('?' for _ in accounts)})",
                    accounts,
                )
            }
            unknown = [account for account in accounts if account not in known]
            if unknown:
                return _Outcome(
                    ProviderStatus.FAILED, from_account_id, reason=f"unknown account {unknown[0]}"
                )
            if not await self._move(tx, from_account_id, source, None, total):
                balance = "frozen" if from_frozen else "available"
                return _Outcome(
                    ProviderStatus.FAILED,
                    from_account_id,
                    mode=source,
                    reason=f"insufficient {balance} balance",
                )
            await tx.run_many(
                "UPDATE accounts SET available_fen = available_fen + ? WHERE id = ?",
                [(amount, target) for target, amount in checked],
            )
            return _Outcome(
                ProviderStatus.SUCCEEDED,
                from_account_id,
                mode=source,
                extra={"parts": listed, "from_frozen": from_frozen},
            )

        content = {"from_account_id": from_account_id, "parts": listed, "from_frozen": from_frozen}
        return await self._instruction(TransactionKind.SPLIT, request_id, total, content, action)


MAX_SPLIT_PARTS = 1000


def _check_parts(source: str, parts: Any) -> list[tuple[str, int]]:
    """A split's parts as (target, fen): 1 to MAX_SPLIT_PARTS of them, distinct targets,
    none the source. InvalidRequestError otherwise."""
    if not isinstance(parts, (list, tuple)) or not parts:
        raise InvalidRequestError("parts must be a non-empty list")
    if len(parts) > MAX_SPLIT_PARTS:
        raise InvalidRequestError(f"at most {MAX_SPLIT_PARTS} parts")
    checked: list[tuple[str, int]] = []
    for part in parts:
        if not isinstance(part, SplitPart):
            raise InvalidRequestError("each part needs to_account_id and amount_fen")
        checked.append(
            (_check_text("to_account_id", part.to_account_id), _check_amount(part.amount_fen))
        )
    targets = [target for target, _amount in checked]
    if len(set(targets)) != len(targets):
        raise InvalidRequestError("a split pays each account once")
    if source in targets:
        raise InvalidRequestError("a split never pays its own source")
    return checked
