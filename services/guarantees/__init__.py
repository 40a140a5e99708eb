"""Guarantees (issue 21, M1.9, M7): companies, margin, policies, compensation."""
