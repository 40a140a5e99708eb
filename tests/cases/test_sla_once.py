"""The SLA job's marks hold when it runs twice at once (two processes, or the hourly tick
beside a devAdvanceClock day): each case is warned once and breached once, and each
recipient is told once. Its conditional UPDATEs decide; on PostgreSQL the two runs are
really concurrent transactions."""

from __future__ import annotations

import asyncio

import pytest

from models.cases import CaseKind
from models.messaging import Notice
from services.cases import cases, sla
from services.identity.permissions import Actor
from services.platform import clock
from tests.factories import create_member, create_staff

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_two_runs_at_once_warn_and_breach_each_case_once():
    owner, _phone = await create_member()
    cs, _cs_phone = await create_staff("cs")
    opened = [
        await cases.open_case(
            actor=Actor(user_id=owner.id, kind="member"),
            kind=CaseKind.ENQUIRY,
            subject=f"Question {n}",
            text="When?",
        )
        for n in range(3)
    ]
    await clock.advance(days=1)  # 24 hours of 48: nothing yet

    assert await asyncio.gather(sla.run(), sla.run()) == [sla.SlaRun(0, 0)] * 2

    await clock.advance(days=1)  # past 48 hours: breached (told once, as breached)
    runs = await asyncio.gather(sla.run(), sla.run(), sla.run())

    assert sum(run.breached for run in runs) == 3
    assert sum(run.warned for run in runs) == 0
    told = await Notice.filter(user_id=cs.id, kind="SERVICE_CASE_SLA_BREACHED").values_list(
        "title", flat=True
    )
    assert sorted(told) == sorted(f"Case {case.id} breached its SLA" for case in opened)
    assert await sla.run() == sla.SlaRun(0, 0)
