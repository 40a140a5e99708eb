"""Repayments and post-loan management (M1.6, M9.2-M9.4)."""
