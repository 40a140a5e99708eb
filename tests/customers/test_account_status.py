"""Issue 22, M5.2 through the API: lock, activate and close a member account.

A lock applies at once: the member's token stops working in the same request cycle,
sign-in and refresh are refused, and what they owe is still collected on its due date
(the auto-debit pays the installment and the lenders get their money). Activating and
closing wait for a second person; the proposer cannot decide their own. Closing is
refused while anything is left, with every blocker listed, and nothing changes; a closed
account never opens again. Every attempt is in the operation log.
"""

from __future__ import annotations

import pytest
from strawberry import relay

from models.customers import AccountStatusChange
from models.members import User
from models.repayments import InstallmentStatus, LoanInstallment
from models.system import OperationLogEntry
from services.errors import DomainError
from services.identity import auth
from services.money import ledger, withdrawals
from services.operations import confirmation
from services.payments.provider import WithdrawSpeed
from services.repayments import autodebit
from simulation.people import member_actor
from tests.factories import (
    PASSWORD,
    create_funded_member,
    create_member,
    create_staff,
    gql,
    token_for,
)
from tests.lending import (
    code_for,
    deposit_by_card,
    move_clock_to,
    repaying_loan,
    settle_everything,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SET = """mutation ($user: ID!, $status: UserStatus!, $reason: String!) {
  setAccountStatus(input: {userId: $user, status: $status, reason: $reason}) { __typename
    ... on AccountStatusSet { change { id state fromStatus toStatus reason decidedById } }
    ... on AccountCloseBlocked { code blockers { kind count detail } }
    ... on SetAccountStatusError { code field } } }"""
DECIDE = """mutation ($id: ID!, $approve: Boolean!, $reason: String!) {
  decideAccountStatusChange(input: {changeId: $id, approve: $approve, reason: $reason}) {
    __typename ... on AccountStatusSet { change { state toStatus decidedById } }
    ... on AccountCloseStillBlocked { code blockers { kind count } }
    ... on DecideAccountStatusChangeError { code field } } }"""
PENDING = "{ pendingAccountStatusChanges { totalCount edges { node { id toStatus state } } } }"
ME = "{ me { user { id status } } }"


def gid(user_id: int) -> str:
    return relay.to_base64("User", user_id)


async def _cs() -> tuple[str, int]:
    user, phone = await create_staff("cs")
    return await token_for(phone), user.id


async def _set(client, token: str, user_id: int, status: str, reason: str = "Fraud check"):
    variables = {"user": gid(user_id), "status": status, "reason": reason}
    body = await gql(client, SET, variables, token=token)
    assert body.get("data"), body
    return body["data"]["setAccountStatus"]


async def _decide(client, token: str, change_id: str, approve: bool, reason: str = ""):
    variables = {"id": change_id, "approve": approve, "reason": reason}
    return (await gql(client, DECIDE, variables, token=token))["data"]["decideAccountStatusChange"]


async def _status(user_id: int) -> str:
    return str((await User.get(id=user_id)).status)


async def test_a_lock_applies_at_once_and_its_loans_keep_repaying(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(60_000, 40_000), term=3)
    borrower = made.borrower
    member_token = await token_for(made.borrower_phone)
    pair = await auth.login(phone=made.borrower_phone, password=PASSWORD)
    assert (await gql(client, ME, token=member_token))["data"]["me"]["user"]["status"] == ("ACTIVE")
    cs, cs_id = await _cs()

    locked = await _set(client, cs, borrower.id, "LOCKED", "Suspected account takeover")
    assert locked["__typename"] == "AccountStatusSet", locked
    assert locked["change"]["state"] == "APPLIED"
    assert (locked["change"]["fromStatus"], locked["change"]["toStatus"]) == ("ACTIVE", "LOCKED")
    assert await _status(borrower.id) == "locked"
    # The token in hand stops working; sign-in and refresh are refused.
    after = await gql(client, ME, token=member_token)
    assert after["data"] is None or after["data"].get("me") is None, after
    with pytest.raises(DomainError) as refused:
        await auth.login(phone=made.borrower_phone, password=PASSWORD)
    assert refused.value.code == "ACCOUNT_DISABLED"
    with pytest.raises(DomainError):
        await auth.refresh(refresh_token=pair.refresh_token)

    # The installment is still collected on its due date, and the lenders paid.
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    (a, _), (b, _) = made.lenders
    before = {
        lender.id: (await ledger.member_balances(lender.id))["available"] for lender in (a, b)
    }
    await move_clock_to(first.due_date)
    assert await autodebit.auto_debit_due() == 1
    await settle_everything(sandbox)
    first = await LoanInstallment.get(id=first.id)
    assert first.status == InstallmentStatus.PAID
    gained = [
        (await ledger.member_balances(lender.id))["available"] - before[lender.id]
        for lender in (a, b)
    ]
    assert sum(gained) == first.principal_fen + first.interest_fen
    assert await _status(borrower.id) == "locked"

    logged = await OperationLogEntry.filter(operation="setAccountStatus").values_list(
        "result", "actor_id"
    )
    assert logged == [("AccountStatusSet", cs_id)]


async def test_activating_needs_a_second_person(app, client):
    member, phone = await create_member()
    cs, _ = await _cs()
    other, other_id = await _cs()
    await _set(client, cs, member.id, "LOCKED")

    proposed = await _set(client, cs, member.id, "ACTIVE", "Identity confirmed by video call")
    assert proposed["change"]["state"] == "PENDING", proposed
    assert await _status(member.id) == "locked"
    again = await _set(client, other, member.id, "ACTIVE", "Identity confirmed by video")
    assert again["code"] == "CHANGE_PENDING"
    waiting = (await gql(client, PENDING, token=other))["data"]["pendingAccountStatusChanges"]
    assert waiting["totalCount"] == 1
    assert waiting["edges"][0]["node"]["id"] == proposed["change"]["id"]

    own = await _decide(client, cs, proposed["change"]["id"], True)
    assert own["code"] == "OWN_PROPOSAL"
    no_reason = await _decide(client, other, proposed["change"]["id"], False, "no")
    assert (no_reason["code"], no_reason["field"]) == ("INVALID", "reason")
    assert await _status(member.id) == "locked"

    applied = await _decide(client, other, proposed["change"]["id"], True)
    assert applied["change"] == {
        "state": "APPLIED",
        "toStatus": "ACTIVE",
        "decidedById": gid(other_id),
    }
    assert await _status(member.id) == "active"
    assert await token_for(phone)  # signs in again
    twice = await _decide(client, other, proposed["change"]["id"], True)
    assert twice["code"] == "NOT_FOUND"


async def test_bad_requests_change_nothing(app, client):
    member, phone = await create_member()
    cs, cs_id = await _cs()
    member_token = await token_for(phone)

    short = await _set(client, cs, member.id, "LOCKED", "bad")
    assert (short["code"], short["field"]) == ("INVALID", "reason")
    own = await _set(client, cs, cs_id, "LOCKED", "Locking myself out")
    assert own["code"] == "OWN_ACCOUNT"
    same = await _set(client, cs, member.id, "ACTIVE", "It is active already")
    assert same["code"] == "STATUS_UNCHANGED"
    unknown = await _set(client, cs, 10**9, "LOCKED", "Nobody by that id")
    assert (unknown["code"], unknown["field"]) == ("NOT_FOUND", "userId")
    other_staff, _ = await create_staff("finance")
    not_member = await _set(client, cs, other_staff.id, "LOCKED", "A staff login, not a member")
    assert not_member["code"] == "NOT_FOUND"
    huge = await _set(client, cs, member.id, "LOCKED", "x" * 10_000)
    assert (huge["code"], huge["field"]) == ("INVALID", "reason")
    # A member, and staff without customers:manage, are refused at the field.
    for token in (member_token, await token_for((await create_staff("risk_l1"))[1])):
        body = await gql(
            client,
            SET,
            {"user": gid(member.id), "status": "LOCKED", "reason": "Not my call"},
            token=token,
        )
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _status(member.id) == "active"
    assert await AccountStatusChange.all().count() == 0


async def test_closing_lists_what_blocks_it_and_waits_for_nothing_left(app, client):
    sandbox = app.state.sandbox.sandbox
    member, phone, card_id = await create_funded_member(12_345)
    cs, _ = await _cs()
    other, _ = await _cs()

    blocked = await _set(client, cs, member.id, "CLOSED", "Member asked to leave")
    assert blocked["__typename"] == "AccountCloseBlocked", blocked
    assert blocked["code"] == "CLOSE_BLOCKED"
    assert [(row["kind"], row["count"]) for row in blocked["blockers"]] == [("BALANCE", 12_345)]

    # A withdrawal of everything (less its 1.00 fee) asked for, its code not yet given:
    # the withdrawal and its operation are pending.
    actor = member_actor(member.id)
    operation = await withdrawals.withdraw(
        actor=actor,
        amount=12_245,
        speed=WithdrawSpeed.T0,
        card_id=card_id,
        idempotency_key=f"leave-the-platform-{member.id}",
    )
    still = await _set(client, cs, member.id, "CLOSED", "Member asked to leave")
    assert [(row["kind"], row["count"]) for row in still["blockers"]] == [
        ("BALANCE", 12_345),
        ("PENDING_OPERATIONS", 2),
    ]
    assert await AccountStatusChange.all().count() == 0

    await confirmation.confirm_operation(
        actor=actor, operation_id=str(operation.id), code=await code_for(phone)
    )
    await settle_everything(sandbox)
    assert sum((await ledger.member_balances(member.id)).values()) == 0
    proposed = await _set(client, cs, member.id, "CLOSED", "Member asked to leave")
    assert proposed["change"]["state"] == "PENDING", proposed

    # Money comes in before the second person decides: the closure waits.
    await deposit_by_card(member.id, 500)
    late = await _decide(client, other, proposed["change"]["id"], True)
    assert late["__typename"] == "AccountCloseStillBlocked", late
    assert [(row["kind"], row["count"]) for row in late["blockers"]] == [("BALANCE", 500)]
    assert await _status(member.id) == "active"
    assert (await AccountStatusChange.get(id=int(proposed["change"]["id"]))).state == "PENDING"


async def test_a_clean_account_closes_after_a_second_person_agrees(app, client):
    member, phone = await create_member()
    cs, _ = await _cs()
    other, _ = await _cs()

    proposed = await _set(client, cs, member.id, "CLOSED", "Member asked to leave")
    assert proposed["change"]["state"] == "PENDING", proposed
    assert await token_for(phone)  # still open until the second person agrees
    applied = await _decide(client, other, proposed["change"]["id"], True, "Checked")
    assert applied["change"]["state"] == "APPLIED", applied
    assert await _status(member.id) == "closed"
    with pytest.raises(DomainError) as refused:
        await auth.login(phone=phone, password=PASSWORD)
    assert refused.value.code == "ACCOUNT_DISABLED"
    reopen = await _set(client, cs, member.id, "ACTIVE", "Member wants to come back")
    assert reopen["code"] == "NOT_ALLOWED"
    relock = await _set(client, cs, member.id, "LOCKED", "Member wants to come back")
    assert relock["code"] == "NOT_ALLOWED"
