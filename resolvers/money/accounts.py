"""Custody account, cards, deposits, withdrawals, confirmations, the member's balances."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.bids import AutoBidRule, Bid
from models.payments import BankCard, Deposit, ProviderAccount, Withdrawal
from models.repayments import Repayment
from models.transfers import ClaimTransfer
from resolvers.loans import auto_bid_rule_view, bid_view
from resolvers.repayments.repayments import repayment_view
from resolvers.transfers import transfer_view
from schema.errors import BadUserInputError
from schema.pagination import Connection, build_connection, clamp_first, decode_cursor
from schema.scalars import Money
from schema.types.money import accounts as t
from services.errors import DomainError, NotFoundError
from services.money import accounts, statements, withdrawals
from services.operations import confirmation
from services.payments.provider import DepositChannel, WithdrawSpeed


def _custody(row: ProviderAccount | None) -> t.CustodyAccount | None:
    if row is None:
        return None
    return t.CustodyAccount(
        status=t.CustodyStatus(row.status),
        real_name_masked=row.real_name_masked,
        id_number_masked=row.id_number_masked,
    )


def _card(row: BankCard) -> t.BankCardType:
    return t.BankCardType(
        id=strawberry.ID(str(row.id)),
        card_masked=row.card_masked,
        bank_name=row.bank_name,
        status=t.BankCardStatus(row.status),
        failure_reason=row.failure_reason,
    )


def _deposit(row: Deposit) -> t.DepositType:
    return t.DepositType(
        id=strawberry.ID(str(row.id)),
        amount=Money(row.amount),
        channel=t.DepositChannelEnum(row.channel),
        status=t.DepositStatus(row.status),
        pay_url=row.pay_url,
        created_at=row.created_at,
    )


def _withdrawal(row: Withdrawal) -> t.WithdrawalType:
    return t.WithdrawalType(
        id=strawberry.ID(str(row.id)),
        amount=Money(row.amount),
        fee=Money(row.fee),
        speed=t.WithdrawSpeedEnum(row.speed),
        status=t.WithdrawalStatus(row.status),
        failure_reason=row.failure_reason,
    )


def _int_id(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as error:
        raise NotFoundError("No such card", field=field) from error


async def my_account(info: Info) -> t.MyAccount:
    view = await accounts.my_account(actor=await info.context.get_actor())
    return t.MyAccount(
        available=Money(view.available),
        frozen=Money(view.frozen),
        pending_withdrawal=Money(view.withdrawing),
        custody=_custody(view.custody),
        bank_cards=[_card(card) for card in view.cards],
    )


async def open_account(info: Info, input: t.OpenAccountInput) -> t.OpenAccountResult:
    try:
        row = await accounts.open_account(
            actor=await info.context.get_actor(),
            real_name=input.real_name,
            id_number=input.id_number,
        )
    except DomainError as error:
        return t.OpenAccountError.from_domain(error)
    custody = _custody(row)
    assert custody is not None
    return t.AccountOpened(custody=custody)


async def bind_bank_card(info: Info, input: t.BindBankCardInput) -> t.BindBankCardResult:
    try:
        row = await accounts.bind_card(
            actor=await info.context.get_actor(),
            card_number=input.card_number,
            bank_name=input.bank_name,
        )
    except DomainError as error:
        return t.BindBankCardError.from_domain(error)
    return t.BankCardBound(card=_card(row))


async def deposit(info: Info, input: t.DepositInput) -> t.DepositResult:
    try:
        row = await accounts.deposit(
            actor=await info.context.get_actor(),
            amount=int(input.amount),
            channel=DepositChannel(input.channel.value),
            card_id=_int_id(input.card_id, "cardId"),
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        if error.code == "NOT_FOUND":
            error = DomainError(error.message, code="CARD_NOT_BOUND", field="cardId")
        return t.DepositError.from_domain(error)
    return t.DepositStarted(deposit=_deposit(row))


async def withdraw(info: Info, input: t.WithdrawInput) -> t.WithdrawResult:
    try:
        card_id = _int_id(input.card_id, "cardId")
        assert card_id is not None
        operation = await withdrawals.withdraw(
            actor=await info.context.get_actor(),
            amount=int(input.amount),
            speed=WithdrawSpeed(input.speed.value),
            card_id=card_id,
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        if error.code == "NOT_FOUND":
            error = DomainError(error.message, code="CARD_NOT_BOUND", field="cardId")
        return t.WithdrawError.from_domain(error)
    fee = withdrawals.withdraw_fee(WithdrawSpeed(input.speed.value))
    return t.ConfirmationRequired(
        operation_id=strawberry.ID(str(operation.id)),
        amount=Money(operation.amount),
        fee=Money(fee),
        counterparty=operation.counterparty,
        expires_at=operation.expires_at,
    )


async def confirm_operation(info: Info, input: t.ConfirmOperationInput) -> t.ConfirmOperationResult:
    try:
        done = await confirmation.confirm_operation(
            actor=await info.context.get_actor(), operation_id=input.operation_id, code=input.code
        )
    except DomainError as error:
        return t.ConfirmOperationError.from_domain(error)
    return t.OperationConfirmed(
        operation_id=strawberry.ID(str(done.operation.id)),
        withdrawal=_withdrawal(done.withdrawal) if done.withdrawal else None,
        bid=bid_view(done.target) if isinstance(done.target, Bid) else None,
        auto_bid_rule=(
            await auto_bid_rule_view(done.target) if isinstance(done.target, AutoBidRule) else None
        ),
        repayment=repayment_view(done.target) if isinstance(done.target, Repayment) else None,
        claim_transfer=(
            transfer_view(done.target, done.operation.user_id)
            if isinstance(done.target, ClaimTransfer)
            else None
        ),
    )


async def resend_operation_code(
    info: Info, input: t.ResendOperationCodeInput
) -> t.ResendOperationCodeResult:
    try:
        resent = await confirmation.resend_operation_code(
            actor=await info.context.get_actor(), operation_id=input.operation_id
        )
    except DomainError as error:
        return t.ResendOperationCodeError.from_domain(error)
    return t.OperationCodeResent(
        operation_id=strawberry.ID(str(resent.operation.id)),
        phone_masked=resent.phone_masked,
        expires_at=resent.operation.expires_at,
    )


def _filter(where: t.TransactionFilterInput | None) -> statements.TransactionFilter:
    if where is None:
        return statements.TransactionFilter()
    return statements.TransactionFilter(
        kinds=tuple(where.kinds or ()), date_from=where.date_from, date_to=where.date_to
    )


def _transaction(row: statements.Movement) -> t.TransactionType:
    return t.TransactionType(
        id=strawberry.ID(str(row.id)),
        kind=row.kind,
        account=t.BalanceKind(row.account),
        amount=Money(row.amount),
        balance_after=Money(row.balance_after),
        memo=row.memo,
        created_at=row.created_at,
    )


async def my_transactions(
    info: Info,
    filter: t.TransactionFilterInput | None = None,
    first: int | None = 20,
    after: str | None = None,
) -> Connection[t.TransactionType]:
    size = clamp_first(first)
    try:
        before = decode_cursor(after)
        page = await statements.list_movements(
            actor=await info.context.get_actor(),
            where=_filter(filter),
            first=size + 1,
            before_id=before,
        )
    except (ValueError, DomainError) as error:
        raise BadUserInputError(str(error), field="filter") from error
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=_transaction,
    )


async def my_transactions_csv(info: Info, filter: t.TransactionFilterInput | None = None) -> str:
    try:
        return await statements.export_csv(
            actor=await info.context.get_actor(), where=_filter(filter)
        )
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
