"""Money movements between virtual accounts (M4.5): the primitives bids, disbursement,
repayment, fees and compensation are built from.

Each call is one ledger journal plus one provider instruction, in the caller's
transaction, idempotent by `reference` (the journal key). If the provider refuses the
movement, the handler below reverses the journal, so the ledger keeps mirroring the
provider. Callers call `instructions.wake()` after their commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from models.payments import PaymentInstruction, ProviderAccount
from services.errors import DomainError
from services.money import ledger
from services.payments import instructions
from services.payments.instructions import Outcome
from services.payments.provider import ProviderStatus, TransactionKind

logger = logging.getLogger(__name__)

# Counterparties allowed for platform accounts (M4.8 whitelist): money moves only
# between members' own virtual accounts and these platform accounts.
PLATFORM_WHITELIST = (ledger.FEE, ledger.RISK_RESERVE, ledger.GUARANTEE_FUND, ledger.MARGIN)


def _whitelisted(owner: str) -> None:
    if owner.startswith("p:") and owner not in PLATFORM_WHITELIST:
        raise DomainError(f"{owner} is not a whitelisted counterparty", code="NOT_WHITELISTED")


def _open_account(owner: str, account: ProviderAccount | None) -> str:
    if account is None or account.status != "open" or not account.provider_account_id:
        raise DomainError(f"No open provider account for {owner}", code="ACCOUNT_NOT_OPEN")
    return account.provider_account_id


async def _provider_account(owner: str) -> str:
    _whitelisted(owner)
    return _open_account(owner, await ProviderAccount.get_or_none(owner_code=owner))


async def _provider_accounts(owners: set[str]) -> dict[str, str]:
    """The provider account id of each owner, in one query (as `_provider_account`)."""
    for owner in sorted(owners):
        _whitelisted(owner)
    found = {
        account.owner_code: account
        for account in await ProviderAccount.filter(owner_code__in=sorted(owners))
    }
    return {owner: _open_account(owner, found.get(owner)) for owner in owners}


def _owner(user_id: int) -> str:
    return f"m:{user_id}"


async def freeze(*, user_id: int, amount: int, reference: str) -> PaymentInstruction:
    """available → frozen (e.g. a confirmed bid). Raises InsufficientFundsError."""
    await ledger.post(
        key=reference,
        kind="freeze",
        entries=[(ledger.available(user_id), -amount), (ledger.frozen(user_id), amount)],
    )
    return await instructions.create(
        kind=TransactionKind.FREEZE,
        business_ref=f"movement:{reference}",
        amount=amount,
        params={"account_id": await _provider_account(_owner(user_id)), "user_id": user_id},
    )


async def unfreeze(*, user_id: int, amount: int, reference: str) -> PaymentInstruction:
    """frozen → available (e.g. a failed listing releases a bid)."""
    await ledger.post(
        key=reference,
        kind="unfreeze",
        entries=[(ledger.frozen(user_id), -amount), (ledger.available(user_id), amount)],
    )
    return await instructions.create(
        kind=TransactionKind.UNFREEZE,
        business_ref=f"movement:{reference}",
        amount=amount,
        params={"account_id": await _provider_account(_owner(user_id)), "user_id": user_id},
    )


async def freeze_org(*, code: str, amount: int, reference: str) -> PaymentInstruction:
    """An organisation's available (`g:<id>`) → its margin (`g:<id>:margin`): FREEZE on
    its custody account. Raises InsufficientFundsError."""
    await ledger.post(
        key=reference,
        kind="margin_fund",
        entries=[(code, -amount), (ledger.org_margin(code), amount)],
    )
    return await instructions.create(
        kind=TransactionKind.FREEZE,
        business_ref=f"movement:{reference}",
        amount=amount,
        params={"account_id": await _provider_account(code), "owner": code},
    )


async def unfreeze_org(*, code: str, amount: int, reference: str) -> PaymentInstruction:
    """An organisation's margin → its available: UNFREEZE on its custody account."""
    await ledger.post(
        key=reference,
        kind="margin_release",
        entries=[(ledger.org_margin(code), -amount), (code, amount)],
    )
    return await instructions.create(
        kind=TransactionKind.UNFREEZE,
        business_ref=f"movement:{reference}",
        amount=amount,
        params={"account_id": await _provider_account(code), "owner": code},
    )


@dataclass(frozen=True)
class Transfer:
    """One transfer of `transfers`: the same arguments as `transfer`."""

    amount: int
    reference: str
    from_user_id: int | None = None
    to_user_id: int | None = None
    from_frozen: bool = False
    from_platform: str | None = None
    to_platform: str | None = None
    kind: str = "transfer"


def _ends(move: Transfer) -> tuple[str, str, str, str]:
    """The ledger source and target and their owners (provider accounts) of `move`."""
    if (move.from_user_id is None) == (move.from_platform is None) or (move.to_user_id is None) == (
        move.to_platform is None
    ):
        raise ValueError("give exactly one source and one destination")
    if move.from_user_id is not None:
        source = (
            ledger.frozen(move.from_user_id)
            if move.from_frozen
            else ledger.available(move.from_user_id)
        )
        source_owner = _owner(move.from_user_id)
    else:
        assert move.from_platform is not None
        source = source_owner = move.from_platform
    if move.to_user_id is not None:
        target, target_owner = ledger.available(move.to_user_id), _owner(move.to_user_id)
    else:
        assert move.to_platform is not None
        target = target_owner = move.to_platform
    return source, source_owner, target, target_owner


def _transfer_params(
    move: Transfer, ends: tuple[str, str, str, str], accounts: dict[str, str]
) -> dict[str, object]:
    source, source_owner, target, target_owner = ends
    return {
        "from_account_id": accounts[source_owner],
        "to_account_id": accounts[target_owner],
        "from_frozen": move.from_frozen,
        "source": source,
        "target": target,
    }


async def transfer(
    *,
    from_user_id: int | None,
    to_user_id: int | None,
    amount: int,
    reference: str,
    from_frozen: bool = False,
    from_platform: str | None = None,
    to_platform: str | None = None,
    kind: str = "transfer",
) -> PaymentInstruction:
    """Between two virtual accounts: a member's available (or frozen) or a whitelisted
    platform account, to a member's available or a whitelisted platform account."""
    move = Transfer(
        amount=amount,
        reference=reference,
        from_user_id=from_user_id,
        to_user_id=to_user_id,
        from_frozen=from_frozen,
        from_platform=from_platform,
        to_platform=to_platform,
        kind=kind,
    )
    ends = _ends(move)
    source, source_owner, target, target_owner = ends
    await ledger.post(key=reference, kind=kind, entries=[(source, -amount), (target, amount)])
    accounts = {owner: await _provider_account(owner) for owner in (source_owner, target_owner)}
    return await instructions.create(
        kind=TransactionKind.TRANSFER,
        business_ref=f"movement:{reference}",
        amount=amount,
        params=_transfer_params(move, ends, accounts),
    )


async def split(moves: Sequence[Transfer], *, reference: str) -> None:
    """Several transfers from one source (a member's available or frozen balance, or a
    platform account) as one SPLIT at the provider: all the parts move or none. The
    ledger keeps a journal per transfer, all written by one `post_many` (a holder's
    statement shows their own receipt); the instruction pays each target account the
    sum of its transfers (two parts to the risk reserve are one credit there) and lists
    the journals, so a refusal reverses each of them. Idempotent by `reference` (the
    instruction's) and by each transfer's reference (its journal's)."""
    await split_many([(moves, reference)])


async def split_many(splits: Sequence[tuple[Sequence[Transfer], str]]) -> None:
    """Several `split`s in their order, as one `post_many` (every journal, the running
    balances as if one after the other), one read of the provider accounts and one
    statement for the instructions: a day's repayment batch. Each (moves, reference) is
    one SPLIT at the provider; an empty one writes nothing."""
    splits = [(moves, reference) for moves, reference in splits if moves]
    if not splits:
        return
    planned = []
    for moves, reference in splits:
        ends = [_ends(move) for move in moves]
        sources = {
            (source, source_owner, move.from_frozen)
            for move, (source, source_owner, _t, _o) in zip(moves, ends, strict=True)
        }
        if len(sources) != 1:
            raise ValueError("a split has one source")
        planned.append((moves, reference, ends, *sources.pop()))
    await ledger.post_many(
        [
            ledger.JournalLines(
                move.reference, move.kind, [(source, -move.amount), (target, move.amount)]
            )
            for moves, _ref, ends, source, _owner, _frozen in planned
            for move, (_s, _from, target, _to) in zip(moves, ends, strict=True)
        ],
        answer=False,
    )
    accounts = await _provider_accounts(
        {owner for *_rest, owner, _frozen in planned}
        | {end[3] for _m, _r, ends, *_rest in planned for end in ends}
    )
    asked = []
    for moves, reference, ends, source, source_owner, from_frozen in planned:
        credits: dict[str, int] = {}
        for move, (_s, _from, _target, target_owner) in zip(moves, ends, strict=True):
            if target_owner == source_owner:
                raise ValueError("a split never pays its own source")
            account = accounts[target_owner]
            credits[account] = credits.get(account, 0) + move.amount
        asked.append(
            instructions.Instruction(
                kind=TransactionKind.SPLIT,
                business_ref=f"movement:{reference}",
                amount=sum(move.amount for move in moves),
                params={
                    "from_account_id": accounts[source_owner],
                    "from_frozen": from_frozen,
                    "source": source,
                    "parts": [
                        {"to_account_id": account, "amount": amount}
                        for account, amount in credits.items()
                    ],
                    "journals": [
                        {"key": move.reference, "target": target, "amount": move.amount}
                        for move, (_s, _from, target, _to) in zip(moves, ends, strict=True)
                    ],
                },
            )
        )
    await instructions.create_many(asked)


def _reversal(instruction: PaymentInstruction) -> list[ledger.JournalLines]:
    """The journals that undo what `instruction` posted, for a movement the provider
    refused: one for a transfer, freeze or unfreeze; one per transfer of a split."""
    reference = instruction.business_ref.split(":", 1)[1]
    params = instruction.params
    kind = TransactionKind(instruction.kind)
    if kind == TransactionKind.SPLIT:
        source = str(params["source"])
        return [
            ledger.JournalLines(
                f"{journal['key']}:reversed",
                "movement_reversed",
                [
                    (source, int(journal["amount"])),
                    (str(journal["target"]), -int(journal["amount"])),
                ],
            )
            for journal in params["journals"]
        ]
    if kind == TransactionKind.TRANSFER:
        entries = [
            (str(params["source"]), instruction.amount),
            (str(params["target"]), -instruction.amount),
        ]
    else:
        user_id = int(params["user_id"])
        sign = 1 if kind == TransactionKind.FREEZE else -1
        entries = [
            (ledger.available(user_id), sign * instruction.amount),
            (ledger.frozen(user_id), -sign * instruction.amount),
        ]
    return [ledger.JournalLines(f"{reference}:reversed", "movement_reversed", entries)]


@instructions.on_outcome("movement")
async def _movement_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    if outcome.status != ProviderStatus.FAILED:
        return
    # The provider did not move the money: undo the journals so the ledger agrees.
    reversal = _reversal(instruction)
    try:
        await ledger.post_many(reversal)
    except ledger.InsufficientFundsError:
        # Not all at once: undo what still can be, one journal at a time.
        for journal in reversal:
            try:
                await ledger.post_many([journal])
            except ledger.InsufficientFundsError:
                _cannot_reverse(journal)


def _cannot_reverse(journal: ledger.JournalLines) -> None:
    # The credited side was already used: the ledger cannot follow the provider on its
    # own. The difference stays visible to reconciliation as a break for finance to
    # correct (maker-checker adjustment).
    logger.error("movement %s failed at the provider and cannot be reversed", journal.key)
