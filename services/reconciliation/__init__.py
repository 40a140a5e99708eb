"""Reconciliation (M4.6): the platform's records against the provider's, per transaction
and once a day. Every difference becomes a `ReconciliationBreak`, fixed only by a
maker-checker adjustment (services/money/finance.py).

Per transaction. Every first final outcome of a money movement (from the call, a
callback or a query, whichever comes first) passes `_on_final_outcome`, in the
transaction that records it. It notes the business day the outcome arrived and the
amount the provider reported (`InstructionOutcome`), and when the provider reports a
different amount than the instruction asked for it records an AMOUNT_MISMATCH break.

Daily, `run_daily(day)`:

1. Statement lines. The provider's statement of `day` lists every movement (deposit,
   withdrawal, freeze, unfreeze, transfer) that SUCCEEDED with settlement day `day`;
   account openings and card bindings move no money and are never listed. Each line is
   matched by request id with the platform's instruction, then by kind and amount:
   - no instruction -> MISSING_AT_PLATFORM
   - another kind -> KIND_MISMATCH, another amount -> AMOUNT_MISMATCH
   - the instruction FAILED on the platform -> STATUS_MISMATCH
   - the instruction is still PENDING / SENT / UNKNOWN (its callback was lost or is on
     its way): the provider is asked (`query`) and the answer applied through the
     normal outcome path, exactly as a late callback would be; then it is compared.
     If the provider still gives no final answer the line counts as in flight, no break.
2. The platform's side. Every movement whose SUCCEEDED outcome arrived on `day` (by
   `InstructionOutcome`, or by `resolved_at` for outcomes older than that table) and is
   not in the statement is looked up at the provider: unknown -> MISSING_AT_PROVIDER,
   FAILED or still PENDING -> STATUS_MISMATCH, SUCCEEDED with another amount ->
   AMOUNT_MISMATCH, SUCCEEDED with the same amount -> no break (it settled on the day
   before or after, around midnight, and that day's statement has it).
3. Balances. Every virtual account's balances at the provider against the ledger:
   - a member: provider available == ledger available + withdrawing (a confirmed
     withdrawal stays in `withdrawing` until the provider pays it out), provider
     frozen == ledger frozen
   - a platform account (fee, risk reserve, guarantee fund, margin): provider
     available == its ledger balance, provider frozen == 0
   - an account the platform does not know: both balances must be 0.
   The provider's balances are read first, then the ledger. A difference is explained,
   and is no break, when some combination of the following makes it up exactly (each
   one counted fully or not at all, per account and balance):
   - an instruction still in flight (PENDING, SENT, UNKNOWN: the provider may or may
     not have done it). Deposits and withdrawals (money entering or leaving the
     provider) reach the ledger view only with their outcome, so the provider may be
     ahead by their effect. Freezes, unfreezes and transfers are posted to the ledger
     when the instruction is written, so the provider may be behind by their effect.
   - an instruction that reached its final state while the run was reading (the
     provider's and the ledger's reading may fall on either side of it).
   - an OPEN transaction break (its movement may or may not be in the balances).
   What is left is a BALANCE_MISMATCH break on that account (one per account and
   balance while it stays open).

Idempotent: a break's `key` is its kind and request id (a movement settles on one day
only, so the day is implied), or kind, account and day for balances, and it is never
recorded twice. Re-running a day adds no duplicates (a resolved break stays resolved).
"""

from services.reconciliation.balances import BalanceReporter
from services.reconciliation.breaks import list_breaks
from services.reconciliation.daily import CATCH_UP_DAYS, catch_up, run_daily
from services.reconciliation.movements import effects_of, movement_of

__all__ = [
    "CATCH_UP_DAYS",
    "BalanceReporter",
    "catch_up",
    "effects_of",
    "list_breaks",
    "movement_of",
    "run_daily",
]
