"""/sandbox-bank/...: the embedded sandbox provider's bank pages under the app's own URL.

In the embedded default (PROVIDER_URL unset) the sandbox provider lives in this process
and a GATEWAY or POS deposit's payUrl is PUBLIC_BASE_URL/sandbox-bank/pay/<token>: the
request goes, path and all, to the sandbox's own ASGI app, which serves the same pages
when it runs as its own process (services/payments/sandbox/bank_pages.py). With a
provider elsewhere there is no bank here: every such path is the bank's 404 page.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.payments.sandbox.bank_pages import not_found_page


class SandboxBankPages:
    """The ASGI endpoint of the `/sandbox-bank/{path}` route."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sandbox = getattr(scope["app"].state, "sandbox", None)
        if sandbox is not None:
            await sandbox(scope, receive, send)
            return
        page = not_found_page()
        response = Response(page.body, page.status, page.headers, page.content_type)
        await response(scope, receive, send)
