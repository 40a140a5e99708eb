"""An invariant that does not hold: what every check of `simulation` raises."""

from __future__ import annotations


class Broken(AssertionError):
    """An invariant does not hold: `name` says which, `detail` what was seen."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name
        self.detail = detail


def holds(condition: bool, name: str, detail: object) -> None:
    if not condition:
        raise Broken(name, str(detail))
