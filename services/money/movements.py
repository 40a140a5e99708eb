"""Money movements between virtual accounts (M4.5): the primitives bids, disbursement,
repayment, fees and compensation are built from.

Each call is one ledger journal plus one provider instruction, in the caller's
transaction, idempotent by `reference` (the journal key). If the provider refuses the
movement, the handler below reverses the journal, so the ledger keeps mirroring the
provider. Callers call `instructions.wake()` after their commit.
"""

from __future__ import annotations

import logging

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


async def _provider_account(owner: str) -> str:
    if owner.startswith("p:") and owner not in PLATFORM_WHITELIST:
        raise DomainError(f"{owner} is not a whitelisted counterparty", code="NOT_WHITELISTED")
    account = await ProviderAccount.get_or_none(owner_code=owner)
    if account is None or account.status != "open" or not account.provider_account_id:
        raise DomainError(f"No open provider account for {owner}", code="ACCOUNT_NOT_OPEN")
    return account.provider_account_id


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
    if (from_user_id is None) == (from_platform is None) or (to_user_id is None) == (
        to_platform is None
    ):
        raise ValueError("give exactly one source and one destination")
    if from_user_id is not None:
        source = ledger.frozen(from_user_id) if from_frozen else ledger.available(from_user_id)
        source_owner = _owner(from_user_id)
    else:
        assert from_platform is not None
        source, source_owner = from_platform, from_platform
    if to_user_id is not None:
        target, target_owner = ledger.available(to_user_id), _owner(to_user_id)
    else:
        assert to_platform is not None
        target, target_owner = to_platform, to_platform
    await ledger.post(key=reference, kind=kind, entries=[(source, -amount), (target, amount)])
    return await instructions.create(
        kind=TransactionKind.TRANSFER,
        business_ref=f"movement:{reference}",
        amount=amount,
        params={
            "from_account_id": await _provider_account(source_owner),
            "to_account_id": await _provider_account(target_owner),
            "from_frozen": from_frozen,
            "source": source,
            "target": target,
        },
    )


@instructions.on_outcome("movement")
async def _movement_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    if outcome.status != ProviderStatus.FAILED:
        return
    # The provider did not move the money: undo the journal so the ledger agrees.
    reference = instruction.business_ref.split(":", 1)[1]
    params = instruction.params
    kind = TransactionKind(instruction.kind)
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
    try:
        await ledger.post(key=f"{reference}:reversed", kind="movement_reversed", entries=entries)
    except ledger.InsufficientFundsError:
        # The credited side was already used: the ledger cannot follow the provider on
        # its own. The difference stays visible to reconciliation as a break for finance
        # to correct (maker-checker adjustment).
        logger.error("movement %s failed at the provider and cannot be reversed", reference)
