"""Electronic contracts (M3): contracts, parties, signatures, verification, e-mail,
templates."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money


@strawberry.enum(description="Loan (M3.1), guarantee (M3.2) or claim transfer (M3.3).")
class ContractKind(Enum):
    LOAN = "LOAN"
    GUARANTEE = "GUARANTEE"
    CLAIM_TRANSFER = "CLAIM_TRANSFER"


@strawberry.enum(description="Where a contract is in signing.")
class ContractStatus(Enum):
    DRAFT = "DRAFT"
    SIGNING = "SIGNING"
    SIGNED = "SIGNED"


@strawberry.enum(description="A party's part in a contract.")
class ContractPartyRole(Enum):
    BORROWER = "BORROWER"
    LENDER = "LENDER"
    GUARANTOR = "GUARANTOR"
    SELLER = "SELLER"
    BUYER = "BUYER"


@strawberry.enum(description="How a party's consent was confirmed.")
class ConsentMethod(Enum):
    SMS_CODE = "SMS_CODE"
    BID_CONFIRMATION = "BID_CONFIRMATION"
    PURCHASE_CONFIRMATION = "PURCHASE_CONFIRMATION"
    LISTING = "LISTING"
    POLICY_ISSUE = "POLICY_ISSUE"


@strawberry.type(description="A party as the contract names it (masked).")
class ContractParty:
    role: ContractPartyRole = strawberry.field(description="Borrower, lender, ...")
    name_masked: str = strawberry.field(description="Name, masked (e.g. 张**).")
    id_masked: str = strawberry.field(description="ID number, masked.")
    amount: Money | None = strawberry.field(
        description="Lent (lender), or principal transferred (seller, buyer); else null."
    )
    signed_at: datetime | None = strawberry.field(
        description="When this party consented (business time, UTC); null until then."
    )
    method: ConsentMethod | None = strawberry.field(description="How they consented.")
    client_ip: str | None = strawberry.field(
        description="From which address they consented (shown to staff only)."
    )


@strawberry.type(description="A contract: an order with its number and its PDF document.")
class Contract:
    id: strawberry.ID = strawberry.field(description="Contract id.")
    number: str = strawberry.field(description="Order number, e.g. LB-LOAN-20261129-000123.")
    kind: ContractKind = strawberry.field(description="Which kind.")
    status: ContractStatus = strawberry.field(description="Draft, signing or signed.")
    title: str = strawberry.field(description="Title, from its template.")
    template_version: int = strawberry.field(description="Version of the kind's template used.")
    loan_ref: str = strawberry.field(description="The loan it belongs to.")
    amount: Money = strawberry.field(
        description="The loan amount (loan, guarantee) or the principal transferred."
    )
    sha256: str = strawberry.field(description="SHA-256 of the PDF, hex: what parties sign.")
    signature: str | None = strawberry.field(
        description="The platform's Ed25519 signature over "
        "`sha256:<sha256>:contract:<number>`, base64; null until every party consented."
    )
    signed_at: datetime | None = strawberry.field(description="When it was fully signed.")
    retain_until: date | None = strawberry.field(
        description="Kept at least until this day (R6); set when signed."
    )
    created_at: datetime = strawberry.field(description="Issued at (UTC).")
    parties: list[ContractParty] = strawberry.field(description="Every party, in order.")
    download_path: str = strawberry.field(
        description="GET it with the same bearer token (parties and permitted staff) to "
        "print: served only while it matches its hash (409 otherwise)."
    )


@strawberry.type(description="Someone who consented to a verified contract.")
class ContractSigner:
    role: ContractPartyRole = strawberry.field(description="Their part.")
    name_masked: str = strawberry.field(description="Name, masked.")
    method: ConsentMethod = strawberry.field(description="How they consented.")
    at: datetime = strawberry.field(description="When (UTC).")


@strawberry.type(description="Whether a file (or hash) is an unaltered, signed contract.")
class ContractVerification:
    valid: bool = strawberry.field(
        description="True: a contract of this platform, signed by every party and the "
        "platform, byte for byte as signed."
    )
    sha256: str = strawberry.field(description="The SHA-256 checked.")
    contract_number: str | None = strawberry.field(description="Null unless valid.")
    kind: ContractKind | None = strawberry.field(description="Null unless valid.")
    signed_at: datetime | None = strawberry.field(description="Null unless valid.")
    signature: str | None = strawberry.field(
        description="The platform's signature over `sha256:<sha256>:contract:<number>`."
    )
    platform_public_key: str = strawberry.field(
        description="The platform's Ed25519 public key, base64 (to check it yourself)."
    )
    signers: list[ContractSigner] = strawberry.field(description="Who consented, in order.")


@strawberry.input(description="Send yourself a code that signs a contract.")
class RequestContractSignatureInput:
    contract_id: strawberry.ID = strawberry.field(description="A contract you are party to.")


@strawberry.type(description="A code was sent to your phone; sign with signContract.")
class ContractSignatureRequested:
    contract: Contract = strawberry.field(description="The contract.")
    phone: str = strawberry.field(description="Where the code went (masked).")


RequestContractSignatureErrorCode = error_codes(
    "RequestContractSignature",
    ["INVALID", "NOT_FOUND", "ALREADY_SIGNED", "TOO_SOON"],
    "Why no code was sent.",
)
RequestContractSignatureError = error_type(
    "RequestContractSignature", RequestContractSignatureErrorCode, "No code was sent."
)
RequestContractSignatureResult = Annotated[
    ContractSignatureRequested | RequestContractSignatureError,
    strawberry.union("RequestContractSignatureResult"),
]


@strawberry.input(description="Consent to a contract with the SMS code sent for it.")
class SignContractInput:
    contract_id: strawberry.ID = strawberry.field(description="The contract.")
    code: str = strawberry.field(description="The six-digit code.")


@strawberry.type(description="Your consent is recorded (and the contract signed if all have).")
class ContractSigned:
    contract: Contract = strawberry.field(description="The contract, as now.")


SignContractErrorCode = error_codes(
    "SignContract",
    [
        "INVALID",
        "NOT_FOUND",
        "ALREADY_SIGNED",
        "CODE_INVALID",
        "CODE_EXPIRED",
        "CODE_ATTEMPTS_EXCEEDED",
    ],
    "Why the consent was not recorded.",
)
SignContractError = error_type("SignContract", SignContractErrorCode, "Nothing was recorded.")
SignContractResult = Annotated[
    ContractSigned | SignContractError, strawberry.union("SignContractResult")
]


# --- e-mail (M3.5) ------------------------------------------------------------------------


@strawberry.enum(description="Who a contract is e-mailed to.")
class ContractEmailRecipients(Enum):
    PARTIES = "PARTIES"


@strawberry.enum(description="Where an e-mail is.")
class ContractEmailStatus(Enum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


@strawberry.type(description="One e-mail of a contract's PDF to one party.")
class ContractEmail:
    id: strawberry.ID = strawberry.field(description="E-mail id.")
    contract_id: strawberry.ID = strawberry.field(description="The contract.")
    recipient: str = strawberry.field(description="Address, masked.")
    status: ContractEmailStatus = strawberry.field(description="Pending, sent or failed.")
    attempts: int = strawberry.field(description="Attempts so far.")
    last_error: str = strawberry.field(description="What the last failed attempt met.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is tried again; null once sent or given up."
    )
    sent_at: datetime | None = strawberry.field(description="When the server accepted it.")
    created_at: datetime = strawberry.field(description="Queued at (UTC).")


@strawberry.input(description="E-mail a contract's PDF.")
class EmailContractInput:
    contract_id: strawberry.ID = strawberry.field(description="The contract.")
    to: ContractEmailRecipients = strawberry.field(
        default=ContractEmailRecipients.PARTIES,
        description="PARTIES: every party with an approved e-mail address.",
    )


@strawberry.type(description="The e-mails are queued; they go out after this request.")
class ContractEmailed:
    emails: list[ContractEmail] = strawberry.field(description="One per party with an address.")
    skipped: list[ContractParty] = strawberry.field(
        description="Parties without an approved e-mail address."
    )


EmailContractErrorCode = error_codes(
    "EmailContract", ["INVALID", "NOT_FOUND"], "Why nothing was queued."
)
EmailContractError = error_type("EmailContract", EmailContractErrorCode, "Nothing was queued.")
EmailContractResult = Annotated[
    ContractEmailed | EmailContractError, strawberry.union("EmailContractResult")
]


# --- templates ----------------------------------------------------------------------------


@strawberry.type(description="One version of a contract kind's text.")
class ContractTemplate:
    id: strawberry.ID = strawberry.field(description="Template id.")
    kind: ContractKind = strawberry.field(description="Which kind.")
    version: int = strawberry.field(description="Version, from 1.")
    title: str = strawberry.field(description="Document title.")
    body: str = strawberry.field(
        description="Paragraphs separated by blank lines: `# ` a heading, `@parties`, "
        "`@lenders`, `@schedule` a table, `$name` a placeholder ($$ for a dollar sign)."
    )
    placeholders: list[str] = strawberry.field(description="Placeholders this kind offers.")
    tables: list[str] = strawberry.field(description="Tables this kind offers.")
    created_at: datetime = strawberry.field(description="Published at (UTC).")


@strawberry.input(description="A new version of a kind's template.")
class PublishContractTemplateInput:
    kind: ContractKind = strawberry.field(description="Which kind.")
    title: str = strawberry.field(description="Document title, 1-200 characters.")
    body: str = strawberry.field(description="The text (see ContractTemplate.body).")


@strawberry.type(description="The new version is in force for new contracts.")
class ContractTemplatePublished:
    template: ContractTemplate = strawberry.field(description="The new version.")


PublishContractTemplateErrorCode = error_codes(
    "PublishContractTemplate", ["INVALID", "CONFLICT"], "Why the version was not added."
)
PublishContractTemplateError = error_type(
    "PublishContractTemplate", PublishContractTemplateErrorCode, "Nothing was added."
)
PublishContractTemplateResult = Annotated[
    ContractTemplatePublished | PublishContractTemplateError,
    strawberry.union("PublishContractTemplateResult"),
]
