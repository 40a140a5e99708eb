"""Collateral (issue 21, M8): items pledged for loans, their valuations, the transfer of
rights and the disposal. Importing the package registers the disposal's provider
outcome handler (`disposal:`), so the API process and the workers both know it."""

from services.collateral import disposal as _disposal  # noqa: F401  (registers the handler)
