"""Fault injection for the sandbox provider: how the outside world misbehaves.

Every probability is drawn from one seeded `random.Random`, so a test that sets a rate
of 0 or 1 (or a fixed seed) sees the same behaviour on every run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class FaultConfigError(ValueError):
    """A fault configuration that cannot be applied (wrong type or out of range)."""


@dataclass(frozen=True)
class FaultConfig:
    """What goes wrong, and how often.

    - latency_ms: every platform request waits this long before it is handled.
    - error_rate: answer 503 without doing anything.
    - timeout_rate: do the work, then answer 504 (after `timeout_hang_seconds`, so a
      value above the client's timeout makes the client give up first): the outcome
      happened but the client does not know.
    - drop_callback_rate: never send that callback.
    - duplicate_callback_rate: send that callback twice (same event id).
    - reorder_callbacks: hold every callback; the next flush sends them newest first.
    - alter_statement: request_id -> amount_fen reported in the statement file instead
      of the true amount.
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_hang_seconds: float = 0.0
    drop_callback_rate: float = 0.0
    duplicate_callback_rate: float = 0.0
    reorder_callbacks: bool = False
    alter_statement: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> FaultConfig:
        """Parse a JSON object; missing keys take the default (no fault). Raises
        FaultConfigError on unknown keys, wrong types or rates outside 0..1."""
        if not isinstance(data, dict):
            raise FaultConfigError("faults must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultConfigError(f"unknown fault settings: {unknown}")
        rates = {}
        for name in (
            "error_rate",
            "timeout_rate",
            "drop_callback_rate",
            "duplicate_callback_rate",
        ):
            value = data.get(name, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FaultConfigError(f"{name} must be a number")
            if not 0.0 <= value <= 1.0:
                raise FaultConfigError(f"{name} must be between 0 and 1")
            rates[name] = float(value)
        latency = data.get("latency_ms", 0)
        if isinstance(latency, bool) or not isinstance(latency, int) or latency < 0:
            raise FaultConfigError("latency_ms must be a non-negative integer")
        hang = data.get("timeout_hang_seconds", 0.0)
        if isinstance(hang, bool) or not isinstance(hang, (int, float)) or hang < 0:
            raise FaultConfigError("timeout_hang_seconds must be a non-negative number")
        reorder = data.get("reorder_callbacks", False)
        if not isinstance(reorder, bool):
            raise FaultConfigError("reorder_callbacks must be true or false")
        altered = data.get("alter_statement", {})
        if not isinstance(altered, dict) or not all(
            isinstance(key, str) and isinstance(value, int) and not isinstance(value, bool)
            for key, value in altered.items()
        ):
            raise FaultConfigError("alter_statement must map request ids to integer fen")
        return cls(
            latency_ms=latency,
            timeout_hang_seconds=float(hang),
            reorder_callbacks=reorder,
            alter_statement=dict(altered),
            **rates,
        )
