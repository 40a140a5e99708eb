"""A member's file (M5.1): everything customer service looks at, read at once.

Profile, credit, balances, the loans they borrow, the claims they hold, the contracts
they are a party to, their service cases, the notices and messages sent to them, their
account's status changes and data deletion requests: a fixed number of statements
whatever the member has, each list the newest `LIMIT` rows with the full count beside
it. Personal numbers are masked here; the full values are `revealPersonalData`'s, with
its permission and its log (D4). Message bodies are not shown (an SMS may carry a
one-time code): channel, masked address, subject, status and time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from models.bids import Claim
from models.cases import ServiceCase
from models.contracts import Contract, ContractParty
from models.credit import CreditProfile
from models.customers import AccountStatusChange, DataDeletionRequest
from models.loans import Loan
from models.members import User, UserKind
from models.messaging import Notice, OutgoingMessage
from services.customers.listing import CustomerRow, rows_for
from services.errors import NotFoundError
from services.identity.permissions import Actor, Permission
from services.kit.security import lookup_hash
from services.platform.mailer import email_address

LIMIT = 50
Row = TypeVar("Row")


@dataclass(frozen=True)
class Listed(Generic[Row]):
    rows: list[Row]
    total: int


@dataclass(frozen=True)
class CustomerFile:
    row: CustomerRow
    credit: CreditProfile | None
    loans: Listed[Loan]
    claims: Listed[Claim]
    contracts: Listed[Contract]
    notices: Listed[Notice]
    cases: Listed[ServiceCase]
    messages: Listed[OutgoingMessage]
    status_changes: list[AccountStatusChange]
    deletion_requests: list[DataDeletionRequest]


async def file_of(*, actor: Actor, user_id: int) -> CustomerFile:
    """The member's file. Raises NotFoundError (no such member, or the caller may not
    read customers)."""
    if not actor.can(Permission.CUSTOMERS_READ):
        raise NotFoundError("No such member", field="id")
    user = await User.get_or_none(id=user_id, kind=UserKind.MEMBER)
    if user is None:
        raise NotFoundError("No such member", field="id")
    (row,) = await rows_for([user])
    loans = Loan.filter(borrower_id=user_id)
    claims = Claim.filter(holder_id=user_id)
    party_of = ContractParty.filter(user_id=user_id).values_list("contract_id", flat=True)
    contract_ids = sorted(set(await party_of), reverse=True)
    notices = Notice.filter(user_id=user_id)
    cases = ServiceCase.filter(member_id=user_id)
    address = await email_address(user_id)
    lookups = [user.phone_lookup] + ([lookup_hash(address)] if address else [])
    messages = OutgoingMessage.filter(recipient_lookup__in=lookups)
    return CustomerFile(
        row=row,
        credit=await CreditProfile.get_or_none(user_id=user_id),
        loans=Listed(await loans.order_by("-id").limit(LIMIT), await loans.count()),
        claims=Listed(await claims.order_by("-id").limit(LIMIT), await claims.count()),
        contracts=Listed(
            await Contract.filter(id__in=contract_ids[:LIMIT]).order_by("-id"), len(contract_ids)
        ),
        notices=Listed(await notices.order_by("-id").limit(LIMIT), await notices.count()),
        cases=Listed(await cases.order_by("-id").limit(LIMIT), await cases.count()),
        messages=Listed(await messages.order_by("-id").limit(LIMIT), await messages.count()),
        status_changes=list(
            await AccountStatusChange.filter(user_id=user_id).order_by("-id").limit(LIMIT)
        ),
        deletion_requests=list(
            await DataDeletionRequest.filter(user_id=user_id).order_by("-id").limit(LIMIT)
        ),
    )
