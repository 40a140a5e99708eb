"""Starlette application factory: /graphql (HTTP + WebSocket), /healthz, /readyz, /metrics,
/materials/{id} and /contracts/{id}.pdf. `from app import create_app` loads this module.

The lifespan starts the ORM, the broker, the payment provider, the SMS gateway and the
outbox dispatcher. Run it with `python -m app serve` (see cli.py) or
`uvicorn --factory app:create_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx
from graphql import GraphQLFormattedError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData, process_result
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET
from tortoise import Tortoise

from app import disclosures, downloads, live, partners, persisted, shared_streams
from app.access_log import AccessLog
from app.dashboard_page import mount_dashboard
from app.frames import KeepRawSend
from app.headers import SecurityHeaders
from app.sandbox_bank import SandboxBankPages
from schema.build import build_schema
from schema.context import Context, bearer_token
from services import jobs
from services.contracts import access as contract_access
from services.credit import materials
from services.errors import NotFoundError
from services.guarantees import compensation as _guarantees  # noqa: F401  (registers hooks)
from services.health import readiness
from services.identity import auth
from services.kit import wakeups
from services.kit.broker import get_broker, make_broker, set_broker
from services.kit.db import tortoise_config
from services.kit.logs import configure_logging
from services.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from services.kit.settings import Settings, get_settings
from services.money import accounts, ledger
from services.partners import usage as partner_usage
from services.payments import callbacks, instructions
from services.payments.gateway import set_provider
from services.payments.http_provider import HttpPaymentProvider
from services.payments.provider import InvalidCallbackError
from services.payments.sandbox import SandboxApp, create_sandbox_app
from services.platform import clock, notifier, oplog, outbox
from services.transfers import handlers as _market_handlers  # noqa: F401  (registers them)

STATIC = Path(__file__).resolve().parent / "static"
GRAPHIQL_PAGE = STATIC / "graphiql" / "index.html"


@functools.cache
def _graphiql_page() -> str:
    return GRAPHIQL_PAGE.read_text(encoding="utf-8")


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.dev_tools_enabled else None,
            allow_queries_via_get=False,
            keep_alive=True,
            keep_alive_interval=15,
            multipart_uploads_enabled=True,  # submitVerification (GraphQL multipart spec)
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_subscriptions_member,
        )
        self.settings = settings
        self.live_registry = live.Registry(settings)
        self.shared_streams = shared_streams.SharedStreams(settings)
        self.persisted = persisted.PersistedRequests(settings)

    @property
    def graphql_ide_html(self) -> str:
        # strawberry's page loads GraphiQL from a CDN; this one from the app (/static).
        return _graphiql_page()

    graphql_transport_ws_handler_class = live.TransportWSHandler
    graphql_ws_handler_class = live.LegacyWSHandler

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(request=request, response=response, settings=self.settings)

    # Requests by id (app/persisted.py): `documentId` read from the body or the query
    # string, persisted documents run without parsing or validation per request, GET
    # answers by id cacheable with ETag / 304.
    def should_render_graphql_ide(self, request: Any) -> bool:
        return super().should_render_graphql_ide(request) and persisted.wants_ide(
            request.query_params
        )

    def parse_json(self, data: str | bytes) -> Any:
        return persisted.fold_document_id(super().parse_json(data))

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        return persisted.query_params(params, super().parse_json)

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        method = request_adapter.method
        if context.partner is not None:
            return await self._execute_for_partner(
                method, request_data, context, root_value, sub_response
            )
        try:
            document = await self.persisted.document_for(method, request_data)
        except persisted.Refused as refused:
            return refused.result(context, sub_response)
        if document is None:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        return await self.persisted.execute(
            self.schema, document, method, request_data, context, root_value, sub_response
        )

    async def _execute_for_partner(
        self,
        method: str,
        request_data: GraphQLRequestData,
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult:
        """A partner runs a published document of its sets, never a body (app/partners.py)."""
        try:
            document = await self.persisted.partner_document(
                context.partner.sets, method, request_data
            )
        except persisted.Refused as refused:
            await partners.refused(context, refused)
            return refused.result(context, sub_response)
        result = await self.persisted.execute(
            self.schema, document, method, request_data, context, root_value, sub_response
        )
        await partners.record(context.partner, document.name or "-", partners.outcome_of(result))
        return result

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            if (
                isinstance(request, Request)
                and context is UNSET
                and (key := partners.partner_key(request))
            ):
                context = await self.get_context(request, response=None)
                await partners.admit(key, context)
            response = await super().run(request, context, root_value)
        except persisted.Refused as refused:  # a partner's key or limits, or a batch
            await partners.refused(context, refused)
            return partners.refusal_response(refused, context)
        return (
            persisted.conditional(request, response) if isinstance(response, Response) else response
        )

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        # Syntax errors (and the token limit, checked while parsing) end the operation
        # before the schema extensions see them: give them the same code and trace id.
        body = process_result(result)
        # strawberry types the errors as `object`: they are formatted GraphQL errors.
        for error in cast(list[GraphQLFormattedError], body.get("errors") or []):
            extensions = error.setdefault("extensions", {})
            extensions.setdefault("code", "GRAPHQL_PARSE_FAILED")
            extensions.setdefault("traceId", uuid.uuid4().hex)
        return body


class BodyLimit:
    """Refuse request bodies over the limit with 413 before they are read into memory.
    Multipart requests (file uploads) have their own, larger limit."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        upload_max_bytes: int | None = None,
        on_refused: Callable[[Scope], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes or max_bytes
        self.on_refused = on_refused  # told of each 413 (partners' usage counts it)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("Request body too large", status_code=413)(scope, receive, send)
        if self.on_refused is not None:
            await self.on_refused(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").lower()
        limit = (
            self.upload_max_bytes
            if content_type.startswith(b"multipart/form-data")
            else self.max_bytes
        )
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)


class _TooLarge(Exception):
    pass


class Metrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in _KNOWN_PATHS else "other"
        if scope["path"].startswith("/materials/"):
            path = "/materials/{id}"
        elif scope["path"].startswith("/contracts/"):
            path = "/contracts/{id}.pdf"
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            HTTP_LATENCY.labels(path).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(scope.get("method", ""), path, str(status)).inc()


_KNOWN_PATHS = {"/graphql", "/healthz", "/readyz", "/metrics", "/webhooks/payments"}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    checks = await readiness()
    ready = all(checks.values())
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


async def payment_webhook(request: Request) -> Response:
    """Signed callbacks from the payment provider: 401 forged or stale, 409 replayed."""
    body = await request.body()
    try:
        status = await callbacks.handle(headers=dict(request.headers), body=body)
    except InvalidCallbackError as error:
        return JSONResponse({"error": "invalid callback", "detail": str(error)}, status_code=401)
    except callbacks.ReplayedCallbackError:
        return JSONResponse({"error": "callback already processed"}, status_code=409)
    return JSONResponse({"status": status})


async def material_file(request: Request) -> Response:
    """A verification file for its owner or a credit officer (bearer token), served only
    while it still matches the hash the platform signed at receipt."""
    actor = await auth.authenticate(bearer_token(request.headers.get("authorization")))
    if actor is None:
        return JSONResponse({"error": "log in first"}, status_code=401)
    try:
        row, data = await materials.read_file(actor, request.path_params["file_id"])
    except materials.MaterialIntegrityError as error:
        return JSONResponse(
            {"error": "integrity check failed", "problem": str(error.problem)}, status_code=409
        )
    except NotFoundError:
        return JSONResponse({"error": "no such file"}, status_code=404)
    disposition = f"attachment; filename*=UTF-8''{quote(row.filename)}"
    return _private_file(data, row.content_type, disposition, row.sha256)


async def contract_document(request: Request) -> Response:
    """A contract's PDF for printing (M3.4), for its parties and staff with
    contracts:read (bearer token), 404 for anyone else; served only while it matches the
    hash on record (and the platform's signature, once signed)."""
    actor = await auth.authenticate(bearer_token(request.headers.get("authorization")))
    if actor is None:
        return JSONResponse({"error": "log in first"}, status_code=401)
    try:
        contract, data = await contract_access.read_document(
            actor=actor, contract_id=request.path_params["contract_id"]
        )
    except contract_access.ContractIntegrityError as error:
        return JSONResponse(
            {"error": "integrity check failed", "detail": error.message}, status_code=409
        )
    except NotFoundError:
        return JSONResponse({"error": "no such contract"}, status_code=404)
    disposition = f'attachment; filename="{contract.number}.pdf"'
    return _private_file(data, "application/pdf", disposition, contract.sha256)


def _private_file(data: bytes, media_type: str, disposition: str, sha256: str) -> Response:
    """A download for those allowed to see it: never cached, never sniffed, with the hash
    on record so the client can check what it got."""
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": disposition,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Content-SHA256": sha256,
        },
    )


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _start_provider(
    settings: Settings, platform: ASGIApp, *, background: bool = True
) -> tuple[HttpPaymentProvider, SandboxApp | None]:
    """PROVIDER_URL set: the provider (or a standalone sandbox) over HTTP. Unset: the
    sandbox provider in this process, spoken to over the same HTTP protocol through an
    ASGI transport; its callbacks come back the same way to /webhooks/payments."""
    if settings.provider_url:
        return HttpPaymentProvider(base_url=settings.provider_url, settings=settings), None

    async def deliver(body: bytes, headers: dict[str, str]) -> None:
        transport = httpx.ASGITransport(app=platform)
        async with httpx.AsyncClient(transport=transport, base_url="http://platform") as client:
            response = await client.post("/webhooks/payments", content=body, headers=headers)
        # 200 applied, 409 already applied (a duplicate): anything else is retried.
        if response.status_code not in (200, 409):
            raise RuntimeError(f"callback not accepted: HTTP {response.status_code}")

    sandbox = create_sandbox_app(
        settings, deliver=deliver, today=clock.today, public_url=settings.public_base_url
    )
    await sandbox.start(redelivery_loop=background)
    return HttpPaymentProvider(app=sandbox, settings=settings), sandbox


def _dispatchers(settings: Settings, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
    """The background loops of an API process. DISPATCH_IN_API=false: the workers run
    them, woken by this process through the broker; only the payment instructions stay
    when the provider lives in this process (PROVIDER_URL unset: no worker reaches it)."""
    poll = settings.outbox_poll_seconds
    if not settings.dispatch_in_api:
        loops = [wakeups.run_forwarder(stop)]
        if not settings.provider_url:
            loops.append(instructions.run_dispatcher(stop, poll))
        return loops
    return [
        outbox.run_dispatcher(stop, poll),
        instructions.run_dispatcher(stop, poll),
        oplog.run_sealer(stop, poll),
    ]


def create_app(
    settings: Settings | None = None, *, own_services: bool = True, background: bool = True
) -> Starlette:
    """Build the app. `own_services=False` when the caller (tests, the CLI) has already
    started Tortoise and installed the broker; the lifespan then only runs the dispatcher.
    `background=False` (the simulation): no dispatcher, job loop or sandbox redelivery
    runs on a wall-clock timer; the caller drives them (`settle_until_quiet`), so a run
    does the same work in the same order however fast the machine is."""
    settings = settings or get_settings()
    graphql = GraphQLApp(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(settings)
        if own_services:  # a serving process of its own (serve, uvicorn --factory)
            interval = settings.switch_interval()
            if interval is not None:
                sys.setswitchinterval(interval)
            await Tortoise.init(
                config=tortoise_config(settings.database_url), _enable_global_fallback=True
            )
            broker = make_broker(settings)
            await broker.start()
            set_broker(broker)
        # The platform's own and the outside world's ledger accounts: a fresh database
        # has none, and the first deposit's callback posts to them.
        await ledger.ensure_platform_accounts()
        provider, sandbox = await _start_provider(settings, app, background=background)
        set_provider(provider)
        app.state.sandbox = sandbox  # embedded mode: tests and demos play the bank through it
        await accounts.ensure_platform_provider_accounts()
        # The outbox dispatcher below sends SMS: through the gateway when one is set.
        previous_sms = notifier.install_sms_gateway(settings)
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if background:
            tasks += [asyncio.create_task(loop) for loop in _dispatchers(settings, stop)]
        if background and settings.jobs_embedded:
            tasks.append(asyncio.create_task(jobs.run_loop(stop, settings.job_tick_seconds)))
        if background:  # partners' usage counts, written every few seconds
            flush_seconds = settings.partner_usage_flush_seconds
            tasks.append(asyncio.create_task(partner_usage.flush_forever(stop, flush_seconds)))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await partner_usage.flush_quietly()
            set_provider(None)
            notifier.set_sms_provider(previous_sms)
            await provider.aclose()
            if sandbox is not None:
                await sandbox.aclose()
            if own_services:
                await get_broker().stop()
                await Tortoise.close_connections()

    # GraphiQL's own files, served by the app (no CDN): only where the console exists.
    static: list[BaseRoute] = (
        [Mount("/static/graphiql", StaticFiles(directory=STATIC / "graphiql"))]
        if settings.dev_tools_enabled
        else []
    )
    app = Starlette(
        routes=[
            *static,
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/webhooks/payments", payment_webhook, methods=["POST"]),
            Route("/materials/{file_id:int}", material_file),
            Route("/contracts/{contract_id:int}.pdf", contract_document),
            Route("/downloads/{link:path}", downloads.serve),  # signed links
            Route("/disclosures/{month}.pdf", disclosures.serve),  # R7, for anyone
            Route("/sandbox-bank/{page:path}", SandboxBankPages(), methods=["GET", "POST"]),
            mount_dashboard(),  # the page, its stylesheet and web font
        ],
        lifespan=lifespan,
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.graphql_max_body_bytes,
        upload_max_bytes=settings.upload_max_body_bytes,
        on_refused=functools.partial(partners.count_too_large, settings),
    )
    app.add_middleware(Metrics)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog, directory=settings.access_log_dir)  # R6, every request
    app.add_middleware(KeepRawSend)  # outermost: WebSockets' own send (app/frames.py)
    app.state.settings = settings
    return app
