"""One execution per event and shape for public subscriptions.

Ten thousand viewers of a hot loan ask the same thing (`bidProgress` of one loan, with
the same selection): a subscription whose only root field is public and whose answer
depends on nothing of the viewer is run once per process and distinct (query,
variables, operation name). Each event is executed and serialised once; each viewer
gets the same JSON text with its own operation id, through a bounded queue of its own
(a slow viewer loses its oldest events and gets a RESYNC error, like any subscriber).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from schema.context import Context
from services.identity.permissions import ANONYMOUS
from services.kit.broker.fanout import Gap, Subscriber, push_paced
from services.kit.settings import Settings

logger = logging.getLogger(__name__)

# Root subscription fields that are public and answer the same to every viewer.
SHAREABLE_FIELDS = frozenset({"bidProgress", "transferMarketEvents"})

RESYNC_PAYLOAD = json.dumps(
    {
        "data": None,
        "errors": [
            {
                "message": "Events may have been missed (slow consumer); "
                "read the current state again.",
                "extensions": {"code": "RESYNC"},
            }
        ],
    }
)


@lru_cache(maxsize=256)
def _is_shareable(query: str, operation_name: str | None) -> bool:
    try:
        document = parse(query)
    except GraphQLError:
        return False  # the ordinary path answers syntax errors with their close code
    operations = []
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            return False
        if isinstance(definition, OperationDefinitionNode):
            operations.append(definition)
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return False
    operation = operations[0]
    if operation.operation != OperationType.SUBSCRIPTION or operation.directives:
        return False
    selections = operation.selection_set.selections
    return (
        len(selections) == 1
        and isinstance(selections[0], FieldNode)
        and selections[0].name.value in SHAREABLE_FIELDS
        and not selections[0].directives
    )


def key_of(
    query: str, variables: dict[str, object] | None, operation_name: str | None
) -> tuple[str, str, str | None] | None:
    """The shape a subscription shares, or None when it must run on its own."""
    if len(query) > 10_000 or not _is_shareable(query, operation_name):
        return None
    return query, json.dumps(variables or {}, sort_keys=True), operation_name


@dataclass(eq=False)
class _Group:
    key: tuple[str, str, str | None]
    members: set[Subscriber] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class SharedStreams:
    """The shared executions of one process (held by the GraphQL view)."""

    def __init__(self, settings: Settings) -> None:
        self.queue_limit = settings.subscription_queue_limit
        self._groups: dict[tuple[str, str, str | None], _Group] = {}

    @property
    def groups(self) -> int:
        """Shapes executing now (each one broker subscription)."""
        return len(self._groups)

    @property
    def viewers(self) -> int:
        """Operations reading a shared shape now."""
        return sum(len(group.members) for group in self._groups.values())

    @contextlib.asynccontextmanager
    async def join(
        self, key: tuple[str, str, str | None], schema: Any, context: Context
    ) -> AsyncIterator[Subscriber]:
        """A queue of this shape's messages: {"payload": json text}, {"errors": [...]}
        (before execution: the operation ends), {"end": True}, or a Gap."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key)
            shared_context = Context(
                request=context.request, response=None, settings=context.settings
            )
            shared_context._actor = ANONYMOUS
            group.task = asyncio.create_task(self._run(group, schema, shared_context))
        member = Subscriber(str(id(group)), self.queue_limit)
        group.members.add(member)
        try:
            yield member
        finally:
            group.members.discard(member)
            if not group.members and self._groups.get(key) is group:
                del self._groups[key]
                if group.task is not None:
                    group.task.cancel()

    async def _run(self, group: _Group, schema: Any, context: Context) -> None:
        query, variables, operation_name = group.key
        try:
            source = await schema.stream(
                query,
                variable_values=json.loads(variables),
                context_value=context,
                operation_name=operation_name,
            )
            async with contextlib.aclosing(source):
                first = True
                async for result in source:
                    if first and isinstance(result, PreExecutionError):
                        await _deliver(
                            group, {"errors": [e.formatted for e in result.errors or []]}
                        )
                        return
                    first = False
                    if not isinstance(result, ExecutionResult):
                        error = GraphQLError("Incremental delivery is not supported here")
                        await _deliver(group, {"errors": [error.formatted]})
                        return
                    # "frames": the `next` frame per operation id, built by the first
                    # viewer with that id (app/live.py), for all the others.
                    await _deliver(group, {"payload": _payload(result), "frames": {}})
            await _deliver(group, {"end": True})
        except asyncio.CancelledError:
            raise
        except Exception:  # the viewers end, told no more than an ordinary operation
            logger.exception("shared subscription %s failed", operation_name or "")
            error = GraphQLError("Unexpected error.", extensions={"code": "INTERNAL_SERVER_ERROR"})
            await _deliver(group, {"errors": [error.formatted]})


def _payload(result: ExecutionResult) -> str:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    return json.dumps(body)


async def _deliver(group: _Group, message: dict[str, Any] | Gap) -> None:
    """To every viewer, a batch per turn of the event loop (ten thousand viewers never
    hold the loop that HTTP requests share for one long turn)."""
    await push_paced(list(group.members), message)
