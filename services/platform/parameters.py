"""Platform parameters (M11.3): values that change at run time, with history.

A parameter is declared once, where it is used, as a typed `Param`: its name, a pydantic
type that checks every new value, a default and a description. The value in force is
the stored one, or the default while none is stored. Each process caches the stored
values and re-reads them when the broker's "parameters" version moves, so a change
takes effect on the next read in every process. Every change is a `parameter_changes`
row: old value, new value, who, why, when.

Values travel as JSON. Amounts of money are integers of fen (their names end in
`_fen`); rates are decimal strings ("0.3600").
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError
from tortoise.transactions import in_transaction

from models.system import ParameterChange, PlatformParameter
from services.errors import InvalidInputError, NotFoundError
from services.kit.broker import get_broker
from services.platform import clock

T = TypeVar("T")

_VERSION_NAME = "parameters"
# Modules that declare parameters: imported before listing, so the list is complete.
_DECLARING_MODULES = (
    "services.credit.policy",
    "services.credit.risk_assessment",
    "services.loans.policy",
    "services.contracts.policy",
    "services.repayments.policy",
    "services.repayments.overdue_policy",
    "services.platform.retention",
    "services.cases.policy",
)

if TYPE_CHECKING:
    from services.identity.permissions import Actor

_REGISTRY: dict[str, Param[Any]] = {}


class Param(Generic[T]):
    """A declared parameter. `await get(param)` gives its value in force, typed."""

    def __init__(self, name: str, type_: type[T], default: Any, description: str) -> None:
        if name in _REGISTRY:
            raise ValueError(f"Parameter {name} is declared twice")
        self.name = name
        self.description = description
        self._adapter: TypeAdapter[T] = TypeAdapter(type_)
        self.default = self._adapter.validate_python(default)
        _REGISTRY[name] = self

    def parse(self, raw: Any) -> T:
        """A JSON value -> the typed value; InvalidInputError when it does not fit."""
        try:
            return self._adapter.validate_python(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "value"
            raise InvalidInputError(
                f"{self.name}: {where}: {first['msg']}", field="value"
            ) from error

    def dump(self, value: T) -> Any:
        """The typed value -> JSON-able data."""
        return self._adapter.dump_python(value, mode="json")


@dataclass
class _Cache:
    version: int = -1
    stored: dict[str, Any] = field(default_factory=dict)  # name -> JSON value


_cache = _Cache()


async def _stored() -> dict[str, Any]:
    version = await get_broker().version(_VERSION_NAME)
    if version != _cache.version:
        rows = await PlatformParameter.all()
        _cache.stored = {row.name: row.value for row in rows}
        _cache.version = version
    return _cache.stored


async def get(param: Param[T]) -> T:
    """The value in force: the stored one, else the default."""
    stored = await _stored()
    if param.name in stored:
        try:
            return param.parse(stored[param.name])
        except InvalidInputError:
            # A stored value the current code no longer accepts: the default is safe.
            return param.default
    return param.default


def all_params() -> list[Param[Any]]:
    for module in _DECLARING_MODULES:
        importlib.import_module(module)
    return sorted(_REGISTRY.values(), key=lambda p: p.name)


def find(name: str) -> Param[Any]:
    all_params()
    param = _REGISTRY.get(name)
    if param is None:
        raise NotFoundError(f"No parameter {name!r}", field="name")
    return param


@dataclass(frozen=True)
class ParameterView:
    name: str
    description: str
    value: Any  # JSON
    default: Any  # JSON
    updated_at: datetime | None
    updated_by: int | None


async def list_values(names: Iterable[str] | None = None) -> list[ParameterView]:
    rows = {row.name: row for row in await PlatformParameter.all()}
    wanted = set(names) if names is not None else None
    views = []
    for param in all_params():
        if wanted is not None and param.name not in wanted:
            continue
        row = rows.get(param.name)
        views.append(
            ParameterView(
                name=param.name,
                description=param.description,
                value=param.dump(await get(param)),
                default=param.dump(param.default),
                updated_at=row.updated_at if row else None,
                updated_by=row.updated_by if row else None,
            )
        )
    return views


async def set_value(actor: Actor, name: str, raw: Any, reason: str) -> ParameterView:
    """Check and store a new value, with a history row. Effective everywhere at once."""
    param = find(name)
    reason = (reason or "").strip()
    if not 5 <= len(reason) <= 255:
        raise InvalidInputError("Give a reason of 5 to 255 characters", field="reason")
    value = param.dump(param.parse(raw))
    now = await clock.now()
    async with in_transaction() as conn:
        row = await PlatformParameter.filter(name=name).select_for_update().using_db(conn).first()
        old = row.value if row else param.dump(param.default)
        if row is None:
            await PlatformParameter.create(
                name=name, value=value, updated_at=now, updated_by=actor.user_id, using_db=conn
            )
        else:
            row.value = value
            row.updated_at = now
            row.updated_by = actor.user_id
            await row.save(using_db=conn)
        await ParameterChange.create(
            name=name,
            old_value=old,
            new_value=value,
            actor_id=actor.user_id,
            reason=reason,
            created_at=now,
            using_db=conn,
        )
    await get_broker().bump(_VERSION_NAME)
    return (await list_values([name]))[0]


async def history(name: str | None = None) -> list[ParameterChange]:
    query = ParameterChange.all()
    if name is not None:
        query = query.filter(name=name)
    return await query.order_by("-id")


def reset_cache() -> None:
    _cache.version = -1
