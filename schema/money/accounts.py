"""Root fields: the member's money at the provider (M1.3, M1.4, M1.11, M4.1-M4.4, M4.8)."""

from __future__ import annotations

import strawberry

from resolvers.money import accounts as r
from schema.directives import auth
from schema.pagination import Connection
from schema.types.money import accounts as t
from services.identity.permissions import Permission


@strawberry.type
class AccountsQuery:
    my_account: t.MyAccount = strawberry.field(
        resolver=r.my_account,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Your balances (available, frozen, pending), custody account and cards.",
    )

    my_transactions: Connection[t.TransactionType] = strawberry.field(
        resolver=r.my_transactions,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Every movement of your money, newest first, with running balances.",
    )
    my_transactions_csv: str = strawberry.field(
        resolver=r.my_transactions_csv,
        extensions=auth(Permission.ACCOUNT_USE),
        description="The same movements as CSV (up to 10,000 rows, amounts in yuan).",
    )


@strawberry.type
class AccountsMutation:
    open_account: t.OpenAccountResult = strawberry.mutation(
        resolver=r.open_account,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Open your virtual account at the payment provider (real name).",
    )
    bind_bank_card: t.BindBankCardResult = strawberry.mutation(
        resolver=r.bind_bank_card,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Bind a bank card in your name; the provider verifies the holder.",
    )
    deposit: t.DepositResult = strawberry.mutation(
        resolver=r.deposit,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Put money in through the bank gateway, a POS terminal or auto-debit.",
    )
    withdraw: t.WithdrawResult = strawberry.mutation(
        resolver=r.withdraw,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Ask to withdraw to a bound card; returns an operation to confirm by SMS.",
    )
    confirm_operation: t.ConfirmOperationResult = strawberry.mutation(
        resolver=r.confirm_operation,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Carry out a pending operation with the SMS code bound to it.",
    )
    resend_operation_code: t.ResendOperationCodeResult = strawberry.mutation(
        resolver=r.resend_operation_code,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Send a new SMS code for a pending operation of yours whose code was "
        "lost; the earlier codes stop working, the time to confirm stays the operation's.",
    )
