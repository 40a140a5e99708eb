"""Money: amounts, the double-entry ledger, members' custody accounts and their movements.

- `money`: `parse_money()`, `format_money()`, `round_fen()`, `allocate()`, `parse_rate()`
  — pure arithmetic on integer fen.
- `ledger`: `post()`, `balance()`, `member_balances()`, `check()`.
- `movements`: `freeze()`, `unfreeze()`, `transfer()` — ledger journals that are also
  provider instructions.
- `accounts`: `open_account()`, `bind_card()`, `deposit()`, `withdraw()`, `my_account()`.
- `idempotency`: `validate_key()`, `run_once()`.
- `statements`: `list_movements()`, `export_csv()` — a member's movements.
- `finance`: `platform_overview()`, `list_fund_transactions()` — the finance views.
- `adjustments`: `propose_adjustment()`, `approve_adjustment()`, `reject_adjustment()`.

Import the module: `from services.money import ledger`.
"""
