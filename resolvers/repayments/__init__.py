"""Resolvers of the repayments domain (services/repayments): repaying, schedules,
receivables (repayments), overdue and collection.
"""
