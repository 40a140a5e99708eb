"""Issue 22, M5.3 through the API: the SLA clock of service cases, moved by the business
clock (devAdvanceClock, which runs each day's jobs: `cases_sla` among them).

A complaint has 120 hours by default and is warned at 80 % (96 hours). Three days on
it is on time and nobody is told; on the fourth day the job warns its assignee (once),
on the fifth marks it breached and tells them (once); later days tell nobody again. A
staff answer stops the clock, the member's reply starts a new one. An unassigned case
is told to every staff member who handles cases, not to other staff. The SLA of a kind
is a parameter: 30 hours for enquiries warns on the first day and breaches on the
second; a value of 0 hours is refused. The complaints' figures reach the staff
dashboard (`dashboardFigures`).
"""

from __future__ import annotations

from typing import Any

import pytest

from services.platform import clock
from tests.api.test_dashboard import _feed_stopped, _figures, _platform, _subscribe
from tests.cases.helpers import (
    ANSWER,
    ASSIGN,
    CLOSE,
    OPEN,
    Person,
    act,
    call,
    case_notices,
    listed,
    member,
    staff,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

ADVANCE = """mutation ($days: Int!) { devAdvanceClock(input: {days: $days}) {
  __typename ... on ClockAdvanced { jobRuns { day job outcome summary } } } }"""
SET = """mutation ($name: String!, $value: JSON!, $reason: String!) {
  setPlatformParameter(input: {name: $name, value: $value, reason: $reason}) { __typename
    ... on SetPlatformParameterError { code field } } }"""
COMPLAINT = {"kind": "COMPLAINT", "subject": "Fee charged twice", "text": "See my statement."}
ENQUIRY = {"kind": "ENQUIRY", "subject": "Tax statement", "text": "Where is it?"}


async def _advance(client: Any, admin: Person, days: int) -> list[str]:
    """Move the clock; the `cases_sla` job's summary of each day passed."""
    moved = (await call(client, admin, ADVANCE, {"days": days}))["devAdvanceClock"]
    runs = [run for run in moved["jobRuns"] if run["job"] == "cases_sla"]
    assert {run["outcome"] for run in runs} == {"DONE"}
    return [run["summary"] for run in runs]


async def _sla(client: Any, who: Person, case_id: str) -> tuple[str, int]:
    node = (await listed(client, who, caseId=case_id))["edges"][0]["node"]
    return node["sla"], node["breaches"]


async def test_a_complaint_is_warned_at_96_hours_and_breached_at_120_once_each(client):
    owner, cs, admin = await member(), await staff("cs"), await staff("admin")
    case = (await act(client, owner, OPEN, COMPLAINT))["case"]
    await act(client, cs, ASSIGN, {"caseId": case["id"], "assigneeId": str(cs.id)})
    assigned = await case_notices(client, cs)

    assert await _advance(client, admin, 3) == ["warned: 0, breached: 0"] * 3
    assert await _sla(client, cs, case["id"]) == ("ON_TIME", 0)
    assert await case_notices(client, cs) == assigned

    assert await _advance(client, admin, 1) == ["warned: 1, breached: 0"]
    assert await _sla(client, cs, case["id"]) == ("NEAR_BREACH", 0)
    warning = ("SERVICE_CASE_SLA_WARNING", f"Case {case['id']} is near its SLA")
    assert await case_notices(client, cs) == [warning, *assigned]

    assert await _advance(client, admin, 1) == ["warned: 0, breached: 1"]
    assert await _sla(client, cs, case["id"]) == ("BREACHED", 1)
    breach = ("SERVICE_CASE_SLA_BREACHED", f"Case {case['id']} breached its SLA")
    assert await case_notices(client, cs) == [breach, warning, *assigned]
    late = await listed(client, cs, breaching=True)
    assert [edge["node"]["id"] for edge in late["edges"]] == [case["id"]]

    assert await _advance(client, admin, 2) == ["warned: 0, breached: 0"] * 2
    assert await case_notices(client, cs) == [breach, warning, *assigned]
    # The member is never told about the platform's SLA.
    assert await case_notices(client, owner) == []

    await act(client, cs, ANSWER, {"caseId": case["id"], "text": "Refunded today."})
    assert await _sla(client, cs, case["id"]) == ("NOT_WAITING", 1)
    await act(client, owner, ANSWER, {"caseId": case["id"], "text": "Not yet arrived."})
    assert await _sla(client, cs, case["id"]) == ("ON_TIME", 1)
    assert await _advance(client, admin, 4) == ["warned: 0, breached: 0"] * 3 + [
        "warned: 1, breached: 0"
    ]


async def test_an_unassigned_case_is_told_to_every_case_staff_member_and_the_sla_is_a_parameter(
    client,
):
    owner, admin = await member(), await staff("admin")
    first_cs, second_cs, finance = await staff("cs"), await staff("cs"), await staff("finance")
    refused = await call(
        client,
        admin,
        SET,
        {
            "name": "cases.slaHours",
            "value": {"ENQUIRY": 0, "COMPLAINT": 120, "DISPUTE": 120, "DATA_REQUEST": 360},
            "reason": "test: no zero SLA",
        },
    )
    assert refused["setPlatformParameter"] == {
        "__typename": "SetPlatformParameterError",
        "code": "INVALID",
        "field": "value",
    }
    saved = await call(
        client,
        admin,
        SET,
        {
            "name": "cases.slaHours",
            "value": {"ENQUIRY": 30, "COMPLAINT": 120, "DISPUTE": 120, "DATA_REQUEST": 360},
            "reason": "test: enquiries within 30 hours",
        },
    )
    assert saved["setPlatformParameter"]["__typename"] == "PlatformParameterSet"
    case = (await act(client, owner, OPEN, ENQUIRY))["case"]
    opened_at = case["openedAt"]
    assert case["dueAt"] > opened_at

    assert await _advance(client, admin, 1) == ["warned: 1, breached: 0"]  # 24 h of 30
    warning = ("SERVICE_CASE_SLA_WARNING", f"Case {case['id']} is near its SLA")
    assert await case_notices(client, first_cs) == [warning]
    assert await case_notices(client, second_cs) == [warning]
    assert await case_notices(client, finance) == []

    assert await _advance(client, admin, 1) == ["warned: 0, breached: 1"]
    breach = ("SERVICE_CASE_SLA_BREACHED", f"Case {case['id']} breached its SLA")
    assert await case_notices(client, first_cs) == [breach, warning]
    assert await case_notices(client, second_cs) == [breach, warning]
    assert await case_notices(client, finance) == []


async def test_a_case_past_both_marks_at_once_is_told_once_as_breached(client):
    owner, cs, admin = await member(), await staff("cs"), await staff("admin")
    case = (await act(client, owner, OPEN, ENQUIRY))["case"]  # 48 hours: warned at 38.4

    assert await _advance(client, admin, 2) == ["warned: 0, breached: 0", "warned: 0, breached: 1"]
    assert await case_notices(client, cs) == [
        ("SERVICE_CASE_SLA_BREACHED", f"Case {case['id']} breached its SLA")
    ]


async def test_the_complaints_figures_reach_the_staff_dashboard(scripted, tmp_path):
    async with _platform(tmp_path) as platform:
        http = platform.http
        owner, cs = await member(), await staff("cs")
        finance = await staff("finance")
        slow = (await act(http, owner, OPEN, COMPLAINT))["case"]
        answered = (await act(http, owner, OPEN, COMPLAINT))["case"]
        await clock.advance(days=1)
        await act(http, cs, ANSWER, {"caseId": answered["id"], "text": "Looking into it."})
        await clock.advance(days=4)  # the slow one is past its 120 hours
        await act(http, owner, OPEN, COMPLAINT)
        await act(http, owner, OPEN, ENQUIRY)  # not a complaint

        ws = await _subscribe(platform.url, finance.phone)
        async with ws:
            first = await _figures(ws)
            assert first["complaints"] == {
                "open": 3,
                "breaching": 1,
                "openedToday": 1,
                "averageFirstAnswerMinutes": 1440,
            }

            await act(http, cs, CLOSE, {"caseId": slow["id"], "resolution": "Refunded"})

            second = await _figures(ws)
            assert second["complaints"] == {
                "open": 2,
                "breaching": 0,
                "openedToday": 1,
                # Closing counts as the slow complaint's first answer, 5 days on.
                "averageFirstAnswerMinutes": (1440 + 5 * 1440) // 2,
            }
    await _feed_stopped()
