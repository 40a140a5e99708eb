"""Custody account, bank cards, deposits, withdrawals and confirmations (M1.3, M1.4, M4)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money
from schema.types.loans import AutoBidRule, BidType
from schema.types.repayments.repayments import Repayment
from schema.types.transfers import ClaimTransfer


@strawberry.enum(description="State of the member's virtual account at the payment provider.")
class CustodyStatus(Enum):
    OPENING = "opening"
    OPEN = "open"
    FAILED = "failed"


@strawberry.type(description="The member's virtual account at the payment provider.")
class CustodyAccount:
    status: CustodyStatus = strawberry.field(description="Opening, open or failed.")
    real_name_masked: str = strawberry.field(description="Account holder, masked.")
    id_number_masked: str = strawberry.field(description="Resident ID, masked.")


@strawberry.enum(description="State of a bank card binding.")
class BankCardStatus(Enum):
    BINDING = "binding"
    BOUND = "bound"
    FAILED = "failed"


@strawberry.type(description="A bank card in the member's name.")
class BankCardType:
    id: strawberry.ID = strawberry.field(description="Card id, used by deposit and withdraw.")
    card_masked: str = strawberry.field(description="Only the last four digits are shown.")
    bank_name: str = strawberry.field(description="Issuing bank, as entered.")
    status: BankCardStatus = strawberry.field(description="Binding, bound or failed.")
    failure_reason: str = strawberry.field(description="Why the provider refused it.")


@strawberry.type(
    description="The member's money: what they can use, what is frozen, what is on its way out."
)
class MyAccount:
    available: Money = strawberry.field(description="Usable now.")
    frozen: Money = strawberry.field(description="Held for bids until a loan fills or fails.")
    pending_withdrawal: Money = strawberry.field(description="Withdrawals not yet paid out.")
    custody: CustodyAccount | None = strawberry.field(description="Null until opened.")
    bank_cards: list[BankCardType] = strawberry.field(description="Bound and binding cards.")


@strawberry.input(description="Open the custody account in your real name.")
class OpenAccountInput:
    real_name: str = strawberry.field(description="Name on the resident ID.")
    id_number: str = strawberry.field(description="18-character resident ID number.")


@strawberry.type(description="The provider answered: see the custody status.")
class AccountOpened:
    custody: CustodyAccount = strawberry.field(description="The account.")


OpenAccountErrorCode = error_codes("OpenAccount", ["INVALID", "ALREADY_OPEN"], "Why not opened.")
OpenAccountError = error_type("OpenAccount", OpenAccountErrorCode, "Nothing was opened.")
OpenAccountResult = Annotated[
    AccountOpened | OpenAccountError, strawberry.union("OpenAccountResult")
]


@strawberry.input(description="Bind a bank card in your own name.")
class BindBankCardInput:
    card_number: str = strawberry.field(description="12 to 19 digits.")
    bank_name: str = strawberry.field(default="", description="Issuing bank.")


@strawberry.type(description="The provider checked the card holder: see the status.")
class BankCardBound:
    card: BankCardType = strawberry.field(description="The card.")


BindBankCardErrorCode = error_codes(
    "BindBankCard", ["INVALID", "ACCOUNT_NOT_OPEN", "CARD_ALREADY_BOUND"], "Why not bound."
)
BindBankCardError = error_type("BindBankCard", BindBankCardErrorCode, "Nothing was bound.")
BindBankCardResult = Annotated[
    BankCardBound | BindBankCardError, strawberry.union("BindBankCardResult")
]


@strawberry.enum(description="How the money comes in.")
class DepositChannelEnum(Enum):
    GATEWAY = "GATEWAY"
    POS = "POS"
    AUTO_DEBIT = "AUTO_DEBIT"


@strawberry.enum(description="Paid when the bank confirms; failed when it refuses.")
class DepositStatus(Enum):
    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"


@strawberry.type(name="Deposit", description="A deposit into the custody account.")
class DepositType:
    id: strawberry.ID = strawberry.field(description="Deposit id.")
    amount: Money = strawberry.field(description="Amount.")
    channel: DepositChannelEnum = strawberry.field(description="Gateway, POS or auto-debit.")
    status: DepositStatus = strawberry.field(description="Pending, paid or failed.")
    pay_url: str = strawberry.field(description="Gateway/POS: where to pay. Empty otherwise.")
    created_at: datetime = strawberry.field(description="When it was started (UTC).")


@strawberry.input(description="Put money into the custody account.")
class DepositInput:
    amount: Money = strawberry.field(description="More than 0.00.")
    channel: DepositChannelEnum = strawberry.field(description="How to pay.")
    card_id: strawberry.ID | None = strawberry.field(default=None, description="For AUTO_DEBIT.")
    idempotency_key: str = strawberry.field(description="Same key, same request: one deposit.")


@strawberry.type(description="The deposit is registered with the provider.")
class DepositStarted:
    deposit: DepositType = strawberry.field(description="The deposit.")


DepositErrorCode = error_codes(
    "Deposit",
    ["INVALID", "ACCOUNT_NOT_OPEN", "CARD_NOT_BOUND", "IDEMPOTENCY_KEY_REUSED", "IN_PROGRESS"],
    "Why the deposit was not started.",
)
DepositError = error_type("Deposit", DepositErrorCode, "Nothing was started.")
DepositResult = Annotated[DepositStarted | DepositError, strawberry.union("DepositResult")]


@strawberry.enum(description="T+1 (next business day), T+0 (same day) or real time.")
class WithdrawSpeedEnum(Enum):
    T1 = "T1"
    T0 = "T0"
    REALTIME = "REALTIME"


@strawberry.input(description="Take money out to a bound card (needs SMS confirmation).")
class WithdrawInput:
    amount: Money = strawberry.field(description="More than 0.00; the fee comes on top.")
    speed: WithdrawSpeedEnum = strawberry.field(description="Fees differ by speed.")
    card_id: strawberry.ID = strawberry.field(description="A bound card of yours.")
    idempotency_key: str = strawberry.field(description="Same key, same request: one withdrawal.")


@strawberry.type(description="Nothing has moved yet: confirm with the SMS code just sent.")
class ConfirmationRequired:
    operation_id: strawberry.ID = strawberry.field(description="Pass to confirmOperation.")
    amount: Money = strawberry.field(description="What will leave the account.")
    fee: Money = strawberry.field(description="The fee on top.")
    counterparty: str = strawberry.field(description="Where it goes (masked).")
    expires_at: datetime = strawberry.field(description="Confirm before this time.")


WithdrawErrorCode = error_codes(
    "Withdraw",
    [
        "INVALID",
        "ACCOUNT_NOT_OPEN",
        "CARD_NOT_BOUND",
        "INSUFFICIENT_FUNDS",
        "IDEMPOTENCY_KEY_REUSED",
        "IN_PROGRESS",
    ],
    "Why the withdrawal was not started.",
)
WithdrawError = error_type("Withdraw", WithdrawErrorCode, "Nothing was started or moved.")
WithdrawResult = Annotated[ConfirmationRequired | WithdrawError, strawberry.union("WithdrawResult")]


@strawberry.enum(description="Where a withdrawal is.")
class WithdrawalStatus(Enum):
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@strawberry.type(name="Withdrawal", description="A withdrawal to a bank card.")
class WithdrawalType:
    id: strawberry.ID = strawberry.field(description="Withdrawal id.")
    amount: Money = strawberry.field(description="Paid to the card.")
    fee: Money = strawberry.field(description="Charged on top.")
    speed: WithdrawSpeedEnum = strawberry.field(description="Speed chosen.")
    status: WithdrawalStatus = strawberry.field(description="Where it is.")
    failure_reason: str = strawberry.field(description="Why it failed, if it did.")


@strawberry.input(description="Carry out a pending operation with its SMS code.")
class ConfirmOperationInput:
    operation_id: strawberry.ID = strawberry.field(description="From the pending operation.")
    code: str = strawberry.field(description="The 6-digit code sent for this operation.")


@strawberry.type(description="The operation was carried out.")
class OperationConfirmed:
    operation_id: strawberry.ID = strawberry.field(description="The operation.")
    withdrawal: WithdrawalType | None = strawberry.field(description="For withdrawals.")
    bid: BidType | None = strawberry.field(description="For bids: the bid as accepted.")
    auto_bid_rule: AutoBidRule | None = strawberry.field(
        description="For the automatic bidding opt-in: the rule, now enabled."
    )
    repayment: Repayment | None = strawberry.field(
        description="For repayments: the repayment, settled."
    )
    claim_transfer: ClaimTransfer | None = strawberry.field(
        description="For purchases of claims (buyClaim): the purchase, done."
    )


ConfirmOperationErrorCode = error_codes(
    "ConfirmOperation",
    [
        "NOT_FOUND",
        "OPERATION_CLOSED",
        "OPERATION_EXPIRED",
        "OPERATION_CANCELLED",
        "CODE_INVALID",
        "CODE_EXPIRED",
        "CODE_ATTEMPTS_EXCEEDED",
        "INSUFFICIENT_FUNDS",
        "ACCOUNT_NOT_OPEN",
        "LOAN_NOT_OPEN",
        "LOAN_FULL",
        "OWN_LOAN",
        "LENDING_VERIFICATION_REQUIRED",
        "BID_OUT_OF_RANGE",
        "RISK_ASSESSMENT_REQUIRED",
        "RISK_NOTICE_NOT_CONFIRMED",
        "GRADE_NOT_ALLOWED",
        "LENDING_CAP_EXCEEDED",
        "NOTHING_DUE",
        "LOAN_NOT_REPAYING",
        "AMOUNT_CHANGED",
        "LISTING_NOT_OPEN",
        "LISTING_CHANGED",
        "OWN_LISTING",
        "LOAN_OVERDUE",
        "MORE_THAN_AVAILABLE",
        "BELOW_MINIMUM_UNIT",
    ],
    "Why nothing was carried out (a bid or repayment refused here is REFUSED: nothing "
    "frozen or moved; LENDING_VERIFICATION_REQUIRED: see missingVerifications).",
)
ConfirmOperationError = error_type(
    "ConfirmOperation",
    ConfirmOperationErrorCode,
    "Nothing moved.",
    lists_missing_verifications=True,
)
ConfirmOperationResult = Annotated[
    OperationConfirmed | ConfirmOperationError, strawberry.union("ConfirmOperationResult")
]


@strawberry.input(description="Send a new SMS code for a pending operation whose code was lost.")
class ResendOperationCodeInput:
    operation_id: strawberry.ID = strawberry.field(description="The pending operation.")


@strawberry.type(
    description="A new code is on its way, with the same text as the first; the earlier "
    "codes of the operation no longer work. The time to confirm is not extended."
)
class OperationCodeResent:
    operation_id: strawberry.ID = strawberry.field(description="The operation.")
    phone_masked: str = strawberry.field(description="Where the code was sent.")
    expires_at: datetime = strawberry.field(
        description="Confirm before this time: the operation's, unchanged by a resend."
    )


ResendOperationCodeErrorCode = error_codes(
    "ResendOperationCode",
    ["NOT_FOUND", "OPERATION_CLOSED", "OPERATION_EXPIRED", "TOO_SOON"],
    "Why no code was sent (TOO_SOON: one code a minute per operation).",
)
ResendOperationCodeError = error_type(
    "ResendOperationCode", ResendOperationCodeErrorCode, "No code was sent."
)
ResendOperationCodeResult = Annotated[
    OperationCodeResent | ResendOperationCodeError,
    strawberry.union("ResendOperationCodeResult"),
]


@strawberry.enum(description="Which of the member's balances a movement changed.")
class BalanceKind(Enum):
    AVAILABLE = "AVAILABLE"
    FROZEN = "FROZEN"
    PENDING_WITHDRAWAL = "PENDING_WITHDRAWAL"


@strawberry.type(name="Transaction", description="One movement of the member's money.")
class TransactionType:
    id: strawberry.ID = strawberry.field(description="Movement id.")
    kind: str = strawberry.field(description="Business event, e.g. deposit_paid.")
    account: BalanceKind = strawberry.field(description="The balance it changed.")
    amount: Money = strawberry.field(description="Signed: negative when money left.")
    balance_after: Money = strawberry.field(description="That balance right after it.")
    memo: str = strawberry.field(description="Details.")
    created_at: datetime = strawberry.field(description="When (UTC).")


@strawberry.input(description="Narrow the movements down.")
class TransactionFilterInput:
    kinds: list[str] | None = strawberry.field(default=None, description="Event kinds.")
    date_from: date | None = strawberry.field(
        default=None, name="from", description="First day (UTC), inclusive."
    )
    date_to: date | None = strawberry.field(
        default=None, name="to", description="Last day (UTC), inclusive."
    )
