"""Retention (R6) on the operation log: only the chain's oldest entries are removed, the
head keeps the last removed entry's place and hash, and what is left verifies; an edit or
a deletion among the entries left is still found, and new entries chain on."""

from __future__ import annotations

import pytest

from models.system import OperationLogEntry, OperationLogHead
from services.identity.permissions import ANONYMOUS
from services.platform import oplog

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _append(first: int, count: int) -> None:
    for index in range(first, first + count):
        await oplog.append(
            actor=ANONYMOUS,
            operation=f"op{index}",
            arguments={},
            client_ip="127.0.0.1",
            user_agent="test",
            result="Ok",
            trace_id=f"{index:032x}",
        )
    await oplog.seal_all()


async def test_pruning_the_oldest_entries_keeps_the_rest_verifiable():
    await _append(1, 5)
    ids = await OperationLogEntry.all().order_by("seq").values_list("id", flat=True)
    third = await OperationLogEntry.get(seq=2)

    assert await oplog.prune_through(2) == ids[:2]
    head = await OperationLogHead.get(id=1)
    assert (head.pruned_seq, head.pruned_hash, head.last_seq) == (2, third.entry_hash, 5)
    assert await oplog.verify() == oplog.VerifyReport(True, 3, None, None)
    assert await oplog.prune_through(2) == []  # idempotent
    assert await oplog.prune_through(1) == []  # never behind the foot

    await _append(6, 2)  # new entries chain on
    assert await oplog.verify() == oplog.VerifyReport(True, 5, None, None)

    await OperationLogEntry.filter(seq=4).update(result="Changed")
    assert await oplog.verify() == oplog.VerifyReport(False, 1, 4, "the entry was altered")
    await OperationLogEntry.filter(seq=4).delete()
    assert await oplog.verify() == oplog.VerifyReport(False, 1, 4, "an entry is missing")


async def test_removing_the_newest_entries_is_still_found_after_pruning():
    await _append(1, 4)
    await oplog.prune_through(3)
    await OperationLogEntry.filter(seq=4).delete()
    report = await oplog.verify()
    assert (report.valid, report.problem) == (False, "the newest entries were removed")
