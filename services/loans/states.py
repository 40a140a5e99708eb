"""The loan state machine: one table of (event, from) -> to; every status change uses it.

    event           from                                   to
    AUTO_APPROVE    DRAFT                                  PENDING_REVIEW
    AUTO_REJECT     DRAFT                                  REJECTED
    APPROVE_LEVEL   PENDING_REVIEW, IN_REVIEW              IN_REVIEW
    LIST            IN_REVIEW                              LISTED
    REJECT          PENDING_REVIEW, IN_REVIEW              REJECTED
    CANCEL          DRAFT, PENDING_REVIEW, IN_REVIEW,      CANCELLED
                    LISTED
    FILL            LISTED                                 FULL
    EXPIRE          LISTED                                 FAILED
    DISBURSE        FULL                                   DISBURSED
    FAIL_DISBURSE   FULL                                   FAILED
    START_REPAYING  DISBURSED                              REPAYING
    FALL_OVERDUE    REPAYING                               OVERDUE
    CURE            OVERDUE                                REPAYING
    SETTLE          REPAYING, OVERDUE                      SETTLED

A loan is made in DRAFT inside the publishing transaction and leaves it in the same
transaction (the automatic review), so no committed loan is ever DRAFT. LIST needs a
prior level approval: the review levels are at least two (a platform parameter). Any
other (event, from) pair is ILLEGAL_TRANSITION. REJECTED, FAILED, SETTLED and CANCELLED
are final.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Protocol

from models.loans import LoanStatus
from services.errors import DomainError

__all__ = ["TRANSITIONS", "LoanEvent", "LoanStatus", "allowed", "next_status", "transition"]


class LoanEvent(StrEnum):
    AUTO_APPROVE = "AUTO_APPROVE"
    AUTO_REJECT = "AUTO_REJECT"
    APPROVE_LEVEL = "APPROVE_LEVEL"
    LIST = "LIST"
    REJECT = "REJECT"
    CANCEL = "CANCEL"
    FILL = "FILL"
    EXPIRE = "EXPIRE"
    DISBURSE = "DISBURSE"
    FAIL_DISBURSE = "FAIL_DISBURSE"
    START_REPAYING = "START_REPAYING"
    FALL_OVERDUE = "FALL_OVERDUE"
    CURE = "CURE"
    SETTLE = "SETTLE"


S = LoanStatus
E = LoanEvent

TRANSITIONS: Final[dict[tuple[LoanEvent, LoanStatus], LoanStatus]] = {
    (E.AUTO_APPROVE, S.DRAFT): S.PENDING_REVIEW,
    (E.AUTO_REJECT, S.DRAFT): S.REJECTED,
    (E.APPROVE_LEVEL, S.PENDING_REVIEW): S.IN_REVIEW,
    (E.APPROVE_LEVEL, S.IN_REVIEW): S.IN_REVIEW,
    (E.LIST, S.IN_REVIEW): S.LISTED,
    (E.REJECT, S.PENDING_REVIEW): S.REJECTED,
    (E.REJECT, S.IN_REVIEW): S.REJECTED,
    (E.CANCEL, S.DRAFT): S.CANCELLED,
    (E.CANCEL, S.PENDING_REVIEW): S.CANCELLED,
    (E.CANCEL, S.IN_REVIEW): S.CANCELLED,
    (E.CANCEL, S.LISTED): S.CANCELLED,
    (E.FILL, S.LISTED): S.FULL,
    (E.EXPIRE, S.LISTED): S.FAILED,
    (E.DISBURSE, S.FULL): S.DISBURSED,
    (E.FAIL_DISBURSE, S.FULL): S.FAILED,
    (E.START_REPAYING, S.DISBURSED): S.REPAYING,
    (E.FALL_OVERDUE, S.REPAYING): S.OVERDUE,
    (E.CURE, S.OVERDUE): S.REPAYING,
    (E.SETTLE, S.REPAYING): S.SETTLED,
    (E.SETTLE, S.OVERDUE): S.SETTLED,
}

FINAL: Final = frozenset({S.REJECTED, S.FAILED, S.SETTLED, S.CANCELLED})


class _HasStatus(Protocol):
    status: LoanStatus


def allowed(status: LoanStatus, event: LoanEvent) -> bool:
    return (event, status) in TRANSITIONS


def next_status(status: LoanStatus, event: LoanEvent) -> LoanStatus:
    """Where `event` takes a loan in `status`; DomainError ILLEGAL_TRANSITION if nowhere."""
    target = TRANSITIONS.get((event, status))
    if target is None:
        raise DomainError(
            f"A loan that is {status.value} cannot {event.value.replace('_', ' ').lower()}",
            code="ILLEGAL_TRANSITION",
        )
    return target


def transition(loan: _HasStatus, event: LoanEvent) -> LoanStatus:
    """Move `loan.status` by `event` (the caller saves it); raises ILLEGAL_TRANSITION."""
    loan.status = next_status(LoanStatus(loan.status), event)
    return loan.status
