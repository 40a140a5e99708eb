"""Second confirmation (M4.8): a fund movement a member starts waits for an SMS code
bound to that exact operation.

- `registry`: `register_operation()` (what a kind does once confirmed: bids, auto-bid
  opt-in, repayments), `register_direct_operation()` (a kind that carries the whole
  confirmation out itself: withdrawals), `describe_operation()` (its SMS text).
- `confirmation`: `open_operation()`, `send_operation_code()`, `resend_operation_code()`,
  `confirm_operation()`, `operation_binding()`, `claim_operation()`; the one place that
  sends, checks and expires the codes.

Import the module: `from services.operations import confirmation`.
"""
