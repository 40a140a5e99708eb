"""The sandbox provider's accounts and cards."""

from __future__ import annotations

from datetime import date

from services.payments.provider import (
    ProviderResult,
    ProviderStatus,
    TransactionKind,
)
from services.payments.sandbox.common import (
    Balance,
    _balance,
    _check_text,
    _new_id,
    _Outcome,
    _result,
    check_request_id,
    luhn_valid,
    mask_card,
)
from services.payments.sandbox.engine import SandboxEngine
from services.payments.sandbox.store import Tx


class SandboxAccounts(SandboxEngine):
    """Accounts and cards: open an account, bind a card, read balances and records."""

    async def open_account(
        self, *, request_id: str, member_ref: str, real_name: str
    ) -> ProviderResult:
        """A virtual account for a member; one per member_ref. extra: account_id."""
        member_ref = _check_text("member_ref", member_ref)
        real_name = _check_text("real_name", real_name)

        async def action(tx: Tx, _today: date) -> _Outcome:
            existing = await tx.one("SELECT id FROM accounts WHERE member_ref = ?", (member_ref,))
            if existing is not None:
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id=existing["id"],
                    reason="member_ref already has an account",
                    extra={"account_id": existing["id"]},
                )
            account_id = _new_id("SBA")
            await tx.run(
                "INSERT INTO accounts (id, member_ref, real_name, created_at) VALUES (?, ?, ?, ?)",
                (account_id, member_ref, real_name, (await self._now()).isoformat()),
            )
            return _Outcome(
                ProviderStatus.SUCCEEDED, account_id=account_id, extra={"account_id": account_id}
            )

        content = {"member_ref": member_ref, "real_name": real_name}
        return await self._instruction(TransactionKind.OPEN_ACCOUNT, request_id, 0, content, action)

    async def bind_card(
        self,
        *,
        request_id: str,
        account_id: str,
        card_number: str,
        holder_name: str,
        holder_id_number: str,
        phone: str,
    ) -> ProviderResult:
        """Binds a bank card after verifying it: the holder name must equal the account's
        real name and the number must pass the Luhn check, else FAILED with the reason.
        Only the masked number is stored or returned. extra: card_id, card_masked."""
        account_id = _check_text("account_id", account_id)
        card_number = _check_text("card_number", card_number, max_length=32)
        holder_name = _check_text("holder_name", holder_name)
        holder_id_number = _check_text("holder_id_number", holder_id_number, max_length=32)
        phone = _check_text("phone", phone, max_length=32)

        async def action(tx: Tx, _today: date) -> _Outcome:
            account = await tx.one("SELECT real_name FROM accounts WHERE id = ?", (account_id,))
            if account is None:
                return _Outcome(ProviderStatus.FAILED, account_id, reason="unknown account")
            if not luhn_valid(card_number):
                return _Outcome(
                    ProviderStatus.FAILED, account_id, reason="card number fails the Luhn check"
                )
            if holder_name.strip() != account["real_name"]:
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    reason="holder name does not match the account owner",
                )
            card_id = _new_id("SBC")
            masked = mask_card(card_number)
            await tx.run(
                "INSERT INTO cards (id, account_id, card_masked, holder_name, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (card_id, account_id, masked, holder_name, (await self._now()).isoformat()),
            )
            return _Outcome(
                ProviderStatus.SUCCEEDED,
                account_id,
                extra={"account_id": account_id, "card_id": card_id, "card_masked": masked},
            )

        content = {
            "account_id": account_id,
            "card_number": card_number,
            "holder_name": holder_name,
            "holder_id_number": holder_id_number,
            "phone": phone,
        }
        return await self._instruction(TransactionKind.BIND_CARD, request_id, 0, content, action)

    async def query(self, *, request_id: str) -> ProviderResult | None:
        """The stored record of a request (its current state); None when never seen."""
        check_request_id(request_id)
        async with self.store.transaction() as tx:
            row = await tx.one("SELECT * FROM transactions WHERE request_id = ?", (request_id,))
        return None if row is None else _result(row)

    async def balances(self) -> list[Balance]:
        """Every virtual account, oldest first."""
        async with self.store.transaction() as tx:
            rows = await tx.all("SELECT * FROM accounts ORDER BY created_at, id")
        return [_balance(row) for row in rows]

    async def balance(self, account_id: str) -> Balance | None:
        """One virtual account; None when there is no such account."""
        async with self.store.transaction() as tx:
            row = await tx.one("SELECT * FROM accounts WHERE id = ?", (account_id,))
        return None if row is None else _balance(row)
