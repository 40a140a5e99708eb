"""Collateral (issue 21, M8): items pledged for loans, their valuations, later the
transfer of rights and the disposal."""
