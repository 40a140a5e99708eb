"""The sandbox provider's HTTP API: JSON over HTTP, as a plain ASGI application.

It is written against the ASGI interface itself, not Starlette: it lives under
`services/`, and the import contract "the business never imports the web stack" keeps
starlette out of that package. uvicorn serves it standalone (`python -m app sandbox`);
`httpx.ASGITransport` reaches it in-process (embedded mode) over the same protocol.

Platform endpoints (/v1/...) must be signed: `X-LB-Timestamp` (unix seconds) and
`X-LB-Signature` = hex HMAC-SHA256(api_secret, f"{timestamp}.{METHOD}.{path}.{body}"),
where path is the raw request path with its query string; wrong or older (or newer)
than 300 s -> 401. They are subject to the injected faults. The /sandbox/... endpoints
play the outside world (bank, settlement, fault switchboard): unsigned, no faults.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from dataclasses import asdict

from services.kit.settings import Settings, get_settings
from services.payments.provider import SplitPart
from services.payments.sandbox.bank_pages import BankPages
from services.payments.sandbox.common import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Deliver,
    InvalidRequestError,
    NotFoundError,
    NowFn,
    RequestConflictError,
    StateConflictError,
    TodayFn,
)
from services.payments.sandbox.core import Sandbox
from services.payments.sandbox.faults import FaultConfig, FaultConfigError
from services.payments.sandbox.transport import (
    REQUEST_MAX_AGE_SECONDS,
    Handler,
    HttpCallbackDeliverer,
    Receive,
    Request,
    Response,
    Route,
    Scope,
    Send,
    _day,
    _field,
    _read_body,
    result_json,
    sign_request,
)

logger = logging.getLogger(__name__)


class SandboxApp:
    """The ASGI application. `sandbox` is the provider itself (for tests and embedded
    mode). Under uvicorn the ASGI lifespan starts and stops it; in embedded mode
    (ASGITransport sends no lifespan events) call `start()` and `aclose()` yourself.
    A request arriving before `start()` starts it anyway, but only `aclose()` closes."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        api_secret: str,
        request_max_age_seconds: int = REQUEST_MAX_AGE_SECONDS,
        redelivery_interval_seconds: float = 5.0,
        deliverer: HttpCallbackDeliverer | None = None,
        settlement_interval_seconds: float = 60.0,
    ) -> None:
        self.sandbox = sandbox
        self._api_secret = api_secret
        self._max_age = request_max_age_seconds
        self._redelivery_interval = redelivery_interval_seconds
        self._settlement_interval = settlement_interval_seconds
        self._deliverer = deliverer
        self._redelivery: asyncio.Task[None] | None = None
        self.routes = self._routes()

    # -- life cycle ------------------------------------------------------------------

    async def start(self, *, redelivery_loop: bool = False) -> None:
        """Open the sandbox; with `redelivery_loop`, retry undelivered callbacks every
        `redelivery_interval_seconds` until `aclose()`."""
        await self.sandbox.start()
        if redelivery_loop and self._redelivery is None:
            self._redelivery = asyncio.create_task(self._redeliver_forever())

    async def aclose(self) -> None:
        if self._redelivery is not None:
            self._redelivery.cancel()
            try:
                await self._redelivery
            except asyncio.CancelledError:
                pass
            self._redelivery = None
        await self.sandbox.aclose()
        if self._deliverer is not None:
            await self._deliverer.aclose()

    async def _redeliver_forever(self) -> None:
        last_settlement = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self._redelivery_interval)
            try:
                await self.sandbox.redeliver_pending()
                # Like a real provider's batch: settle what is due on the business day
                # now (T+0 today, T+1 once the clock reaches the next business day).
                now = asyncio.get_running_loop().time()
                if now - last_settlement >= self._settlement_interval:
                    last_settlement = now
                    await self.sandbox.settle()
            except Exception:
                # The loop must outlive one bad round (platform down, disk hiccup).
                logger.exception("sandbox callback redelivery or settlement failed")

    # -- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            response = await self._handle(scope, receive)
            headers = [
                (b"content-type", response.content_type.encode()),
                (b"content-length", str(len(response.body)).encode()),
                # ASGI header names are lower case (a middleware looks for them so).
                *(
                    (name.lower().encode(), value.encode())
                    for name, value in response.headers.items()
                ),
            ]
            start = {"type": "http.response.start", "status": response.status, "headers": headers}
            await send(start)
            await send({"type": "http.response.body", "body": response.body})
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start(redelivery_loop=True)
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive) -> Response:
        body = await _read_body(receive)
        if body is None:
            return Response.error(413, "the body is too large")
        path: str = scope["path"]
        route, params, allowed = self._match(scope["method"], path)
        if route is None:
            if allowed:
                return Response.error(405, f"allowed: {', '.join(sorted(allowed))}")
            return Response.error(404, "no such endpoint")
        raw_path = (scope.get("raw_path") or path.encode()).decode("latin-1")
        if scope.get("query_string"):
            raw_path += "?" + scope["query_string"].decode("latin-1")
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        request = Request(scope["method"], raw_path, params, headers, body)
        await self.start()
        if route.platform:
            problem = self._signature_problem(request)
            if problem:
                return Response.error(401, problem)
            return await self._platform_call(route, request)
        return await self._run(route, request)

    async def _platform_call(self, route: Route, request: Request) -> Response:
        faults = self.sandbox.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if self.sandbox.roll(faults.error_rate):
            return Response.error(503, "injected fault: provider unavailable")
        # The work runs in its own task, shielded: a client that gives up (its timeout
        # cancels this coroutine in embedded mode) does not undo it, as with a real
        # server that has already started processing.
        response = await asyncio.shield(self.sandbox.spawn(self._run(route, request)))
        if response.status < 500 and self.sandbox.roll(faults.timeout_rate):
            if faults.timeout_hang_seconds:
                await asyncio.sleep(faults.timeout_hang_seconds)
            return Response.error(504, "injected fault: the answer was lost")
        return response

    async def _run(self, route: Route, request: Request) -> Response:
        try:
            return await route.handler(request)
        except (InvalidRequestError, FaultConfigError) as exc:
            return Response.error(400, str(exc))
        except NotFoundError as exc:
            return Response.error(404, str(exc))
        except (RequestConflictError, StateConflictError) as exc:
            return Response.error(409, str(exc))
        except Exception:
            logger.exception("sandbox request %s %s failed", request.method, request.path)
            return Response.error(500, "internal error")

    def _signature_problem(self, request: Request) -> str:
        timestamp = request.headers.get(TIMESTAMP_HEADER.lower(), "")
        signature = request.headers.get(SIGNATURE_HEADER.lower(), "")
        if not timestamp or not signature:
            return "missing signature headers"
        expected = sign_request(
            self._api_secret, timestamp, request.method, request.path, request.body
        )
        if not hmac.compare_digest(expected.encode(), signature.encode("latin-1")):
            return "bad signature"
        try:
            age = time.time() - int(timestamp)
        except ValueError:
            return "bad timestamp"
        # Both directions: a timestamp far in the future would stay "fresh" for a replay.
        if abs(age) > self._max_age:
            return "stale timestamp"
        return ""

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], set[str]]:
        allowed: set[str] = set()
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), allowed
            allowed.add(route.method)
        return None, {}, allowed

    # -- endpoints ---------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        def route(method: str, path: str, handler: Handler, *, platform: bool) -> Route:
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
            return Route(method, re.compile(pattern), handler, platform)

        return [
            route("POST", "/v1/accounts", self._open_account, platform=True),
            route("GET", "/v1/accounts/{account_id}", self._account, platform=True),
            route("POST", "/v1/cards", self._bind_card, platform=True),
            route("POST", "/v1/deposits", self._deposit, platform=True),
            route("POST", "/v1/withdrawals", self._withdraw, platform=True),
            route("POST", "/v1/freezes", self._freeze, platform=True),
            route("POST", "/v1/unfreezes", self._unfreeze, platform=True),
            route("POST", "/v1/transfers", self._transfer, platform=True),
            route("POST", "/v1/splits", self._split, platform=True),
            route("GET", "/v1/transactions/{request_id}", self._query, platform=True),
            route("GET", "/v1/statements/{day}", self._statement, platform=True),
            route("GET", "/v1/balances", self._balances, platform=True),
            # The member's pages at the bank (bank_pages.py): HTML, opened by a token.
            *BankPages(self.sandbox).routes(),
            route("GET", "/sandbox/bank/pay/{request_id}", self._bank_page, platform=False),
            route("POST", "/sandbox/bank/pay/{request_id}", self._bank_pay, platform=False),
            route("POST", "/sandbox/bank/reject/{request_id}", self._bank_reject, platform=False),
            route("POST", "/sandbox/settle", self._settle, platform=False),
            route("GET", "/sandbox/faults", self._get_faults, platform=False),
            route("POST", "/sandbox/faults", self._set_faults, platform=False),
            route("GET", "/sandbox/callbacks", self._callbacks, platform=False),
            route("POST", "/sandbox/callbacks/flush", self._flush, platform=False),
        ]

    async def _open_account(self, request: Request) -> Response:
        body = request.json()
        result = await self.sandbox.open_account(
            request_id=_field(body, "request_id"),
            member_ref=_field(body, "member_ref"),
            real_name=_field(body, "real_name"),
        )
        return Response.json(result_json(result))

    async def _bind_card(self, request: Request) -> Response:
        body = request.json()
        result = await self.sandbox.bind_card(
            request_id=_field(body, "request_id"),
            account_id=_field(body, "account_id"),
            card_number=_field(body, "card_number"),
            holder_name=_field(body, "holder_name"),
            holder_id_number=_field(body, "holder_id_number"),
            phone=_field(body, "phone"),
        )
        return Response.json(result_json(result))

    async def _deposit(self, request: Request) -> Response:
        body = request.json()
        result = await self.sandbox.deposit(
            request_id=_field(body, "request_id"),
            account_id=_field(body, "account_id"),
            amount_fen=_field(body, "amount_fen"),
            channel=_field(body, "channel"),
            card_id=body.get("card_id"),
        )
        return Response.json(result_json(result))

    async def _withdraw(self, request: Request) -> Response:
        body = request.json()
        result = await self.sandbox.withdraw(
            request_id=_field(body, "request_id"),
            account_id=_field(body, "account_id"),
            card_id=_field(body, "card_id"),
            amount_fen=_field(body, "amount_fen"),
            speed=_field(body, "speed"),
        )
        return Response.json(result_json(result))

    async def _freeze(self, request: Request) -> Response:
        body = request.json()
        result = await self.sandbox.freeze(
            request_id=_field(body, "request_id"),
            account_id=_field(body, "account_id"),
            amount_fen=_field(body, "amount_fen"),
        )
        return Response.json(result_json(result))

    async def _unfreeze(self, request: Request) -> Response:
        body = request.json()
        result = await self.sandbox.unfreeze(
            request_id=_field(body, "request_id"),
            account_id=_field(body, "account_id"),
            amount_fen=_field(body, "amount_fen"),
        )
        return Response.json(result_json(result))

    async def _transfer(self, request: Request) -> Response:
        body = request.json()
        result = await self.sandbox.transfer(
            request_id=_field(body, "request_id"),
            from_account_id=_field(body, "from_account_id"),
            to_account_id=_field(body, "to_account_id"),
            amount_fen=_field(body, "amount_fen"),
            from_frozen=body.get("from_frozen", False),
        )
        return Response.json(result_json(result))

    async def _split(self, request: Request) -> Response:
        body = request.json()
        parts = body.get("parts")
        if not isinstance(parts, list) or not all(
            isinstance(part, dict) and {"to_account_id", "amount_fen"} <= part.keys()
            for part in parts
        ):
            raise InvalidRequestError("parts must be a list of {to_account_id, amount_fen}")
        result = await self.sandbox.split(
            request_id=_field(body, "request_id"),
            from_account_id=_field(body, "from_account_id"),
            parts=[SplitPart(part["to_account_id"], part["amount_fen"]) for part in parts],
            from_frozen=body.get("from_frozen", False),
        )
        return Response.json(result_json(result))

    async def _query(self, request: Request) -> Response:
        result = await self.sandbox.query(request_id=request.params["request_id"])
        if result is None:
            return Response.error(404, "no such request")
        return Response.json(result_json(result))

    async def _statement(self, request: Request) -> Response:
        text = await self.sandbox.statement_csv(_day(request.params["day"]))
        return Response(200, text.encode(), "text/csv; charset=utf-8")

    async def _balances(self, _request: Request) -> Response:
        balances = await self.sandbox.balances()
        return Response.json({"accounts": [asdict(balance) for balance in balances]})

    async def _account(self, request: Request) -> Response:
        balance = await self.sandbox.balance(request.params["account_id"])
        if balance is None:
            return Response.error(404, "no such account")
        return Response.json(asdict(balance))

    async def _bank_page(self, request: Request) -> Response:
        result = await self.sandbox.query(request_id=request.params["request_id"])
        if result is None:
            return Response.error(404, "no such payment")
        page = result_json(result)
        page["how"] = "POST this URL to pay; POST /sandbox/bank/reject/{request_id} to refuse"
        return Response.json(page)

    async def _bank_pay(self, request: Request) -> Response:
        result = await self.sandbox.bank_pay(request.params["request_id"])
        return Response.json(result_json(result))

    async def _bank_reject(self, request: Request) -> Response:
        reason = request.json().get("reason", "")
        if not isinstance(reason, str):
            raise InvalidRequestError("reason must be a string")
        result = await self.sandbox.bank_reject(request.params["request_id"], reason)
        return Response.json(result_json(result))

    async def _settle(self, request: Request) -> Response:
        day = request.json().get("day")
        if day is not None and not isinstance(day, str):
            raise InvalidRequestError("day must be YYYY-MM-DD")
        settled = await self.sandbox.settle(_day(day) if day else None)
        return Response.json({"settled": [result_json(result) for result in settled]})

    async def _get_faults(self, _request: Request) -> Response:
        return Response.json(self.sandbox.faults.to_json())

    async def _set_faults(self, request: Request) -> Response:
        body = request.json()
        seed = body.pop("seed", None)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidRequestError("seed must be an integer")
        await self.sandbox.set_faults(FaultConfig.from_json(body), seed=seed)
        return Response.json(self.sandbox.faults.to_json())

    async def _callbacks(self, _request: Request) -> Response:
        records = await self.sandbox.callbacks()
        return Response.json({"callbacks": [asdict(record) for record in records]})

    async def _flush(self, _request: Request) -> Response:
        return Response.json({"delivered": await self.sandbox.redeliver_pending()})


def create_sandbox_app(
    settings: Settings | None = None,
    *,
    database: str | None = None,
    deliver: Deliver | None = None,
    today: TodayFn | None = None,
    now: NowFn | None = None,
    faults: FaultConfig | None = None,
    seed: int = 0,
    api_secret: str | None = None,
    webhook_secret: str | None = None,
    public_url: str | None = None,
    request_max_age_seconds: int = REQUEST_MAX_AGE_SECONDS,
    redelivery_interval_seconds: float = 5.0,
    settlement_interval_seconds: float = 60.0,
) -> SandboxApp:
    """The sandbox provider as an ASGI app. Defaults come from `settings`: the SQLite
    file SANDBOX_DATABASE, PROVIDER_API_SECRET for requests, WEBHOOK_SECRET for
    callbacks, which are POSTed to PLATFORM_CALLBACK_URL unless `deliver` is given.
    `today` is the business day (default: the real UTC date), `now` the time stamped on
    records (default: real UTC time). `public_url` is where members' browsers reach the
    bank's pages (bank_pages.py), the base of every pay_url: the app's PUBLIC_BASE_URL
    when embedded, else SANDBOX_PUBLIC_URL or http://127.0.0.1:8100. With no arguments
    it is the standalone server
    (`uvicorn --factory services.payments.sandbox:create_sandbox_app`)."""
    settings = settings or get_settings()
    deliverer: HttpCallbackDeliverer | None = None
    if deliver is None:
        deliverer = HttpCallbackDeliverer(
            settings.platform_callback_url, timeout_seconds=settings.provider_timeout_seconds
        )
        deliver = deliverer
    sandbox = Sandbox(
        database=database or settings.sandbox_database,
        webhook_secret=webhook_secret or settings.webhook_secret,
        deliver=deliver,
        today=today,
        now=now,
        faults=faults,
        seed=seed,
        public_url=public_url or settings.sandbox_public_url or "http://127.0.0.1:8100",
    )
    return SandboxApp(
        sandbox,
        api_secret=api_secret or settings.provider_api_secret,
        request_max_age_seconds=request_max_age_seconds,
        redelivery_interval_seconds=redelivery_interval_seconds,
        deliverer=deliverer,
        settlement_interval_seconds=settlement_interval_seconds,
    )
