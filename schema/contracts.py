"""Root fields: electronic contracts (M3.1-M3.6)."""

from __future__ import annotations

import strawberry

from resolvers import contracts as r
from schema.directives import auth, public
from schema.pagination import Connection
from schema.types import contracts as t
from services.identity.permissions import Permission


@strawberry.type
class ContractsQuery:
    contracts: Connection[t.Contract] = strawberry.field(
        resolver=r.contracts,
        extensions=auth(Permission.PROFILE_READ),
        description="Contracts you are a party to, newest first (all of them for staff "
        "with contracts:read).",
    )
    contract: t.Contract | None = strawberry.field(
        resolver=r.contract,
        extensions=auth(Permission.PROFILE_READ),
        description="One contract, if you are a party to it or staff with contracts:read; "
        "null otherwise.",
    )
    verify_contract: t.ContractVerification = strawberry.field(
        resolver=r.verify_contract,
        extensions=public(),
        description="Anyone: is this PDF (multipart `file`) or this `sha256` an unaltered "
        "contract of this platform, and who signed it? Give exactly one of the two.",
    )
    contract_templates: list[t.ContractTemplate] = strawberry.field(
        resolver=r.contract_templates,
        extensions=auth(Permission.CONTRACTS_MANAGE),
        description="Every version of the contract templates, by kind, newest first.",
    )
    contract_emails: Connection[t.ContractEmail] = strawberry.field(
        resolver=r.contract_emails,
        extensions=auth(Permission.CONTRACTS_READ),
        description="Contract e-mails (e.g. status FAILED: those that did not go out), "
        "newest first.",
    )


@strawberry.type
class ContractsMutation:
    request_contract_signature: t.RequestContractSignatureResult = strawberry.mutation(
        resolver=r.request_contract_signature,
        extensions=auth(Permission.CONTRACTS_SIGN),
        description="Send yourself an SMS code that signs this contract (and only this document).",
    )
    sign_contract: t.SignContractResult = strawberry.mutation(
        resolver=r.sign_contract,
        extensions=auth(Permission.CONTRACTS_SIGN),
        description="Consent to a contract with the code; once every party has, the "
        "platform signs it.",
    )
    email_contract: t.EmailContractResult = strawberry.mutation(
        resolver=r.email_contract,
        extensions=auth(Permission.CONTRACTS_READ),
        description="E-mail the contract's PDF to its parties (retried until sent).",
    )
    publish_contract_template: t.PublishContractTemplateResult = strawberry.mutation(
        resolver=r.publish_contract_template,
        extensions=auth(Permission.CONTRACTS_MANAGE),
        description="Add a new version of a contract kind's template; new contracts use "
        "it, existing ones keep theirs.",
    )
