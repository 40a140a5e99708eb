"""Loans: requests, review, schedules, bidding, disbursement."""
