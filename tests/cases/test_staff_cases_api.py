"""Issue 22, M5.3 through the API, the staff's side of service cases.

A staff answer stops the SLA clock (ANSWERED), is the case's first answer, assigns the
case to its author when nobody had it, and reaches the member three ways: a notice
(`myNotices`, pushed at once to a member watching `notifications`), an SMS to their
phone and an e-mail to their approved address. The member's reply starts a new wait
with a new SLA clock. Staff assign (only to staff who handle cases), escalate once to
level 2 (optionally to a named supervisor) and close with a resolution, which the
member is told; a closed case takes no more handling. The list filters by status,
kind, assignee, level and breaching and pages newest first by keyset.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from models.messaging import MessageChannel, OutgoingMessage
from services.kit.security import lookup_hash
from services.platform import clock
from tests.api.test_dashboard import _platform
from tests.api.test_subscriptions import SUBSCRIPTION as NOTIFICATIONS
from tests.api.test_subscriptions import _open, _receive, _send, _wait_for_subscribers
from tests.cases.helpers import (
    ANSWER,
    ASSIGN,
    CLOSE,
    ESCALATE,
    OPEN,
    act,
    case_notices,
    listed,
    member,
    staff,
    state,
)
from tests.factories import approve_email

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

ENQUIRY = {"kind": "ENQUIRY", "subject": "How do I repay early?", "text": "Can I repay early?"}
COMPLAINT = {"kind": "COMPLAINT", "subject": "Rude call", "text": "A collector was rude."}


async def test_a_staff_answer_reaches_the_member_by_notice_sms_and_email(client):
    owner, cs = await member(), await staff("cs")
    await approve_email(owner.id, "owner@example.com")
    case = (await act(client, owner, OPEN, ENQUIRY))["case"]
    await clock.advance(days=1)

    answered = await act(
        client, cs, ANSWER, {"caseId": case["id"], "text": "Yes: repayEarly in the app."}
    )

    after = answered["case"]
    assert {k: after[k] for k in ("status", "sla", "dueAt", "assigneeId")} == {
        "status": "ANSWERED",
        "sla": "NOT_WAITING",
        "dueAt": None,
        "assigneeId": str(cs.id),
    }
    assert datetime.fromisoformat(after["firstAnsweredAt"]) - datetime.fromisoformat(
        after["openedAt"]
    ) >= timedelta(days=1)
    assert [(m["entry"], m["authorId"]) for m in after["messages"]] == [
        ("MEMBER", str(owner.id)),
        ("STAFF", str(cs.id)),
    ]
    assert (await case_notices(client, owner))[0] == (
        "SERVICE_CASE_ANSWERED",
        f"Case {case['id']} answered",
    )
    sms = (
        await OutgoingMessage.filter(
            channel=MessageChannel.SMS, recipient_lookup=lookup_hash(owner.phone)
        )
        .order_by("-id")
        .first()
    )
    assert sms is not None
    assert sms.body.startswith(f"[LendBridge] Your case {case['id']} ({ENQUIRY['subject']})")
    assert "repayEarly in the app." in sms.body
    email = await OutgoingMessage.get(
        channel=MessageChannel.EMAIL, recipient_lookup=lookup_hash("owner@example.com")
    )
    assert email.subject == f"LendBridge: Case {case['id']} answered"

    replied = await act(client, owner, ANSWER, {"caseId": case["id"], "text": "And the fee?"})

    again = replied["case"]
    assert (again["status"], again["sla"]) == ("OPEN", "ON_TIME")
    assert datetime.fromisoformat(again["dueAt"]) > datetime.fromisoformat(case["dueAt"])
    assert again["firstAnsweredAt"] == after["firstAnsweredAt"]


async def test_staff_assign_escalate_and_close_and_a_closed_case_takes_no_more(client):
    owner, cs, supervisor = await member(), await staff("cs"), await staff("cs")
    finance = await staff("finance")
    case = (await act(client, owner, OPEN, COMPLAINT))["case"]
    before = await state()

    not_case_staff = await act(
        client, cs, ASSIGN, {"caseId": case["id"], "assigneeId": str(finance.id)}
    )
    no_reason = await act(client, cs, ESCALATE, {"caseId": case["id"], "reason": " "})
    long_reason = await act(client, cs, ESCALATE, {"caseId": case["id"], "reason": "r" * 10_000})
    no_case = await act(client, cs, CLOSE, {"caseId": "999999", "resolution": "Done"})
    assert [(r["code"], r["field"]) for r in (not_case_staff, no_reason, long_reason, no_case)] == [
        ("ASSIGNEE_NOT_CASE_STAFF", "assigneeId"),
        ("INVALID", "reason"),
        ("INVALID", "reason"),
        ("NOT_FOUND", "caseId"),
    ]
    assert await state() == before

    assigned = await act(client, cs, ASSIGN, {"caseId": case["id"], "assigneeId": str(cs.id)})
    assert assigned["case"]["assigneeId"] == str(cs.id)
    assert await case_notices(client, cs) == [
        ("SERVICE_CASE_ASSIGNED", f"Case {case['id']} assigned to you")
    ]

    escalated = await act(
        client,
        cs,
        ESCALATE,
        {
            "caseId": case["id"],
            "reason": "Threatens to go to the regulator",
            "supervisorId": str(supervisor.id),
        },
    )
    assert (escalated["case"]["level"], escalated["case"]["assigneeId"]) == (2, str(supervisor.id))
    assert escalated["case"]["dueAt"] == case["dueAt"]  # escalating buys no time
    assert await case_notices(client, supervisor) == [
        ("SERVICE_CASE_ESCALATED", f"Case {case['id']} escalated")
    ]
    twice = await act(client, supervisor, ESCALATE, {"caseId": case["id"], "reason": "Again"})
    assert twice["code"] == "ALREADY_ESCALATED"

    for resolution in ("", "r" * 10_000, "r" * 2001):
        refused = await act(
            client, supervisor, CLOSE, {"caseId": case["id"], "resolution": resolution}
        )
        assert (refused["code"], refused["field"]) == ("INVALID", "resolution")
    closed = await act(
        client, supervisor, CLOSE, {"caseId": case["id"], "resolution": "Apologised; coached"}
    )

    assert {k: closed["case"][k] for k in ("status", "resolution", "sla", "dueAt")} == {
        "status": "CLOSED",
        "resolution": "Apologised; coached",
        "sla": "NOT_WAITING",
        "dueAt": None,
    }
    assert closed["case"]["firstAnsweredAt"] == closed["case"]["closedAt"]
    assert [(m["entry"], m["text"]) for m in closed["case"]["messages"]] == [
        ("MEMBER", COMPLAINT["text"]),
        ("ACTION", f"Assigned to staff {cs.id}"),
        ("ACTION", "Escalated to level 2: Threatens to go to the regulator"),
        ("ACTION", "Closed: Apologised; coached"),
    ]
    assert (await case_notices(client, owner))[0] == (
        "SERVICE_CASE_CLOSED",
        f"Case {case['id']} closed",
    )

    before = await state()
    for query, fields in (
        (CLOSE, {"resolution": "Again"}),
        (ASSIGN, {"assigneeId": str(cs.id)}),
        (ESCALATE, {"reason": "Again"}),
        (ANSWER, {"text": "One more thing"}),
    ):
        refused = await act(client, cs, query, {"caseId": case["id"], **fields})
        assert refused["code"] == "CASE_CLOSED", (query, refused)
    assert await state() == before


async def test_staff_filter_the_cases_and_page_them_newest_first(client):
    first_member, second_member = await member(), await member("Second")
    cs, other_cs = await staff("cs"), await staff("cs")
    enquiry = (await act(client, first_member, OPEN, ENQUIRY))["case"]
    complaint = (await act(client, first_member, OPEN, COMPLAINT))["case"]
    late = (await act(client, second_member, OPEN, ENQUIRY))["case"]
    await act(client, cs, ASSIGN, {"caseId": complaint["id"], "assigneeId": str(other_cs.id)})
    await act(client, cs, ESCALATE, {"caseId": complaint["id"], "reason": "Serious"})
    await act(client, cs, CLOSE, {"caseId": enquiry["id"], "resolution": "Answered by phone"})
    await clock.advance(days=3)  # the open enquiry passes its 48 hours, the complaint not
    await act(client, second_member, ANSWER, {"caseId": late["id"], "text": "Hello?"})

    def ids(page):
        return [edge["node"]["id"] for edge in page["edges"]]

    assert ids(await listed(client, cs)) == [late["id"], complaint["id"], enquiry["id"]]
    assert ids(await listed(client, cs, status="CLOSED")) == [enquiry["id"]]
    assert ids(await listed(client, cs, kind="COMPLAINT")) == [complaint["id"]]
    assert ids(await listed(client, cs, assigneeId=str(other_cs.id))) == [complaint["id"]]
    assert ids(await listed(client, cs, level=2)) == [complaint["id"]]
    breaching = await listed(client, cs, breaching=True)
    assert ids(breaching) == [late["id"]]
    assert breaching["edges"][0]["node"]["sla"] == "BREACHED"
    assert ids(await listed(client, cs, breaching=False)) == [complaint["id"], enquiry["id"]]
    assert ids(await listed(client, first_member, kind="ENQUIRY")) == [enquiry["id"]]

    page_one = await listed(client, cs, first=2)
    page_two = await listed(client, cs, first=2, after=page_one["pageInfo"]["endCursor"])
    assert (ids(page_one), page_one["totalCount"], page_one["pageInfo"]["hasNextPage"]) == (
        [late["id"], complaint["id"]],
        3,
        True,
    )
    assert (ids(page_two), page_two["pageInfo"]["hasNextPage"]) == ([enquiry["id"]], False)


async def test_the_member_watching_notifications_receives_the_staff_answer(scripted, tmp_path):
    async with _platform(tmp_path) as platform:
        owner, cs = await member(), await staff("cs")
        case = (await act(platform.http, owner, OPEN, ENQUIRY))["case"]
        ws = await _open(platform.url, "graphql-transport-ws", owner.token)
        async with ws:
            await _send(ws, {"id": "n", "type": "subscribe", "payload": {"query": NOTIFICATIONS}})
            await _wait_for_subscribers(owner.user, 1)

            await act(platform.http, cs, ANSWER, {"caseId": case["id"], "text": "Yes, any day."})

            message = await _receive(ws)
            assert message["payload"]["data"]["notifications"] == {
                "kind": "SERVICE_CASE_ANSWERED",
                "title": f"Case {case['id']} answered",
                "body": f"Your case {case['id']} ({ENQUIRY['subject']}) has an answer: "
                "Yes, any day.",
            }
