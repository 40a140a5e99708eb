"""Importing this module registers everything of the secondary market that runs on its
own: buyClaim's confirmation (`market`), the contract made after each purchase
(`contracting`), the automatic buyers of a new listing (`autobuy`) and the repricing of
open listings when principal is paid (`ending`). The API process and the workers import
it once."""

from __future__ import annotations

from services.transfers import autobuy, contracting, ending, market

__all__ = ["autobuy", "contracting", "ending", "market"]
