"""What the retention purge removes, kind by kind (docs/retention.md). Each function takes
the day (business clock) and the kind's period, removes what has passed it and returns
the ids removed (or blanked) per table; run again the same day, it finds nothing.

"The loan ends" (`loan_ends`): a SETTLED loan on the day its last installment was paid;
a FAILED, REJECTED or CANCELLED one on the day it closed (created, when it never
listed). Any other loan is still running. (The platform has no write-off yet: when it
comes, its day is the end.) A party of a loan is its borrower, every bidder and every
claim holder; a party's records are tied to all their loans, so they pass a period only
when every one of those loans has ended and the period has run from the last end
(`Parties.passed`). People who were never party to a loan are no one's R6 records and
this purge leaves their data alone (their operation-log entries excepted, see `oplog`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.cases import CaseAttachment, CaseMessage, ServiceCase
from models.contracts import Contract, ContractConsent, ContractEmail, ContractParty
from models.credit import MaterialFile, VerificationReview, VerificationSubmission
from models.external import ExternalCheck
from models.members import User
from models.messaging import Notice, OutgoingMessage
from models.payments import BankCard, InstructionStatus, PaymentInstruction, ProviderAccount
from models.repayments import CollectionRecord
from models.system import OperationLogEntry, OperationLogHead
from services.kit.security import decrypt_pii, lookup_hash
from services.kit.storage import get_storage
from services.platform import oplog
from services.platform.loan_parties import Parties
from services.platform.retention import Period

Removed = dict[str, list[int]]  # table -> ids

# Personal values a provider instruction carries in plain text to the provider (opening
# a custody account, binding a card): blanked once the party's period has passed.
PERSONAL_PARAMS = ("real_name", "card_number", "holder_name", "holder_id_number")
PURGED = "[purged]"
_BATCH = 1000


async def _ids(query: QuerySet[Any]) -> list[int]:
    return [int(str(value)) for value in await query.values_list("id", flat=True)]


def _note(removed: Removed, table: str, ids: list[int]) -> None:
    if ids:
        removed.setdefault(table, []).extend(sorted(ids))


async def contracts(today: date, period: Period, ends: dict[int, date | None]) -> Removed:
    """A contract goes the day after `retain_until` (set when signed, moved later when its
    loan ends: services/contracts/signatures.py). One never signed has none: it goes
    when the period has run from its loan's end. Never while its loan runs. The archived
    PDF goes first, then the rows (parties, consents, e-mails, the contract)."""
    candidates = await Contract.filter(retain_until__lt=today).values_list("id", "loan_id")
    for contract_id, loan_id in await Contract.filter(
        retain_until__isnull=True, loan_id__isnull=False
    ).values_list("id", "loan_id"):
        end = ends.get(loan_id)
        if end is not None and today > period.ends_after(end):
            candidates.append((contract_id, loan_id))
    ids = sorted(
        contract_id
        for contract_id, loan_id in candidates
        if loan_id is None or ends.get(loan_id) is not None
    )
    removed: Removed = {}
    storage = get_storage()
    for key in await Contract.filter(id__in=ids).values_list("storage_key", flat=True):
        await storage.delete(str(key))
    async with in_transaction():
        for table, model in (
            ("contract_emails", ContractEmail),
            ("contract_consents", ContractConsent),
            ("contract_parties", ContractParty),
        ):
            rows = await _ids(model.filter(contract_id__in=ids))
            await model.filter(id__in=rows).delete()
            _note(removed, table, rows)
        await Contract.filter(id__in=ids).delete()
        _note(removed, "contracts", ids)
    return removed


async def _email_lookups(user_ids: list[int]) -> list[str]:
    """The lookup hashes of the e-mail addresses the members gave (EMAIL verifications),
    the key their outgoing e-mails are stored under."""
    found = []
    for values in await VerificationSubmission.filter(
        user_id__in=user_ids, kind="EMAIL"
    ).values_list("field_values", flat=True):
        stored: dict[str, Any] = values if isinstance(values, dict) else {}
        cipher = (stored.get("email") or {}).get("cipher")
        if cipher:
            found.append(lookup_hash(decrypt_pii(cipher)))
    return found


async def interaction_logs(
    today: date, period: Period, ends: dict[int, date | None], parties: Parties
) -> Removed:
    """The parties' notices, outgoing SMS and e-mail and service cases (their messages and
    attached files, from storage too), and the collection records of loans, once their
    period has passed; then the operation log's oldest entries (`oplog_prefix`)."""
    users = parties.passed(period, today)
    removed: Removed = {}
    lookups = [
        *await User.filter(id__in=users).values_list("phone_lookup", flat=True),
        *await _email_lookups(users),
    ]
    loans = [
        loan_id
        for loan_id, end in ends.items()
        if end is not None and today > period.ends_after(end)
    ]
    cases = await _ids(ServiceCase.filter(member_id__in=users))
    storage = get_storage()
    for key in await CaseAttachment.filter(case_id__in=cases).values_list("storage_key", flat=True):
        await storage.delete(str(key))
    async with in_transaction():
        for table, query in (
            ("notices", Notice.filter(user_id__in=users)),
            ("outgoing_messages", OutgoingMessage.filter(recipient_lookup__in=lookups)),
            ("collection_records", CollectionRecord.filter(loan_id__in=loans)),
            ("service_case_attachments", CaseAttachment.filter(case_id__in=cases)),
            ("service_case_messages", CaseMessage.filter(case_id__in=cases)),
            ("service_cases", ServiceCase.filter(id__in=cases)),
        ):
            ids = await _ids(query)
            await query.model.filter(id__in=ids).delete()
            _note(removed, table, ids)
    _note(removed, "operation_log", await oplog_prefix(today, period, parties))
    return removed


async def oplog_prefix(today: date, period: Period, parties: Parties) -> list[int]:
    """The operation log is one hash chain: removing an entry in the middle would break
    it, so only its oldest entries go, up to (not including) the first one still to be
    kept (oplog.prune_through keeps the chain verifiable from there). An entry is kept
    while its actor is a party inside the period, or, for anyone else (staff, visitors,
    members who never were a party), while the entry itself is younger than the period.
    Every entry about a loan comes after its borrower's first request for it, so a loan
    still kept holds back everything written since."""
    head = await OperationLogHead.get_or_none(id=1)
    if head is None:
        return []
    last = head.pruned_seq
    while True:
        batch = (
            await OperationLogEntry.filter(seq__gt=last, seq__lte=head.last_seq)
            .order_by("seq")
            .limit(_BATCH)
            .values_list("seq", "actor_id", "created_at")
        )
        for seq, actor_id, created_at in batch:
            protected = parties.protected(actor_id, period, today)
            if protected is None:
                protected = not today > period.ends_after(created_at.date())
            if protected:
                return await oplog.prune_through(last)
            last = seq
        if len(batch) < _BATCH:
            return await oplog.prune_through(last)


async def credit_materials(today: date, period: Period, parties: Parties) -> Removed:
    """The parties' verification submissions with their files (from storage too) and
    reviews, and their outside credit reports, once the period has run from their last
    loan's end. (A member who comes back later verifies again.)"""
    users = parties.passed(period, today)
    removed: Removed = {}
    submissions = await _ids(VerificationSubmission.filter(user_id__in=users))
    files = await MaterialFile.filter(submission_id__in=submissions).values_list(
        "id", "storage_key"
    )
    storage = get_storage()
    for _file_id, key in files:
        await storage.delete(str(key))
    async with in_transaction():
        await MaterialFile.filter(id__in=[file_id for file_id, _ in files]).delete()
        _note(removed, "material_files", [file_id for file_id, _ in files])
        reviews = await _ids(VerificationReview.filter(submission_id__in=submissions))
        await VerificationReview.filter(id__in=reviews).delete()
        _note(removed, "verification_reviews", reviews)
        await VerificationSubmission.filter(id__in=submissions).delete()
        _note(removed, "verification_submissions", submissions)
        checks = await _ids(ExternalCheck.filter(user_id__in=users))
        await ExternalCheck.filter(id__in=checks).delete()
        _note(removed, "external_checks", checks)
    return removed


async def transactions(today: date, period: Period, parties: Parties) -> Removed:
    """Transaction records keep their amounts for ever (the ledger must stay balanced and
    equal to the provider: docs/retention.md). What goes is the personal data the
    provider instructions carried in plain text (a custody account's real name, a card's
    number, holder name and ID number), once the party's period has passed and the
    instruction is final; the instruction keeps its kind, amount, status and ids."""
    users = parties.passed(period, today)
    refs = [
        *(
            f"account:{account_id}"
            for account_id in await _ids(ProviderAccount.filter(user_id__in=users))
        ),
        *(f"card:{card_id}" for card_id in await _ids(BankCard.filter(user_id__in=users))),
    ]
    blanked = []
    async with in_transaction():
        for row in await PaymentInstruction.filter(
            business_ref__in=refs,
            status__in=[InstructionStatus.SUCCEEDED, InstructionStatus.FAILED],
        ).select_for_update():
            params: dict[str, Any] = dict(row.params or {})
            personal = [name for name in PERSONAL_PARAMS if params.get(name) not in (None, PURGED)]
            if not personal:
                continue
            params.update(dict.fromkeys(personal, PURGED))
            await PaymentInstruction.filter(id=row.id).update(params=params)
            blanked.append(row.id)
    removed: Removed = {}
    _note(removed, "payment_instructions", blanked)
    return removed


def merge(*parts: Removed) -> Removed:
    merged: dict[str, list[int]] = defaultdict(list)
    for part in parts:
        for table, ids in part.items():
            merged[table].extend(ids)
    return {table: sorted(ids) for table, ids in sorted(merged.items())}
