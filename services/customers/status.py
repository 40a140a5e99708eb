"""Account status (M5.2): lock, activate, close a member account, each with a reason.

- LOCK applies at once, by one person: a locked member cannot sign in (every session
  ends, refresh tokens are revoked, cached access is dropped in every process), so no
  money leaves their account by their hand, and their auto-bid rule places no bid and
  buys no claim. What they owe keeps being collected and what they are owed keeps
  arriving: repayments, receipts and the daily jobs do not look at the status.
- ACTIVATE (a locked account) and CLOSE give the member's money back into their hands
  or end the account, so they are maker-checker: one person proposes with a reason, a
  second person with the same permission applies or rejects (`decide`).
- CLOSE needs nothing left: zero balances, no open loans, no claims on running loans,
  nothing pending (operations waiting for their code, deposits and withdrawals on their
  way, open transfer listings). What blocks it is listed (`CloseBlockedError`), when it
  is proposed and again when it is applied. A closed account is never opened again.

Nobody changes their own account's status. Every change is a row of
`AccountStatusChange` (who, why, when, who decided) and, as a mutation, an entry of the
operation log.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.access import RefreshToken
from models.bids import Claim
from models.customers import AccountStatusChange, StatusChangeState
from models.loans import Loan, LoanStatus
from models.members import User, UserKind, UserStatus
from models.payments import Deposit, PendingOperation, Withdrawal
from models.transfers import ListingStatus, TransferListing
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity import permissions
from services.identity.permissions import Actor, Permission
from services.money import ledger
from services.platform import clock

# A loan in one of these is over for its borrower: nothing more to pay or to receive.
CLOSED_LOAN = (
    LoanStatus.DRAFT,
    LoanStatus.REJECTED,
    LoanStatus.FAILED,
    LoanStatus.SETTLED,
    LoanStatus.CANCELLED,
)
# Claims on a loan in one of these are still to be repaid to their holder.
RUNNING_LOAN = (LoanStatus.DISBURSED, LoanStatus.REPAYING, LoanStatus.OVERDUE)
_ALLOWED = {
    UserStatus.ACTIVE: {UserStatus.LOCKED, UserStatus.CLOSED},
    UserStatus.LOCKED: {UserStatus.ACTIVE, UserStatus.CLOSED},
    UserStatus.CLOSED: set(),
}


@dataclass(frozen=True)
class Blocker:
    """One thing that keeps an account from being closed."""

    kind: str  # BALANCE, OPEN_LOANS, CLAIMS, PENDING_OPERATIONS
    count: int  # fen for BALANCE, rows for the others
    detail: str


class CloseBlockedError(DomainError):
    def __init__(self, blockers: list[Blocker]) -> None:
        kinds = ", ".join(blocker.kind for blocker in blockers)
        super().__init__(f"The account cannot be closed yet: {kinds}", code="CLOSE_BLOCKED")
        self.blockers = blockers


def _reason(reason: str, field: str = "reason") -> str:
    text = (reason or "").strip()
    if not 5 <= len(text) <= 255:
        raise InvalidInputError("Give the reason (5 to 255 characters)", field=field)
    return text


async def close_blockers(user_id: int) -> list[Blocker]:
    """Everything that keeps the member's account from being closed, none when it may be."""
    found: list[Blocker] = []
    balances = await ledger.member_balances(user_id)
    held = sum(balances.values())
    if held:
        parts = ", ".join(f"{name} {fen} fen" for name, fen in balances.items() if fen)
        found.append(Blocker("BALANCE", held, f"money in the account: {parts}"))
    loans = await Loan.filter(borrower_id=user_id).exclude(status__in=CLOSED_LOAN).count()
    if loans:
        found.append(Blocker("OPEN_LOANS", loans, f"{loans} loan(s) not settled or ended"))
    claims = await Claim.filter(
        holder_id=user_id,
        principal_fen__gt=0,
        loan_id__in=Subquery(Loan.filter(status__in=RUNNING_LOAN).values("id")),
    ).count()
    if claims:
        found.append(Blocker("CLAIMS", claims, f"{claims} claim(s) on loans still repaying"))
    now = await clock.now()
    pending = (
        await PendingOperation.filter(
            user_id=user_id, status="AWAITING_CODE", expires_at__gt=now
        ).count()
        + await Deposit.filter(user_id=user_id, status="PENDING").count()
        + await Withdrawal.filter(
            user_id=user_id, status__in=("AWAITING_CONFIRMATION", "PROCESSING")
        ).count()
        + await TransferListing.filter(seller_id=user_id, status=ListingStatus.OPEN).count()
    )
    if pending:
        found.append(
            Blocker(
                "PENDING_OPERATIONS",
                pending,
                f"{pending} operation(s) waiting: codes, deposits, withdrawals, listings",
            )
        )
    return found


async def _member(user_id: int, *, lock: bool = False) -> User:
    query = User.filter(id=user_id, kind=UserKind.MEMBER)
    user = await (query.select_for_update() if lock else query).first()
    if user is None:
        raise NotFoundError("No such member", field="userId")
    return user


async def _apply(user: User, status: UserStatus) -> None:
    """The account's new status, and what goes with it (in the caller's transaction)."""
    user.status = status
    await user.save(update_fields=["status", "updated_at"])
    if status != UserStatus.ACTIVE:
        await RefreshToken.filter(user_id=user.id, revoked_at__isnull=True).update(
            revoked_at=clock.system_now()
        )
    await (
        AccountStatusChange.filter(user_id=user.id, state=StatusChangeState.PENDING)
        .exclude(to_status=status)
        .update(state=StatusChangeState.SUPERSEDED, decided_at=await clock.now())
    )


async def set_status(
    *, actor: Actor, user_id: int, status: UserStatus, reason: str
) -> AccountStatusChange:
    """Lock at once, or propose activating or closing for a second person to decide.

    Raises NotFoundError (no such member), InvalidInputError (reason), DomainError with
    code OWN_ACCOUNT, STATUS_UNCHANGED, NOT_ALLOWED (from CLOSED, say), CHANGE_PENDING
    (that change already waits), CloseBlockedError."""
    if not actor.can(Permission.CUSTOMERS_MANAGE):  # gate 1 checks it too
        raise NotFoundError("No such member", field="userId")
    why = _reason(reason)
    if user_id == actor.user_id:
        raise DomainError("Nobody changes their own account's status", code="OWN_ACCOUNT")
    async with in_transaction():
        user = await _member(user_id, lock=True)
        current = UserStatus(user.status)
        if status == current:
            raise DomainError(f"The account is already {current.value}", code="STATUS_UNCHANGED")
        if status not in _ALLOWED[current]:
            raise DomainError(
                f"An account that is {current.value} cannot become {status.value}",
                code="NOT_ALLOWED",
            )
        if status == UserStatus.CLOSED and (blockers := await close_blockers(user_id)):
            raise CloseBlockedError(blockers)
        if await AccountStatusChange.exists(
            user_id=user_id, to_status=status, state=StatusChangeState.PENDING
        ):
            raise DomainError(
                "That change is already waiting for a decision", code="CHANGE_PENDING"
            )
        now = await clock.now()
        change = await AccountStatusChange.create(
            user_id=user_id,
            from_status=current,
            to_status=status,
            reason=why,
            state=StatusChangeState.PENDING,
            proposed_by_id=actor.user_id,
            created_at=now,
        )
        if status == UserStatus.LOCKED:
            await _apply(user, status)
            change.state = StatusChangeState.APPLIED
            change.decided_at = now
            await change.save(update_fields=["state", "decided_at"])
    if status == UserStatus.LOCKED:
        await permissions.access_changed()
    return change


async def decide(
    *, actor: Actor, change_id: int, approve: bool, reason: str = ""
) -> AccountStatusChange:
    """A second person applies or rejects a proposed activation or closure.

    Raises NotFoundError (no such pending change), DomainError OWN_PROPOSAL (the proposer
    decides their own), OWN_ACCOUNT, NOT_ALLOWED (the account moved on since),
    CloseBlockedError (something came in since the proposal), InvalidInputError (a
    rejection's reason)."""
    if not actor.can(Permission.CUSTOMERS_MANAGE):
        raise NotFoundError("No such change waiting", field="changeId")
    why = reason.strip() if approve else _reason(reason)
    async with in_transaction():
        change = (
            await AccountStatusChange.filter(id=change_id, state=StatusChangeState.PENDING)
            .select_for_update()
            .first()
        )
        if change is None:
            raise NotFoundError("No such change waiting", field="changeId")
        if change.proposed_by_id == actor.user_id:
            raise DomainError("A second person decides a change you proposed", code="OWN_PROPOSAL")
        if change.user_id == actor.user_id:
            raise DomainError("Nobody changes their own account's status", code="OWN_ACCOUNT")
        user = await _member(change.user_id, lock=True)
        if approve:
            if UserStatus(change.to_status) not in _ALLOWED[UserStatus(user.status)]:
                raise DomainError(
                    f"The account is {user.status} now: propose again", code="NOT_ALLOWED"
                )
            if change.to_status == UserStatus.CLOSED and (
                blockers := await close_blockers(change.user_id)
            ):
                raise CloseBlockedError(blockers)
            await _apply(user, UserStatus(change.to_status))
        change.state = StatusChangeState.APPLIED if approve else StatusChangeState.REJECTED
        change.decided_by_id = actor.user_id
        change.decision_reason = why[:255]
        change.decided_at = await clock.now()
        await change.save(update_fields=["state", "decided_by_id", "decision_reason", "decided_at"])
    if approve:
        await permissions.access_changed()
    return change


async def changes(*, user_ids: list[int]) -> dict[int, list[AccountStatusChange]]:
    """Each member's status changes, newest first (one statement)."""
    found: dict[int, list[AccountStatusChange]] = {user_id: [] for user_id in user_ids}
    for row in await AccountStatusChange.filter(user_id__in=user_ids).order_by("-id"):
        found[row.user_id].append(row)
    return found


async def pending(*, first: int, before_id: int | None) -> list[AccountStatusChange]:
    """Proposed changes waiting for a second person, newest first."""
    query = AccountStatusChange.filter(state=StatusChangeState.PENDING)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first)


async def pending_count() -> int:
    return await AccountStatusChange.filter(state=StatusChangeState.PENDING).count()
