"""M11.2: every mutation is logged, and any edit or deletion of the log is detected."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from tortoise import connections

from models.system import OperationLogEntry, OperationLogHead
from services.identity.permissions import ANONYMOUS
from services.platform import oplog
from tests.factories import PASSWORD, create_member, create_staff, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

VERIFY = "{ verifyOperationLog { valid checked firstBadSeq problem } }"
LOGIN = """mutation ($p: String!, $w: String!) {
  login(input: {phone: $p, password: $w}) { __typename } }"""


async def _append_one(index: int) -> OperationLogEntry:
    return await oplog.append(
        actor=ANONYMOUS,
        operation=f"op{index}",
        arguments={"amount": "10.00", "password": "secret"},
        client_ip="127.0.0.1",
        user_agent="test",
        result="Ok",
        trace_id=f"{index:032x}",
    )


async def _append(n: int) -> None:
    """`n` entries, sealed (as the sealer does right after)."""
    for index in range(n):
        await _append_one(index)
    await oplog.seal_all()


async def _raw(sql: str) -> None:
    await connections.get("default").execute_script(sql)


async def test_every_mutation_is_logged_with_who_what_where_result_and_no_secrets(client):
    _user, phone = await create_member()
    await gql(client, LOGIN, {"p": phone, "w": "Wrong9999"})
    entries = await OperationLogEntry.all().order_by("seq")
    assert [(e.operation, e.result) for e in entries] == [
        ("login", "LoginError:INVALID_CREDENTIALS")
    ]
    entry = entries[0]
    assert entry.actor_label == "anonymous"
    assert entry.client_ip == "127.0.0.1"
    assert entry.arguments == {"input": {"phone": "***", "password": "***"}}
    assert phone not in str(entry.arguments)


async def test_intact_log_verifies(client):
    await _append(5)
    _auditor, phone = await create_staff("auditor")
    body = await gql(client, VERIFY, token=await token_for(phone))
    assert body["data"]["verifyOperationLog"] == {
        "valid": True,
        "checked": 5,
        "firstBadSeq": None,
        "problem": None,
    }


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "problem"),
    [
        ("UPDATE operation_log SET result = 'Forged' WHERE seq = 3", 3, "the entry was altered"),
        (
            "UPDATE operation_log SET client_ip = '10.0.0.9' WHERE seq = 1",
            1,
            "the entry was altered",
        ),
        ("DELETE FROM operation_log WHERE seq = 2", 2, "an entry is missing"),
        ("DELETE FROM operation_log WHERE seq = 5", 5, "the newest entries were removed"),
    ],
)
async def test_tampered_log_is_detected(client, tamper, bad_seq, problem):
    await _append(5)
    await _raw(tamper)
    _auditor, phone = await create_staff("auditor")
    body = await gql(client, VERIFY, token=await token_for(phone, PASSWORD))
    report = body["data"]["verifyOperationLog"]
    assert report["valid"] is False
    assert report["firstBadSeq"] == bad_seq
    assert report["problem"] == problem


async def test_rehashing_an_edited_entry_still_breaks_the_chain():
    """An attacker who edits an entry and recomputes its hash breaks the next link."""
    await _append(3)
    entry = await OperationLogEntry.get(seq=2)
    entry.result = "Forged"
    entry.content_hash = oplog._entry_hash(oplog._content(entry))
    entry.entry_hash = oplog._entry_hash(oplog._fields(entry))
    await entry.save()
    report = await oplog.verify()
    assert (report.valid, report.first_bad_seq, report.problem) == (
        False,
        3,
        "the link to the previous entry is broken",
    )


async def test_appends_take_no_lock_and_are_sealed_in_order_into_one_chain():
    entries = await asyncio.gather(*(_append_one(index) for index in range(40)))
    assert {entry.seq for entry in entries} == {None}  # inserted with no place yet
    assert await OperationLogHead.get_or_none(id=1) is None  # the head was not touched
    assert await oplog.seal(batch=15) == 15
    assert await oplog.seal_all() == 25
    sealed = await OperationLogEntry.all().order_by("id")
    assert [entry.seq for entry in sealed] == list(range(1, 41))
    report = await oplog.verify()
    assert (report.valid, report.checked) == (True, 40)


async def test_two_sealers_at_once_make_one_chain():
    await asyncio.gather(*(_append_one(index) for index in range(60)))
    sealed = await asyncio.gather(*(oplog.seal(batch=7) for _ in range(12)))
    assert sum(sealed) == 60
    assert await oplog.seal_all() == 0
    report = await oplog.verify()
    assert (report.valid, report.checked) == (True, 60)


async def test_an_entry_edited_while_waiting_to_be_sealed_is_found():
    await _append(2)
    waiting = await _append_one(7)
    await _raw(f"UPDATE operation_log SET result = 'Forged' WHERE id = {waiting.id}")
    report = await oplog.verify()  # seals it, then checks its content against its hash
    assert (report.valid, report.first_bad_seq, report.problem) == (
        False,
        3,
        "the entry was altered",
    )


async def test_entries_sealed_before_content_hashes_existed_still_verify():
    """Entries written by the locked append (migration 0022 keeps them as they were)."""
    last = oplog.GENESIS
    for seq in (1, 2):
        entry = OperationLogEntry(
            seq=seq,
            actor_label="anonymous",
            operation=f"old{seq}",
            arguments={},
            client_ip="127.0.0.1",
            result="Ok",
            trace_id=f"{seq:032x}",
            created_at=datetime(2026, 11, 1, 9, seq, tzinfo=UTC),
            prev_hash=last,
        )
        entry.entry_hash = last = oplog._entry_hash(oplog._fields(entry))
        await entry.save()
    await OperationLogHead.create(id=1, last_seq=2, last_hash=last)
    await _append(3)
    report = await oplog.verify()
    assert (report.valid, report.checked) == (True, 5)
    await _raw("UPDATE operation_log SET result = 'Forged' WHERE seq = 1")
    assert (await oplog.verify()).first_bad_seq == 1
