"""Guarantees (issue 21, M1.9, M7): companies, margin, policies, compensation and the
guarantee contract. Importing the package registers their hooks (the daily
compensation, recovery, the reserve's exclusion, the contract of a full loan), so the API
process and the workers both have them."""

from services.guarantees import compensation as _compensation  # noqa: F401  (registers hooks)
from services.guarantees import contracting as _contracting  # noqa: F401  (registers a hook)
