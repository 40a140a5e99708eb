"""Maker-checker adjustments (M10.3): manual corrections when the platform and the
provider disagree.

One staff member proposes signed ledger entries that sum to zero, another approves (or
rejects) them. Approval posts exactly one journal (key `adjustment:<id>`).
What approval does at the provider depends on why the adjustment exists:

- Linked to a break: the provider holds the truth of money (architecture "Ledger and
  settlement"), and the break says the ledger does not mirror it (a movement the
  platform missed, another amount, another status). The journal brings the ledger in
  line, and nothing moves at the provider. The break becomes RESOLVED. With no entries
  at all, the proposal accepts the break as it is (e.g. the statement file misreported
  an amount the balances show was moved right): approval marks it ACCEPTED.
- Not linked to a break: a correction between parties (refund a fee, pay from the risk
  reserve). The money must move at the provider too: approval also writes one provider
  transfer per (debited account, credited account) pair, so only members' available
  accounts and the whitelisted platform accounts may take part (M4.8). If the provider
  refuses a transfer, its part of the journal is reversed, as for any movement.
  When the provider took a different amount than intended, correct in two steps: a
  break-linked adjustment mirrors what happened, then an unlinked one moves it back.

An adjustment never takes money from a member (the sum of its entries on that member's
accounts is negative) without that member's consent: a PendingOperation of kind
ADJUSTMENT_CONSENT of that member, for exactly that amount, CONFIRMED by the member's
SMS code (`request_member_consent` sends it, `confirmation.confirm_operation` confirms it),
used by no other adjustment. Without it the proposal is refused with
MEMBER_CONSENT_REQUIRED. Maker and checker must be different people (SAME_PERSON).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from tortoise.transactions import in_transaction

from models.finance import Adjustment, AdjustmentStatus, BreakState, ReconciliationBreak
from models.ledger import AccountKind, LedgerAccount
from models.members import User, UserKind
from models.payments import PaymentInstruction, PendingOperation, ProviderAccount
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor
from services.money import idempotency, ledger
from services.money.accounts import validate_amount
from services.operations.confirmation import open_operation, send_operation_code
from services.operations.registry import describe_operation
from services.pages import Page
from services.payments import instructions
from services.payments.instructions import Outcome
from services.payments.provider import ProviderStatus, TransactionKind
from services.platform import notifier
from services.platform.clock import system_now

logger = logging.getLogger(__name__)

CONSENT_KIND = "ADJUSTMENT_CONSENT"
MAX_ENTRIES = 20
# Accounts money may move between at the provider (members' own virtual accounts and the
# whitelisted platform accounts).
MOVABLE_KINDS = frozenset(
    {
        AccountKind.MEMBER_AVAILABLE,
        AccountKind.PLATFORM_FEE,
        AccountKind.RISK_RESERVE,
        AccountKind.GUARANTEE_FUND,
        AccountKind.MARGIN,
    }
)


def _member_of(code: str) -> int | None:
    if not code.startswith("m:"):
        return None
    return int(code.split(":")[1])


def _validate_entries(entries: Sequence[tuple[str, int]], *, has_break: bool) -> None:
    if not entries and not has_break:
        raise InvalidInputError("An adjustment without a break needs entries", field="entries")
    if len(entries) > MAX_ENTRIES:
        raise InvalidInputError(f"At most {MAX_ENTRIES} entries", field="entries")
    codes = [code for code, _amount in entries]
    if len(set(codes)) != len(codes):
        raise InvalidInputError("Each account may appear once", field="entries")
    if any(amount == 0 for _code, amount in entries):
        raise InvalidInputError("An entry of 0.00 moves nothing", field="entries")
    if sum(amount for _code, amount in entries) != 0:
        raise DomainError("The entries must sum to 0.00", code="UNBALANCED", field="entries")


def _member_debits(entries: Sequence[tuple[str, int]]) -> dict[int, int]:
    """member id -> fen the adjustment takes from them (their entries' sum, if negative)."""
    net: dict[int, int] = defaultdict(int)
    for code, amount in entries:
        member = _member_of(code)
        if member is not None:
            net[member] += amount
    return {member: -total for member, total in net.items() if total < 0}


async def _check_consent(
    entries: Sequence[tuple[str, int]],
    consent_id: str | None,
    *,
    adjustment_id: int | None = None,
) -> uuid.UUID | None:
    """The consent operation covering the member debit (None when nobody is debited).
    Raises DomainError MEMBER_CONSENT_REQUIRED."""
    debits = _member_debits(entries)
    if not debits:
        return None
    field = "memberConsentOperationId"
    if len(debits) > 1:
        raise DomainError(
            "An adjustment may take money from one member only, with their consent",
            code="MEMBER_CONSENT_REQUIRED",
            field="entries",
        )
    [(member, amount)] = debits.items()
    refused = DomainError(
        f"Taking {amount} fen from member {member} needs that member's confirmed consent",
        code="MEMBER_CONSENT_REQUIRED",
        field=field,
    )
    if not consent_id:
        raise refused
    try:
        operation_id = uuid.UUID(str(consent_id))
    except ValueError as error:
        raise refused from error
    operation = await PendingOperation.get_or_none(id=operation_id)
    if (
        operation is None
        or operation.kind != CONSENT_KIND
        or operation.user_id != member
        or operation.status != "CONFIRMED"
        or operation.amount != amount
    ):
        raise refused
    used = Adjustment.filter(
        member_consent_operation_id=operation_id,
        status__in=[AdjustmentStatus.PROPOSED, AdjustmentStatus.APPROVED],
    )
    if adjustment_id is not None:
        used = used.exclude(id=adjustment_id)
    if await used.exists():
        raise DomainError(
            "This consent is already used by another adjustment",
            code="MEMBER_CONSENT_REQUIRED",
            field=field,
        )
    return operation_id


async def _provider_account_id(code: str) -> str:
    member = _member_of(code)
    owner = f"m:{member}" if member is not None else code
    account = await ProviderAccount.get_or_none(owner_code=owner)
    if account is None or account.status != "open" or not account.provider_account_id:
        raise DomainError(
            f"{owner} has no open account at the provider", code="ACCOUNT_NOT_OPEN", field="entries"
        )
    return account.provider_account_id


async def _check_accounts(entries: Sequence[tuple[str, int]], *, moves_money: bool) -> None:
    codes = [code for code, _amount in entries]
    kinds = dict(
        cast(
            list[tuple[str, str]],
            await LedgerAccount.filter(code__in=codes or [""]).values_list("code", "kind"),
        )
    )
    unknown = [code for code in codes if code not in kinds]
    if unknown:
        raise DomainError(
            f"Unknown accounts: {', '.join(unknown)}", code="UNKNOWN_ACCOUNT", field="entries"
        )
    if not moves_money:
        return
    not_movable = [code for code in codes if kinds[code] not in MOVABLE_KINDS]
    if not_movable:
        raise DomainError(
            "Without a break the money moves at the provider too, which only members' "
            f"available and the platform accounts can do: {', '.join(not_movable)}",
            code="ACCOUNT_NOT_ALLOWED",
            field="entries",
        )
    for code in codes:
        await _provider_account_id(code)


def _normalise_reason(reason: str) -> str:
    text = (reason or "").strip()
    if not 5 <= len(text) <= 500:
        raise InvalidInputError("Give the reason in 5 to 500 characters", field="reason")
    return text


async def request_member_consent(
    *, actor: Actor, member_id: int, amount: int, reason: str
) -> PendingOperation:
    """Ask a member to agree that `amount` fen may be taken from their account, for
    `reason`: an ADJUSTMENT_CONSENT pending operation, an SMS code bound to it and an
    in-app notice naming it. The member agrees with `confirmOperation` (within the usual
    confirmation time); then a proposal may cite it. Nothing moves.

    Raises InvalidInputError, NotFoundError (no such member).
    """
    validate_amount(amount)
    text = _normalise_reason(reason)
    member = await User.get_or_none(id=member_id, kind=UserKind.MEMBER)
    if member is None:
        raise NotFoundError("No such member", field="memberId")
    async with in_transaction():
        operation = await open_operation(
            user_id=member.id,
            kind=CONSENT_KIND,
            target_id=0,
            amount=amount,
            counterparty="LendBridge finance",
        )
        yuan = _yuan(amount)
        await notifier.notify(
            user=member.id,
            kind="adjustment_consent",
            title="Please confirm a correction to your account",
            body=(
                f"LendBridge finance asks to take {yuan} from your account: {text} "
                f"Confirm operation {operation.id} with the code sent by SMS if you agree."
            ),
        )
    await send_operation_code(operation)
    return operation


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


async def _describe_consent(operation: PendingOperation) -> str:
    """The consent's SMS: how much LendBridge may take, and to ignore it if not agreed."""
    return (
        f"[LendBridge] Code {{code}} agrees that LendBridge may take {_yuan(operation.amount)} "
        "from your account to correct it. Share it with no one; ignore it if you do not agree."
    )


describe_operation(CONSENT_KIND, _describe_consent)


async def propose_adjustment(
    *,
    actor: Actor,
    break_id: int | None,
    reason: str,
    entries: Sequence[tuple[str, int]],
    member_consent_operation_id: str | None,
    idempotency_key: str,
) -> Adjustment:
    """Propose a correction for a second person to approve. Nothing moves yet.

    Raises InvalidInputError, NotFoundError (break), DomainError BREAK_NOT_OPEN /
    UNBALANCED / UNKNOWN_ACCOUNT / ACCOUNT_NOT_ALLOWED / ACCOUNT_NOT_OPEN /
    MEMBER_CONSENT_REQUIRED and the idempotency errors.
    """
    assert actor.user_id is not None
    proposer: int = actor.user_id
    text = _normalise_reason(reason)
    lines = [(code.strip(), int(amount)) for code, amount in entries]

    async def execute(claim: idempotency.Claim) -> dict[str, Any]:
        _validate_entries(lines, has_break=break_id is not None)
        if break_id is not None:
            row = await ReconciliationBreak.get_or_none(id=break_id)
            if row is None:
                raise NotFoundError("No such break", field="breakId")
            if row.state != BreakState.OPEN:
                raise DomainError(
                    f"This break is already {row.state.lower()}",
                    code="BREAK_NOT_OPEN",
                    field="breakId",
                )
        moves_money = break_id is None
        await _check_accounts(lines, moves_money=moves_money)
        consent = await _check_consent(lines, member_consent_operation_id)
        async with in_transaction():
            adjustment = await Adjustment.create(
                reconciliation_break_id=break_id,
                reason=text,
                entries=[{"account": code, "amount": amount} for code, amount in lines],
                moves_money=moves_money,
                member_consent_operation_id=consent,
                proposed_by_id=proposer,
            )
            answer = {"adjustment_id": adjustment.id}
            await claim.complete(answer)
        return answer

    answer = await idempotency.run_once(
        user_id=proposer,
        key=idempotency_key,
        operation="propose_adjustment",
        request={
            "break_id": break_id,
            "reason": text,
            "entries": lines,
            "consent": member_consent_operation_id,
        },
        execute=execute,
    )
    return await Adjustment.get(id=answer["adjustment_id"])


async def _decidable(adjustment_id: int) -> Adjustment:
    adjustment = await Adjustment.get_or_none(id=adjustment_id)
    if adjustment is None:
        raise NotFoundError("No such adjustment", field="adjustmentId")
    if adjustment.status != AdjustmentStatus.PROPOSED:
        raise DomainError(
            f"This adjustment is already {adjustment.status.lower()}", code="ADJUSTMENT_CLOSED"
        )
    return adjustment


def _pairs(entries: Sequence[tuple[str, int]]) -> list[tuple[str, str, int]]:
    """Debits matched to credits in order: (from account, to account, fen)."""
    debits = [(code, -amount) for code, amount in entries if amount < 0]
    credits = [(code, amount) for code, amount in entries if amount > 0]
    pairs = []
    i = j = 0
    left_debit = debits[0][1] if debits else 0
    left_credit = credits[0][1] if credits else 0
    while i < len(debits) and j < len(credits):
        amount = min(left_debit, left_credit)
        pairs.append((debits[i][0], credits[j][0], amount))
        left_debit -= amount
        left_credit -= amount
        if left_debit == 0:
            i += 1
            left_debit = debits[i][1] if i < len(debits) else 0
        if left_credit == 0:
            j += 1
            left_credit = credits[j][1] if j < len(credits) else 0
    return pairs


async def approve_adjustment(*, actor: Actor, adjustment_id: int) -> Adjustment:
    """Approve someone else's proposal: post its journal (`adjustment:<id>`), move the
    money at the provider when it is not linked to a break, close the break.

    Raises NotFoundError, DomainError SAME_PERSON / ADJUSTMENT_CLOSED / BREAK_NOT_OPEN /
    MEMBER_CONSENT_REQUIRED / ACCOUNT_NOT_OPEN / INSUFFICIENT_FUNDS. Nothing changes then.
    """
    assert actor.user_id is not None
    adjustment = await _decidable(adjustment_id)
    if adjustment.proposed_by_id == actor.user_id:
        raise DomainError(
            "The person who proposed an adjustment cannot approve it", code="SAME_PERSON"
        )
    lines = [(str(entry["account"]), int(entry["amount"])) for entry in adjustment.entries]
    pending: list[int] = []
    async with in_transaction():
        locked = await Adjustment.filter(id=adjustment.id).select_for_update().get()
        if locked.status != AdjustmentStatus.PROPOSED:
            raise DomainError("This adjustment was decided meanwhile", code="ADJUSTMENT_CLOSED")
        broken: ReconciliationBreak | None = None
        if locked.reconciliation_break_id is not None:
            broken = (
                await ReconciliationBreak.filter(id=locked.reconciliation_break_id)
                .select_for_update()
                .get()
            )
            if broken.state != BreakState.OPEN:
                raise DomainError(
                    f"The break is already {broken.state.lower()}", code="BREAK_NOT_OPEN"
                )
        await _check_consent(
            lines,
            str(locked.member_consent_operation_id or ""),
            adjustment_id=locked.id,
        )
        journal = None
        if lines:
            journal = await ledger.post(
                key=f"adjustment:{locked.id}",
                kind="adjustment",
                entries=lines,
                memo=f"adjustment {locked.id}: {locked.reason}",
            )
        if locked.moves_money:
            for number, (source, target, amount) in enumerate(_pairs(lines)):
                instruction = await instructions.create(
                    kind=TransactionKind.TRANSFER,
                    business_ref=f"adjustment:{locked.id}:{number}",
                    amount=amount,
                    params={
                        "from_account_id": await _provider_account_id(source),
                        "to_account_id": await _provider_account_id(target),
                        "from_frozen": False,
                        "source": source,
                        "target": target,
                    },
                )
                pending.append(instruction.id)
        now = system_now()
        await Adjustment.filter(id=locked.id).update(
            status=AdjustmentStatus.APPROVED,
            decided_by_id=actor.user_id,
            decided_at=now,
            journal_id=journal.id if journal else None,
        )
        if broken is not None:
            await ReconciliationBreak.filter(id=broken.id).update(
                state=BreakState.RESOLVED if lines else BreakState.ACCEPTED,
                resolved_by_id=actor.user_id,
                resolution=f"adjustment {locked.id}: {locked.reason}"[:500],
                resolved_at=now,
            )
    for instruction_id in pending:
        try:
            await instructions.send(instruction_id)
        except Exception:
            # Committed: the dispatcher sends it again with the same request id.
            logger.exception("sending adjustment transfer %s failed", instruction_id)
    if pending:
        instructions.wake()
    return await Adjustment.get(id=adjustment.id)


async def reject_adjustment(*, actor: Actor, adjustment_id: int, reason: str) -> Adjustment:
    """Turn a proposal down (its proposer may withdraw it too). Nothing moves.

    Raises InvalidInputError, NotFoundError, DomainError ADJUSTMENT_CLOSED.
    """
    assert actor.user_id is not None
    text = _normalise_reason(reason)
    adjustment = await _decidable(adjustment_id)
    updated = await Adjustment.filter(id=adjustment.id, status=AdjustmentStatus.PROPOSED).update(
        status=AdjustmentStatus.REJECTED,
        decided_by_id=actor.user_id,
        decided_at=system_now(),
        decision_note=text,
    )
    if not updated:
        raise DomainError("This adjustment was decided meanwhile", code="ADJUSTMENT_CLOSED")
    return await Adjustment.get(id=adjustment.id)


@instructions.on_outcome("adjustment")
async def _adjustment_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    if outcome.status != ProviderStatus.FAILED:
        return
    # The provider did not move this part: take it out of the ledger again, so the
    # ledger keeps mirroring the provider.
    params = instruction.params
    try:
        await ledger.post(
            key=f"{instruction.business_ref}:reversed",
            kind="adjustment_reversed",
            entries=[
                (str(params["source"]), instruction.amount),
                (str(params["target"]), -instruction.amount),
            ],
            memo=f"provider refused: {outcome.reason}",
        )
    except ledger.InsufficientFundsError:
        # Already spent: the difference stays for reconciliation to report.
        logger.error("adjustment transfer %s failed and cannot be reversed", instruction.id)
        return
    logger.warning("adjustment transfer %s failed at the provider", instruction.business_ref)


async def list_adjustments(
    *, status: AdjustmentStatus | None, first: int, before_id: int | None = None
) -> Page[Adjustment]:
    """Adjustments, newest first, optionally in one status."""
    query = Adjustment.all()
    if status is not None:
        query = query.filter(status=status)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)
