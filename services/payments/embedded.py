"""Dev and test only: play the bank with the embedded sandbox provider.

In production the provider settles on its own schedule and calls back; the demo seeding
and the tests need "now": `settle_until_quiet` dispatches the outbox, sends every open
payment instruction at once, lets the sandbox settle what is due today and deliver its
callbacks, until no event and no instruction is open.
"""

from __future__ import annotations

import asyncio

from models.messaging import OutboxEvent
from models.payments import InstructionStatus, PaymentInstruction
from services.payments import instructions
from services.payments.sandbox import Sandbox
from services.platform import clock, outbox
from services.platform.clock import system_now

_OPEN = (InstructionStatus.PENDING, InstructionStatus.UNKNOWN, InstructionStatus.SENT)


async def settle_until_quiet(sandbox: Sandbox, *, rounds: int = 200) -> None:
    """Until the platform is quiet: every event dispatched, every instruction sent,
    answered and called back. Raises RuntimeError when it is not after `rounds` passes
    (the platform's own dispatchers may hold an event or instruction meanwhile: an
    event they hold is skipped here, not lost, so a pass waits a little for them)."""
    for _ in range(rounds):
        await outbox.dispatch_once()
        await sandbox.redeliver_pending()
        await PaymentInstruction.filter(status__in=list(_OPEN)).update(next_attempt_at=system_now())
        await instructions.send_due()
        await sandbox.settle(await clock.today())
        await sandbox.drain()
        waiting = await OutboxEvent.filter(
            published_at__isnull=True, attempts__lt=outbox.MAX_ATTEMPTS
        ).exists()
        if not waiting and not await instructions.pending_count():
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("payment instructions or events still open after the provider settled")
