"""Platform and risk figures (M12.1, M12.2, R7) as of any business date, computed by SQL
aggregates over the loan, installment, repayment and claim tables (never by loading
every row into Python).

- `window`: the business date window of a request (`as_of`, `since`), its checks, and
  the few SQL phrases that differ between SQLite and PostgreSQL.
- `figures`: `platform_figures` (volume, outstanding, members, borrowers and lenders,
  weighted rate and term, concentration, related-party loans).
- `risk`: `risk_figures` (overdue by bucket and rates, bad-debt rate, vintage curves,
  risk-reserve advances paid and recovered).
- `book`: the loan book as of a day, one SQL common table expression both use.
"""
