"""The sandbox provider's business rules: accounts, cards, money movements, settlement,
statements and callbacks, on its own SQLite storage.

Rules every movement follows:
- It is one SQLite transaction: balances, the transaction record and the callback to
  send commit together or not at all (the callback table is an outbox, so a crash after
  commit still delivers it later).
- It is idempotent by request_id: a request_id already seen with the same content
  returns the stored record (its current state) and moves nothing; with different
  content it raises RequestConflictError (HTTP 409). A FAILED answer is stored too, so
  a retry needs a new request_id.
- Balances never go negative: the conditional UPDATE checks first and the table's CHECK
  constraints are the backstop.
"""

from __future__ import annotations

from services.payments.sandbox.accounts import SandboxAccounts
from services.payments.sandbox.movements import SandboxMovements
from services.payments.sandbox.settlement import SandboxSettlement


class Sandbox(SandboxAccounts, SandboxMovements, SandboxSettlement):
    """The sandbox payment provider, usable directly from Python or through
    `create_sandbox_app` over HTTP. Call `start()` before use and `aclose()` after.

    Its parts: `SandboxEngine` (services/payments/sandbox/engine.py: store, life cycle,
    faults, the path of every instruction, callbacks), accounts and cards
    (accounts.py), money movements (movements.py), the bank, settlement and the
    statement (settlement.py)."""
