"""M10.1-M10.3 and M4.6 through the API: platform accounts and fund transactions to the
fen, reconciliation breaks, maker-checker adjustments (same person refused, member
never debited without consent), and refused calls change nothing."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from models.finance import Adjustment, BreakState, ReconciliationBreak
from models.ledger import Journal, Posting
from models.payments import BankCard, PaymentInstruction, PendingOperation, ProviderAccount
from models.system import OperationLogEntry
from services.money import ledger
from services.payments.gateway import get_provider
from services.payments.provider import DepositChannel, ProviderStatus
from services.payments.sandbox import sign_callback
from services.payments.sandbox.faults import FaultConfig
from services.platform import clock
from services.platform.clock import system_now
from tests.factories import (
    create_funded_member,
    create_staff,
    error_codes,
    gql,
    token_for,
    withdraw_confirmed,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

PLATFORM = """{ platformAccounts { fee riskReserve guaranteeFund margin membersAvailable
  membersFrozen membersWithdrawing heldAtProvider suspense } }"""
TRANSACTIONS = """query ($filter: FundTransactionFilter, $first: Int, $after: String) {
  fundTransactions(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { kind idempotencyKey postings { accountCode amount balanceAfter } } } } }"""
RUN = """mutation ($day: Date!) { runReconciliation(input: {day: $day}) {
  __typename ... on ReconciliationRan { run { status statementLines matched breaksFound
  breaksKnown } } ... on RunReconciliationError { code field } } }"""
BREAKS = """query ($state: ReconciliationBreakState) { reconciliationBreaks(state: $state) {
  totalCount edges { node { id kind state requestId account platformAmount providerAmount
  resolvedBy resolution } } } }"""
PROPOSE = """mutation ($input: ProposeAdjustmentInput!) { proposeAdjustment(input: $input) {
  __typename ... on AdjustmentProposed { adjustment { id status movesMoney breakId
  entries { accountCode amount } proposedBy } }
  ... on ProposeAdjustmentError { code field message } } }"""
APPROVE = """mutation ($id: ID!) { approveAdjustment(input: {adjustmentId: $id}) {
  __typename ... on AdjustmentApproved { adjustment { id status decidedBy journalId } }
  ... on ApproveAdjustmentError { code } } }"""
REJECT = """mutation ($id: ID!, $reason: String!) {
  rejectAdjustment(input: {adjustmentId: $id, reason: $reason}) {
  __typename ... on AdjustmentRejected { adjustment { status decisionNote decidedBy } }
  ... on RejectAdjustmentError { code } } }"""
ADJUSTMENTS = """query ($status: AdjustmentStatus) { adjustments(status: $status) {
  totalCount edges { node { id status reason } } } }"""


async def _staff(role: str = "finance") -> tuple[int, str]:
    user, phone = await create_staff(role)
    return user.id, await token_for(phone)


async def _provider_account(owner: str) -> str:
    account_id = (await ProviderAccount.get(owner_code=owner)).provider_account_id
    assert account_id
    return account_id


def _propose_input(entries: list[tuple[str, str]], **more: Any) -> dict[str, Any]:
    return {
        "input": {
            "reason": more.pop("reason", "Correct the ledger to the provider"),
            "entries": [{"accountCode": code, "amount": amount} for code, amount in entries],
            "idempotencyKey": more.pop("key", f"adj-{uuid.uuid4().hex[:12]}"),
            **more,
        }
    }


async def _money_state(*user_ids: int) -> dict[str, Any]:
    """Everything a refused finance call must leave as it was."""
    return {
        "balances": [await ledger.member_balances(user_id) for user_id in user_ids],
        "fee": await ledger.balance(ledger.FEE),
        "journals": await Journal.all().count(),
        "instructions": await PaymentInstruction.all().count(),
        "adjustments": sorted(await Adjustment.all().values_list("id", "status")),
        "breaks": sorted(await ReconciliationBreak.all().values_list("id", "state")),
    }


async def test_platform_accounts_and_fund_transactions_to_the_fen(client, app):
    lender, _phone, card_id = await create_funded_member(100000, name="Lender One")
    other, _phone, _card = await create_funded_member(2550, name="Other One")
    await withdraw_confirmed(lender.id, card_id, 30000, "T0")
    _staff_id, token = await _staff("auditor")

    accounts = (await gql(client, PLATFORM, token=token))["data"]["platformAccounts"]

    assert accounts == {
        "fee": "1.00",
        "riskReserve": "0.00",
        "guaranteeFund": "0.00",
        "margin": "0.00",
        "membersAvailable": "724.50",  # 1000.00 - 300.00 - 1.00 + 25.50
        "membersFrozen": "0.00",
        "membersWithdrawing": "300.00",
        "heldAtProvider": "1025.50",  # the withdrawal is not paid out yet
        "suspense": "0.00",
    }

    everything = (await gql(client, TRANSACTIONS, token=token))["data"]["fundTransactions"]
    assert everything["totalCount"] == 3
    nodes = [edge["node"] for edge in everything["edges"]]
    assert [node["kind"] for node in nodes] == [
        "withdrawal_confirmed",
        "deposit_paid",
        "deposit_paid",
    ]
    assert nodes[0]["postings"] == [
        {"accountCode": f"m:{lender.id}:available", "amount": "-301.00", "balanceAfter": "699.00"},
        {"accountCode": f"m:{lender.id}:withdrawing", "amount": "300.00", "balanceAfter": "300.00"},
        {"accountCode": "p:fee", "amount": "1.00", "balanceAfter": "1.00"},
    ]
    assert nodes[1]["postings"] == [
        {"accountCode": f"m:{other.id}:available", "amount": "25.50", "balanceAfter": "25.50"},
        {"accountCode": "x:bank", "amount": "-25.50", "balanceAfter": "-1025.50"},
    ]

    async def kinds(filter: dict[str, Any]) -> list[str]:
        body = await gql(client, TRANSACTIONS, {"filter": filter}, token=token)
        return [edge["node"]["kind"] for edge in body["data"]["fundTransactions"]["edges"]]

    today = await clock.today()
    assert await kinds({"kind": "deposit_paid"}) == ["deposit_paid", "deposit_paid"]
    assert await kinds({"accountCode": f"m:{other.id}:available"}) == ["deposit_paid"]
    assert await kinds({"accountCode": "p:fee", "kind": "deposit_paid"}) == []
    assert len(await kinds({"from": today.isoformat(), "to": today.isoformat()})) == 3
    assert await kinds({"from": (today + timedelta(days=1)).isoformat()}) == []

    first = (await gql(client, TRANSACTIONS, {"first": 2}, token=token))["data"]
    page = first["fundTransactions"]
    assert (len(page["edges"]), page["pageInfo"]["hasNextPage"]) == (2, True)
    rest = await gql(
        client, TRANSACTIONS, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token=token
    )
    last = rest["data"]["fundTransactions"]
    assert [edge["node"]["idempotencyKey"] for edge in last["edges"]] == [
        (await Journal.all().order_by("id").first()).idempotency_key
    ]
    assert last["pageInfo"]["hasNextPage"] is False

    backwards = {"from": today.isoformat(), "to": (today - timedelta(days=1)).isoformat()}
    refused = await gql(client, TRANSACTIONS, {"filter": backwards}, token=token)
    assert error_codes(refused) == ["BAD_USER_INPUT"]
    bad_cursor = await gql(client, TRANSACTIONS, {"after": "nonsense"}, token=token)
    assert error_codes(bad_cursor) == ["BAD_USER_INPUT"]


async def test_a_missed_movement_is_corrected_by_two_people(client, app):
    member, _phone, card_id = await create_funded_member(10000, name="Member Two")
    card = await BankCard.get(id=card_id)
    rogue = f"rogue-{uuid.uuid4().hex}"
    await get_provider().deposit(
        request_id=rogue,
        account_id=await _provider_account(f"m:{member.id}"),
        amount_fen=500,
        channel=DepositChannel.AUTO_DEBIT,
        card_id=card.provider_card_id,
    )
    maker_id, maker = await _staff()
    checker_id, checker = await _staff()
    today = (await clock.today()).isoformat()

    ran = (await gql(client, RUN, {"day": today}, token=maker))["data"]["runReconciliation"]
    assert ran["run"] == {
        "status": "COMPLETED",
        "statementLines": 2,
        "matched": 1,
        "breaksFound": 1,
        "breaksKnown": 0,
    }
    breaks = (await gql(client, BREAKS, {"state": "OPEN"}, token=maker))["data"]
    [found] = [edge["node"] for edge in breaks["reconciliationBreaks"]["edges"]]
    assert found == {
        "id": found["id"],
        "kind": "MISSING_AT_PLATFORM",
        "state": "OPEN",
        "requestId": rogue,
        "account": f"m:{member.id}:available",
        "platformAmount": None,
        "providerAmount": "5.00",
        "resolvedBy": None,
        "resolution": "",
    }

    # The provider is right: the ledger takes the deposit in (no money moves there).
    entries = [(f"m:{member.id}:available", "5.00"), ("x:bank", "-5.00")]
    proposed = (
        await gql(
            client,
            PROPOSE,
            _propose_input(entries, breakId=found["id"], reason="Deposit the platform missed"),
            token=maker,
        )
    )["data"]["proposeAdjustment"]
    assert proposed["__typename"] == "AdjustmentProposed", proposed
    adjustment = proposed["adjustment"]
    assert adjustment["status"] == "PROPOSED"
    assert adjustment["movesMoney"] is False
    assert adjustment["proposedBy"] == str(maker_id)
    assert adjustment["entries"] == [
        {"accountCode": f"m:{member.id}:available", "amount": "5.00"},
        {"accountCode": "x:bank", "amount": "-5.00"},
    ]
    before = await _money_state(member.id)

    same = (await gql(client, APPROVE, {"id": adjustment["id"]}, token=maker))["data"]
    assert same["approveAdjustment"] == {
        "__typename": "ApproveAdjustmentError",
        "code": "SAME_PERSON",
    }
    assert await _money_state(member.id) == before

    approved = (await gql(client, APPROVE, {"id": adjustment["id"]}, token=checker))["data"]
    result = approved["approveAdjustment"]
    assert result["__typename"] == "AdjustmentApproved", result
    assert result["adjustment"]["status"] == "APPROVED"
    assert result["adjustment"]["decidedBy"] == str(checker_id)
    journals = await Journal.filter(kind="adjustment")
    assert [journal.idempotency_key for journal in journals] == [f"adjustment:{adjustment['id']}"]
    assert result["adjustment"]["journalId"] == str(journals[0].id)
    postings = sorted(
        await Posting.filter(journal=journals[0]).values_list("account__code", "amount")
    )
    assert postings == [(f"m:{member.id}:available", 500), ("x:bank", -500)]
    assert await ledger.balance(ledger.available(member.id)) == 10500
    # Ledger-only: no instruction to the provider.
    assert await PaymentInstruction.all().count() == before["instructions"]
    resolved = await ReconciliationBreak.get(id=int(found["id"]))
    assert resolved.state == BreakState.RESOLVED
    assert resolved.resolved_by_id == checker_id
    assert (await ledger.check()).ok

    again = (await gql(client, RUN, {"day": today}, token=maker))["data"]["runReconciliation"]
    assert again["run"]["breaksFound"] == 0
    assert (await gql(client, BREAKS, {"state": "OPEN"}, token=maker))["data"][
        "reconciliationBreaks"
    ]["totalCount"] == 0

    twice = (await gql(client, APPROVE, {"id": adjustment["id"]}, token=checker))["data"]
    assert twice["approveAdjustment"]["code"] == "ADJUSTMENT_CLOSED"
    logged = await OperationLogEntry.filter(
        operation__in=["proposeAdjustment", "approveAdjustment", "runReconciliation"]
    ).values_list("operation", "result", "actor_id")
    assert sorted(logged) == sorted(
        [
            ("runReconciliation", "ReconciliationRan", maker_id),
            ("proposeAdjustment", "AdjustmentProposed", maker_id),
            ("approveAdjustment", "ApproveAdjustmentError:SAME_PERSON", maker_id),
            ("approveAdjustment", "AdjustmentApproved", checker_id),
            ("runReconciliation", "ReconciliationRan", maker_id),
            ("approveAdjustment", "ApproveAdjustmentError:ADJUSTMENT_CLOSED", checker_id),
        ]
    )


async def test_money_is_never_taken_from_a_member_without_consent(client, app):
    member, _phone, _card = await create_funded_member(10000, name="Member Three")
    _maker_id, maker = await _staff()
    _checker_id, checker = await _staff()
    entries = [(f"m:{member.id}:available", "-1.00"), ("p:fee", "1.00")]
    before = await _money_state(member.id)

    refused = (await gql(client, PROPOSE, _propose_input(entries), token=maker))["data"]
    assert refused["proposeAdjustment"]["code"] == "MEMBER_CONSENT_REQUIRED"
    assert refused["proposeAdjustment"]["field"] == "memberConsentOperationId"
    assert await _money_state(member.id) == before

    async def consent(amount: int, status: str = "CONFIRMED") -> str:
        operation = await PendingOperation.create(
            id=uuid.uuid4(),
            user_id=member.id,
            kind="ADJUSTMENT_CONSENT",
            target_id=0,
            amount=amount,
            counterparty="p:fee",
            status=status,
            expires_at=system_now() + timedelta(minutes=5),
        )
        return str(operation.id)

    for wrong in (await consent(99), await consent(100, status="AWAITING_CODE"), "not-an-id"):
        answer = await gql(
            client, PROPOSE, _propose_input(entries, memberConsentOperationId=wrong), token=maker
        )
        assert answer["data"]["proposeAdjustment"]["code"] == "MEMBER_CONSENT_REQUIRED"
    assert await _money_state(member.id) == before

    given = await consent(100)
    proposed = (
        await gql(
            client,
            PROPOSE,
            _propose_input(entries, memberConsentOperationId=given, reason="Fee the member owes"),
            token=maker,
        )
    )["data"]["proposeAdjustment"]
    assert proposed["adjustment"]["movesMoney"] is True
    reused = await gql(
        client, PROPOSE, _propose_input(entries, memberConsentOperationId=given), token=maker
    )
    assert reused["data"]["proposeAdjustment"]["code"] == "MEMBER_CONSENT_REQUIRED"

    approved = await gql(client, APPROVE, {"id": proposed["adjustment"]["id"]}, token=checker)
    assert approved["data"]["approveAdjustment"]["__typename"] == "AdjustmentApproved"
    # One journal, and the same money moved at the provider.
    assert await ledger.balance(ledger.available(member.id)) == 9900
    assert await ledger.balance(ledger.FEE) == 100
    [transfer] = await PaymentInstruction.filter(
        business_ref=f"adjustment:{proposed['adjustment']['id']}:0"
    )
    assert (transfer.kind, transfer.amount, transfer.status) == ("TRANSFER", 100, "SUCCEEDED")
    sandbox = app.state.sandbox.sandbox
    at_provider = await sandbox.balance(await _provider_account(f"m:{member.id}"))
    fee_at_provider = await sandbox.balance(await _provider_account(ledger.FEE))
    assert (at_provider.available_fen, fee_at_provider.available_fen) == (9900, 100)
    ran = await gql(client, RUN, {"day": (await clock.today()).isoformat()}, token=maker)
    assert ran["data"]["runReconciliation"]["run"]["breaksFound"] == 0


async def test_a_break_accepted_as_it_is_and_a_rejected_proposal(client, app):
    _member, _phone, _card = await create_funded_member(20000, name="Member Four")
    request_id = (
        await PaymentInstruction.filter(kind="DEPOSIT").order_by("-id").first()
    ).request_id
    await app.state.sandbox.sandbox.set_faults(FaultConfig(alter_statement={request_id: 19999}))
    maker_id, maker = await _staff()
    checker_id, checker = await _staff()
    await gql(client, RUN, {"day": (await clock.today()).isoformat()}, token=maker)
    [found] = await ReconciliationBreak.all()
    assert (found.kind, found.platform_amount, found.provider_amount) == (
        "AMOUNT_MISMATCH",
        20000,
        19999,
    )

    # The file misreported it: the balances agree. Accept it, no entries.
    first = (
        await gql(
            client,
            PROPOSE,
            _propose_input([], breakId=str(found.id), reason="Statement file typo"),
            token=maker,
        )
    )["data"]["proposeAdjustment"]["adjustment"]
    rejected = (
        await gql(
            client, REJECT, {"id": first["id"], "reason": "Ask the provider first"}, token=checker
        )
    )["data"]["rejectAdjustment"]
    assert rejected == {
        "__typename": "AdjustmentRejected",
        "adjustment": {
            "status": "REJECTED",
            "decisionNote": "Ask the provider first",
            "decidedBy": str(checker_id),
        },
    }
    closed = (await gql(client, APPROVE, {"id": first["id"]}, token=checker))["data"]
    assert closed["approveAdjustment"]["code"] == "ADJUSTMENT_CLOSED"
    assert (await ReconciliationBreak.get(id=found.id)).state == BreakState.OPEN

    second = (
        await gql(
            client,
            PROPOSE,
            _propose_input([], breakId=str(found.id), reason="Provider confirmed the typo"),
            token=maker,
        )
    )["data"]["proposeAdjustment"]["adjustment"]
    listed = (await gql(client, ADJUSTMENTS, {"status": "PROPOSED"}, token=checker))["data"]
    assert [edge["node"]["id"] for edge in listed["adjustments"]["edges"]] == [second["id"]]
    journals = await Journal.all().count()
    approved = (await gql(client, APPROVE, {"id": second["id"]}, token=checker))["data"]
    assert approved["approveAdjustment"]["adjustment"]["journalId"] is None
    assert await Journal.all().count() == journals
    accepted = await ReconciliationBreak.get(id=found.id)
    assert (accepted.state, accepted.resolved_by_id) == (BreakState.ACCEPTED, checker_id)
    assert accepted.resolution.endswith("Provider confirmed the typo")

    late = await gql(client, PROPOSE, _propose_input([], breakId=str(found.id)), token=maker)
    assert late["data"]["proposeAdjustment"]["code"] == "BREAK_NOT_OPEN"
    assert maker_id != checker_id


async def test_invalid_proposals_are_refused_and_change_nothing(client, app):
    member, _phone, _card = await create_funded_member(1000, name="Member Five")
    _maker_id, maker = await _staff()
    before = await _money_state(member.id)
    cases = [
        ([("p:fee", "-1.00"), ("p:margin", "2.00")], {}, "UNBALANCED"),
        ([("p:fee", "-1.00"), ("p:nowhere", "1.00")], {}, "UNKNOWN_ACCOUNT"),
        ([("p:fee", "-1.00"), ("x:bank", "1.00")], {}, "ACCOUNT_NOT_ALLOWED"),
        ([("p:fee", "0.00"), ("p:margin", "0.00")], {}, "INVALID"),
        ([("p:fee", "-1.00"), ("p:fee", "1.00")], {}, "INVALID"),
        ([], {}, "INVALID"),
        ([("p:fee", "-1.00"), ("p:margin", "1.00")], {"reason": "no"}, "INVALID"),
        ([("p:fee", "-1.00"), ("p:margin", "1.00")], {"breakId": "999"}, "NOT_FOUND"),
        ([("p:fee", "-1.00"), ("p:margin", "1.00")], {"key": "short"}, "INVALID"),
    ]
    for entries, more, code in cases:
        body = await gql(client, PROPOSE, _propose_input(entries, **more), token=maker)
        assert body["data"]["proposeAdjustment"]["code"] == code, (entries, more, body)
    assert await _money_state(member.id) == before

    # A replay of the same key and input is the same proposal.
    variables = _propose_input([("p:fee", "-1.00"), ("p:margin", "1.00")], key="replay-0001")
    ids = {
        (await gql(client, PROPOSE, variables, token=maker))["data"]["proposeAdjustment"][
            "adjustment"
        ]["id"]
        for _ in range(3)
    }
    assert len(ids) == 1
    assert await Adjustment.all().count() == 1
    # An approval that would overdraw the fee account is refused and changes nothing.
    _checker_id, checker = await _staff()
    before = await _money_state(member.id)
    refused = (await gql(client, APPROVE, {"id": ids.pop()}, token=checker))["data"]
    assert refused["approveAdjustment"]["code"] == "INSUFFICIENT_FUNDS"
    assert await _money_state(member.id) == before


async def test_a_callback_with_another_amount_is_a_break_at_once(client, app):
    member, phone, _card = await create_funded_member(name="Member Six")
    token = await token_for(phone)
    started = (
        await gql(
            client,
            'mutation { deposit(input: {amount: "5.00", channel: GATEWAY,'
            ' idempotencyKey: "gw-key-0001"}) { ... on DepositStarted { deposit { id } } } }',
            token=token,
        )
    )["data"]["deposit"]["deposit"]
    instruction = await PaymentInstruction.get(business_ref=f"deposit:{started['id']}")
    body = json.dumps(
        {
            "event_id": "evt-amount-1",
            "request_id": instruction.request_id,
            "kind": "DEPOSIT",
            "status": ProviderStatus.SUCCEEDED.value,
            "amount_fen": 499,
            "occurred_at": system_now().isoformat(),
            "reason": "",
        }
    ).encode()
    now = str(int(time.time()))
    headers = {
        "X-LB-Timestamp": now,
        "X-LB-Signature": sign_callback(app.state.settings.webhook_secret, now, body),
    }
    assert (
        await client.post("/webhooks/payments", content=body, headers=headers)
    ).status_code == 200

    # The platform credits what it asked for; finance sees the difference at once.
    assert await ledger.balance(ledger.available(member.id)) == 500
    _staff_id, auditor = await _staff("auditor")
    breaks = (await gql(client, BREAKS, {"state": "OPEN"}, token=auditor))["data"]
    assert [
        (node["node"]["kind"], node["node"]["platformAmount"], node["node"]["providerAmount"])
        for node in breaks["reconciliationBreaks"]["edges"]
    ] == [("AMOUNT_MISMATCH", "5.00", "4.99")]


async def test_a_future_day_is_refused(client, app):
    _staff_id, token = await _staff()
    tomorrow = (await clock.today() + timedelta(days=1)).isoformat()
    body = await gql(client, RUN, {"day": tomorrow}, token=token)
    assert body["data"]["runReconciliation"] == {
        "__typename": "RunReconciliationError",
        "code": "INVALID",
        "field": "day",
    }


CONSENT = """mutation ($member: ID!, $amount: Money!, $reason: String!) {
  requestAdjustmentConsent(input: {memberId: $member, amount: $amount, reason: $reason}) {
  __typename ... on AdjustmentConsentRequested { operationId amount }
  ... on RequestAdjustmentConsentError { code field } } }"""
CONFIRM = """mutation ($op: ID!, $code: String!) {
  confirmOperation(input: {operationId: $op, code: $code}) {
  __typename ... on OperationConfirmed { operationId withdrawal { id } }
  ... on ConfirmOperationError { code } } }"""


async def test_a_member_agrees_by_sms_code_before_money_is_taken(client, app):
    member, phone, _card = await create_funded_member(10000, name="Member Seven")
    member_token = await token_for(phone)
    maker_id, maker = await _staff()
    _checker_id, checker = await _staff()
    reason = "Fee charged twice by mistake"

    nobody = await gql(
        client, CONSENT, {"member": str(maker_id), "amount": "2.50", "reason": reason}, token=maker
    )
    assert nobody["data"]["requestAdjustmentConsent"]["code"] == "NOT_FOUND"
    asked = (
        await gql(
            client,
            CONSENT,
            {"member": str(member.id), "amount": "2.50", "reason": reason},
            token=maker,
        )
    )["data"]["requestAdjustmentConsent"]
    assert asked["__typename"] == "AdjustmentConsentRequested", asked
    assert asked["amount"] == "2.50"
    operation_id = asked["operationId"]
    notices = await gql(
        client, "{ myNotices { edges { node { kind body } } } }", token=member_token
    )
    [notice] = [
        edge["node"]
        for edge in notices["data"]["myNotices"]["edges"]
        if edge["node"]["kind"] == "adjustment_consent"
    ]
    assert operation_id in notice["body"]
    assert reason in notice["body"]
    sms = (await gql(client, "{ devOutbox(first: 1) { body } }"))["data"]["devOutbox"][0]["body"]
    code = re.search(r"\b(\d{6})\b", sms)[1]
    assert "¥2.50" in sms

    entries = [(f"m:{member.id}:available", "-2.50"), ("p:fee", "2.50")]
    not_yet = await gql(
        client, PROPOSE, _propose_input(entries, memberConsentOperationId=operation_id), token=maker
    )
    assert not_yet["data"]["proposeAdjustment"]["code"] == "MEMBER_CONSENT_REQUIRED"

    confirmed = await gql(client, CONFIRM, {"op": operation_id, "code": code}, token=member_token)
    assert confirmed["data"]["confirmOperation"] == {
        "__typename": "OperationConfirmed",
        "operationId": operation_id,
        "withdrawal": None,
    }
    assert await ledger.balance(ledger.available(member.id)) == 10000  # agreeing moves nothing

    proposed = (
        await gql(
            client,
            PROPOSE,
            _propose_input(entries, memberConsentOperationId=operation_id, reason=reason),
            token=maker,
        )
    )["data"]["proposeAdjustment"]
    assert proposed["__typename"] == "AdjustmentProposed", proposed
    approved = await gql(client, APPROVE, {"id": proposed["adjustment"]["id"]}, token=checker)
    assert approved["data"]["approveAdjustment"]["adjustment"]["status"] == "APPROVED"
    assert await ledger.balance(ledger.available(member.id)) == 9750
    assert await ledger.balance(ledger.FEE) == 250
    at_provider = await app.state.sandbox.sandbox.balance(await _provider_account(f"m:{member.id}"))
    assert at_provider.available_fen == 9750
