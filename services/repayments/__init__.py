"""Repayments (M1.6, M4.5, M9): the installments of a disbursed loan, the borrower's
repayments (the next installment, several, early repayment in full, or an amount
towards what has fallen due, which may pay an installment in part), signed auto-debit
on the due date, and each claim holder's share of every payment.

- `split`: pure, how a payment's principal, interest and penalty are shared among the
  claims (largest remainder, each part separately, exact to the fen).
- `quote`: pure, what is due now (installments, early repayment in full, the R3 cap of
  the early-repayment fee, an amount towards what has fallen due) and the allocation
  order of a payment's parts.
- `policy`: the platform parameters (allocation order, risk-reserve share, early fee).
- `due`: `RepayMode` and what a repayment asks for, read from the installments.
- `service`: `repay` (second-confirmed through `services.operations`).
- `settlement`: the settlement of a confirmed repayment under the loan's lock.
- `autodebit`: `auto_debit_due`, the signed auto-debit job.
- `views`: `schedule_of`, `receivables_of`, `repayments_of`, `paid_off`.
- `events`: the per-member channel of `myRepaymentEvents`, the staff overdue channel.
- `overdue` (+ `overdue_policy`): the daily run (warnings, overdue, penalty, buckets,
  limit hooks), `reserve`: the risk-reserve advance, `collection`: overdue list and
  collection records.
"""
