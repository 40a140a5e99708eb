"""Transfer of rights in collateral and its disposal (issue 21, M8.3-M8.4).

- Transfer (`request_transfer`, `approve_transfer`): staff who review loans ask for an
  item's rights to go to the claim holders or a trustee once the loan is in default
  (OVERDUE with an installment more than `collateral.defaultDays` late:
  `LOAN_NOT_IN_DEFAULT`), or to the guarantee company once it has compensated
  (`NOT_COMPENSATED`). Another person, holding `loan:review:l3`, approves
  (`SAME_PERSON` when the asker does): the item is TRANSFERRED.
- Disposal (`record_disposal`): the sale of a TRANSFERRED item (buyer, price, costs, day).
  The net proceeds (price less costs) are asked of the provider as a deposit into the
  item owner's custody account (`disposal:<id>`, gateway or POS: the buyer or the
  auction house pays through the bank); the item is IN_DISPOSAL. When the provider says
  they arrived (`_disposal_outcome`, in the outcome's transaction): the owner's account is
  credited with them and a COLLATERAL repayment paid by the owner settles at once:
  everything owed on the loan (the installments not yet due accelerated, interest to
  the day, no early fee: `due._quote`), paid oldest first, each installment in the
  allocation order, up to the net proceeds. So the money goes to whoever holds each part
  at that moment, by the settlement's rules: a guarantor or the reserve first for what
  it advanced, the holdings (parts bought on the secondary market included) towards
  their targets. Any surplus stays in the owner's available balance; a shortfall stays
  owed (the loan stays OVERDUE). The disposal is DISTRIBUTED, the item DISPOSED. If the
  proceeds do not arrive, the disposal is FAILED and the item TRANSFERRED again. A
  second disposal of an item is refused (`PROCEEDS_ALREADY_DISTRIBUTED` once
  distributed, `DISPOSAL_PENDING` while one waits); the outcome handler runs once per
  instruction.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from tortoise.transactions import in_transaction

from models.collateral import (
    CollateralDisposal,
    CollateralItem,
    CollateralStatus,
    CollateralTransfer,
    DisposalStatus,
    TransferStatus,
    TransferTo,
)
from models.guarantees import GuaranteeCompensation
from models.loans import Loan, LoanStatus
from models.payments import PaymentInstruction, ProviderAccount
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.money import idempotency, ledger
from services.money.accounts import validate_amount
from services.money.money import format_money
from services.payments import instructions
from services.payments.instructions import Outcome
from services.payments.provider import DepositChannel, ProviderStatus, TransactionKind
from services.platform import clock, notifier, outbox, parameters
from services.platform.parameters import Param
from services.repayments import settlement

logger = logging.getLogger(__name__)


class DefaultDays(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: Annotated[int, Field(ge=1, le=720)]


DEFAULT_DAYS = Param(
    "collateral.defaultDays",
    DefaultDays,
    {"days": 90},
    "M8.3: days an installment must be overdue before the loan counts as in default, so "
    "its collateral's rights may go to the holders or a trustee.",
)


async def _item(item_id: int, *, lock: bool = False) -> CollateralItem:
    query = CollateralItem.filter(id=item_id)
    item = await (query.select_for_update() if lock else query).first()
    if item is None:
        raise NotFoundError("No such item", field="itemId")
    return item


async def in_default(loan_id: int, today: date) -> bool:
    days = (await parameters.get(DEFAULT_DAYS)).days
    loan = await Loan.get(id=loan_id)
    return (
        loan.status == LoanStatus.OVERDUE
        and await LoanInstallment.filter(
            loan_id=loan_id,
            status=InstallmentStatus.OVERDUE,
            due_date__lt=today - timedelta(days=days),
        ).exists()
    )


async def request_transfer(
    *, actor: Actor, item_id: int, to: TransferTo, to_name: str, reason: str
) -> CollateralTransfer:
    reason, to_name = (reason or "").strip(), (to_name or "").strip()
    if not 1 <= len(reason) <= 500:
        raise InvalidInputError("A reason of 1 to 500 characters", field="reason")
    if len(to_name) > 128 or (to == TransferTo.TRUSTEE and not to_name):
        raise InvalidInputError("Name the trustee (at most 128 characters)", field="toName")
    async with in_transaction():
        item = await _item(item_id, lock=True)
        if item.status != CollateralStatus.PLEDGED:
            raise DomainError("The item is not pledged", code="ITEM_NOT_PLEDGED", field="itemId")
        if await CollateralTransfer.filter(
            item_id=item.id, status=TransferStatus.REQUESTED
        ).exists():
            raise DomainError("A transfer is asked already", code="TRANSFER_PENDING")
        if to == TransferTo.GUARANTOR:
            if not await GuaranteeCompensation.filter(loan_id=item.loan_id).exists():
                raise DomainError("No guarantor has compensated", code="NOT_COMPENSATED")
        elif not await in_default(item.loan_id, await clock.today()):
            raise DomainError("The loan is not in default", code="LOAN_NOT_IN_DEFAULT")
        return await CollateralTransfer.create(
            item_id=item.id,
            loan_id=item.loan_id,
            to_kind=to,
            to_name=to_name,
            reason=reason,
            requested_by=actor.user_id or 0,
            created_at=await clock.now(),
        )


async def approve_transfer(*, actor: Actor, transfer_id: int) -> CollateralTransfer:
    if Permission.LOAN_REVIEW_L3 not in actor.permissions:
        raise DomainError("Level 3 reviewers approve transfers", code="FORBIDDEN")
    async with in_transaction():
        transfer = await CollateralTransfer.filter(id=transfer_id).select_for_update().first()
        if transfer is None or transfer.status != TransferStatus.REQUESTED:
            raise NotFoundError("No such transfer waiting", field="transferId")
        if transfer.requested_by == actor.user_id:
            raise DomainError("Another person approves", code="SAME_PERSON")
        item = await _item(transfer.item_id, lock=True)
        if item.status != CollateralStatus.PLEDGED:
            raise DomainError("The item is not pledged", code="ITEM_NOT_PLEDGED")
        transfer.status = TransferStatus.APPROVED
        transfer.approved_by = actor.user_id
        transfer.approved_at = await clock.now()
        await transfer.save()
        item.status = CollateralStatus.TRANSFERRED
        item.updated_at = transfer.approved_at
        await item.save(update_fields=["status", "updated_at"])
    return transfer


async def record_disposal(
    *,
    actor: Actor,
    item_id: int,
    buyer: str,
    price_fen: int,
    costs_fen: int,
    sold_on: date,
    channel: DepositChannel,
    idempotency_key: str,
) -> CollateralDisposal:
    """Record the sale and ask the provider for the net proceeds (see the docstring)."""
    assert actor.user_id is not None
    buyer = (buyer or "").strip()
    if not 1 <= len(buyer) <= 128:
        raise InvalidInputError("Name the buyer (1 to 128 characters)", field="buyer")
    validate_amount(price_fen, field="price")
    if costs_fen < 0:
        raise InvalidInputError("Costs are not negative", field="costs")
    if costs_fen >= price_fen:
        raise DomainError("The costs take all the price", code="COSTS_EXCEED_PRICE", field="costs")
    if sold_on > await clock.today():
        raise InvalidInputError("Not after today", field="soldOn")
    if channel == DepositChannel.AUTO_DEBIT:
        raise InvalidInputError("Proceeds come by gateway or POS", field="channel")

    async def execute(claim: idempotency.Claim) -> dict[str, int]:
        async with in_transaction():
            item = await _item(item_id, lock=True)
            if item.status == CollateralStatus.DISPOSED:
                raise DomainError(
                    "The item's proceeds are distributed", code="PROCEEDS_ALREADY_DISTRIBUTED"
                )
            if item.status == CollateralStatus.IN_DISPOSAL:
                raise DomainError("A disposal is waiting for its proceeds", code="DISPOSAL_PENDING")
            if item.status != CollateralStatus.TRANSFERRED:
                raise DomainError("Transfer the rights first", code="ITEM_NOT_TRANSFERRED")
            account = await ProviderAccount.get_or_none(owner_code=f"m:{item.owner_id}")
            if account is None or account.status != "open" or not account.provider_account_id:
                raise DomainError("The owner has no open custody account", code="ACCOUNT_NOT_OPEN")
            now = await clock.now()
            row = await CollateralDisposal.create(
                item_id=item.id,
                loan_id=item.loan_id,
                owner_id=item.owner_id,
                buyer=buyer,
                price_fen=price_fen,
                costs_fen=costs_fen,
                net_fen=price_fen - costs_fen,
                sold_on=sold_on,
                recorded_by=actor.user_id,
                created_at=now,
            )
            item.status = CollateralStatus.IN_DISPOSAL
            item.updated_at = now
            await item.save(update_fields=["status", "updated_at"])
            instruction = await instructions.create(
                kind=TransactionKind.DEPOSIT,
                business_ref=f"disposal:{row.id}",
                amount=row.net_fen,
                params={"account_id": account.provider_account_id, "channel": str(channel)},
            )
            await claim.complete({"disposal_id": row.id})
        await instructions.send(instruction.id)
        instructions.wake()
        return {"disposal_id": row.id}

    answer = await idempotency.run_once(
        user_id=actor.user_id,
        key=idempotency_key,
        operation="collateral_disposal",
        request={
            "item_id": item_id,
            "buyer": buyer,
            "price_fen": price_fen,
            "costs_fen": costs_fen,
            "sold_on": sold_on.isoformat(),
        },
        execute=execute,
    )
    return await CollateralDisposal.get(id=answer["disposal_id"])


@instructions.on_outcome("disposal")
async def _disposal_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    row = (
        await CollateralDisposal.filter(id=int(instruction.business_ref.split(":")[1]))
        .select_for_update()
        .get()
    )
    if row.status != DisposalStatus.RECORDED:
        return
    now = await clock.now()
    if outcome.status != ProviderStatus.SUCCEEDED:
        row.status = DisposalStatus.FAILED
        await row.save(update_fields=["status"])
        await CollateralItem.filter(id=row.item_id).update(
            status=CollateralStatus.TRANSFERRED, updated_at=now
        )
        return
    await ledger.post(
        key=f"disposal:{row.id}",
        kind="collateral_proceeds",
        entries=[(ledger.available(row.owner_id), row.net_fen), (ledger.BANK, -row.net_fen)],
        memo=f"collateral {row.item_id} sold",
    )
    loan = await Loan.get(id=row.loan_id)
    applied = 0
    try:
        async with in_transaction():  # a savepoint: a loan with nothing owed pays nothing
            repayment = await Repayment.create(
                loan_id=loan.id,
                borrower_id=loan.borrower_id,
                kind=RepaymentKind.COLLATERAL,
                status=RepaymentStatus.AWAITING_CONFIRMATION,
                installments=[],
                details={"amount_fen": row.net_fen, "payer_id": row.owner_id, "disposal": row.id},
                created_at=now,
            )
            await settlement._settle(repayment, confirmed_amount_fen=None)
            applied = repayment.amount_fen
            row.repayment_id = repayment.id
    except DomainError as error:
        logger.warning(
            "disposal %s: nothing paid towards loan %s (%s)", row.id, loan.id, error.code
        )
    row.applied_fen = applied
    row.surplus_fen = row.net_fen - applied
    row.status = DisposalStatus.DISTRIBUTED
    row.distributed_at = now
    await row.save()
    await CollateralItem.filter(id=row.item_id).update(
        status=CollateralStatus.DISPOSED, updated_at=now
    )
    await notifier.notify(
        user=row.owner_id,
        kind="collateral",
        title="Collateral sold",
        body=f"The net proceeds of item {row.item_id} arrived; {format_money(applied)} paid "
        f"towards loan {loan.id}, {format_money(row.surplus_fen)} left in your account.",
    )
    instructions.wake()
    outbox.wake()
