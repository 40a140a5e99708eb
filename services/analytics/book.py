"""The loan book as of the end of a business day, as one SQL common table expression
shared by the platform and the risk figures.

Per loan disbursed by then: principal left = amount - principal repaid by repayments
DONE by then; interest left = the installments' interest - interest repaid by then. A
loan is outstanding while either is above zero (a settled loan has both at zero).
"""

from __future__ import annotations

from services.analytics.window import Dialect

DONE = "DONE"  # models.repayments.RepaymentStatus.DONE: what moved money


def book_cte(sql: Dialect, *, end: int, done: int, day: int | None = None) -> str:
    """`WITH book AS (...)`: id, borrower_id, amount_fen, principal_paid, interest_paid,
    principal_left, interest_left
    of every loan disbursed before the instant parameter `end`; `done` is the parameter
    holding the DONE repayment status.

    With `day` (the parameter holding the as-of date) also, from the same pass over the
    installments, principal_due and interest_due (of the installments due before that
    day) and oldest_unpaid (the due date of the oldest of them not paid by the end of
    it, NULL when none): what the risk figures age the book by."""
    late = ""
    if day is not None:
        on = sql.date_p(day)
        late = f""",
      SUM(CASE WHEN due_date < {on} THEN principal_fen ELSE 0 END) AS principal_due,
      SUM(CASE WHEN due_date < {on} THEN interest_fen ELSE 0 END) AS interest_due,
      MIN(CASE WHEN due_date < {on} AND (paid_on IS NULL OR paid_on > {on})
        THEN due_date END) AS oldest_unpaid"""
    late_columns = (
        ",\n    COALESCE(due.principal_due, 0) AS principal_due,"
        " COALESCE(due.interest_due, 0) AS interest_due, due.oldest_unpaid"
        if day is not None
        else ""
    )
    return f"""WITH book AS (
  SELECT l.id, l.borrower_id, l.amount_fen,
    COALESCE(paid.principal, 0) AS principal_paid,
    COALESCE(paid.interest, 0) AS interest_paid,
    l.amount_fen - COALESCE(paid.principal, 0) AS principal_left,
    COALESCE(due.interest, 0) - COALESCE(paid.interest, 0) AS interest_left{late_columns}
  FROM loans l
  LEFT JOIN (
    SELECT loan_id, SUM(principal_fen) AS principal, SUM(interest_fen) AS interest
    FROM repayments WHERE status = {sql.p(done)} AND done_at < {sql.p(end)}
    GROUP BY loan_id
  ) paid ON paid.loan_id = l.id
  LEFT JOIN (
    SELECT loan_id, SUM(interest_fen) AS interest{late}
    FROM loan_installments GROUP BY loan_id
  ) due ON due.loan_id = l.id
  WHERE l.disbursed_at IS NOT NULL AND l.disbursed_at < {sql.p(end)}
)"""


OUTSTANDING = "(book.principal_left > 0 OR book.interest_left > 0)"
