"""Root fields of the money domain (services/money): custody accounts, deposits,
withdrawals, second confirmation, finance.
"""
