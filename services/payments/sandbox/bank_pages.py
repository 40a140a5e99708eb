"""The sandbox bank's pages, where the member approves or declines a GATEWAY or POS
deposit: the `pay_url` the sandbox answers a deposit with.

    GET  /sandbox-bank/pay/{token}   the payment page while the payment is pending
    POST /sandbox-bank/pay/{token}   decision=approve|decline; the result page
    GET  /sandbox-bank/bank.css      the pages' stylesheet
    GET  /sandbox-bank/font/{name}   their CJK web font, a versioned subset (bank_font.py)

They are served by the sandbox's own ASGI app (`asgi.py`), so they live on the
sandbox process's URL when it runs on its own, and on the app's URL in the embedded
default, where the app hands `/sandbox-bank/...` to the embedded sandbox.

Plain server-rendered HTML and one form: no script, no inline style, every reference
relative, so the pages work under the app's Content-Security-Policy
(`default-src 'none'; style-src 'self'; form-action 'self'; ...`), which they also send
themselves for the standalone process. The token in the URL is the only key: 256
random bits bound to one payment (`bank_pages` table). Unknown tokens, and the page of
a payment already decided, answer the same 404 page; a second approve or decline (a
double click, the browser resending) answers the payment's final state and changes
nothing. Pages are never cached and send no Referer, so the token leaks nowhere.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from services.payments.provider import DepositChannel, ProviderStatus
from services.payments.sandbox import bank_font
from services.payments.sandbox.common import BANK_PAGES_PREFIX
from services.payments.sandbox.settlement import BankPayment, SandboxSettlement
from services.payments.sandbox.transport import Request, Response, Route

logger = logging.getLogger(__name__)

# The app's policy (app/headers.py), sent by the pages themselves so that the
# standalone sandbox, which has no such middleware, serves them under it too.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
HTML = "text/html; charset=utf-8"
STYLESHEET = Path(__file__).with_name("bank_pages.css").read_bytes()
FONT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": bank_font.CACHE_CONTROL,
}
_FORM = "application/x-www-form-urlencoded"
_AMOUNT_CLASS = ' class="amount"'

_TITLES = {
    DepositChannel.GATEWAY: ("网银支付", "Online banking payment"),
    DepositChannel.POS: ("POS 刷卡支付", "Card payment at a POS terminal"),
}
_HINTS = {
    DepositChannel.GATEWAY: (
        "请核对金额，然后确认或拒绝本次支付。",  # noqa: RUF001
        "Check the amount, then approve or decline this payment.",
    ),
    DepositChannel.POS: (
        "终端显示以下金额：确认即刷卡支付，或拒绝。",  # noqa: RUF001
        "The terminal shows this amount: approve to pay it by card, or decline.",
    ),
}


def yuan(amount_fen: int) -> str:
    """¥ and the amount to the fen, thousands separated: 123456 -> ¥1,234.56."""
    return f"¥{amount_fen // 100:,}.{amount_fen % 100:02d}"


def masked_name(name: str) -> str:
    """The holder's first character and a star for each other one (王芳 -> 王*)."""
    return name[:1] + "*" * (len(name) - 1) if name else "—"


class BankPages:
    """The pages' handlers over one sandbox provider."""

    def __init__(self, sandbox: SandboxSettlement) -> None:
        self.sandbox = sandbox

    def routes(self) -> list[Route]:
        pay = re.compile(re.escape(f"{BANK_PAGES_PREFIX}/pay/") + r"(?P<token>[^/]+)")
        css = re.compile(re.escape(f"{BANK_PAGES_PREFIX}/bank.css"))
        font = re.compile(re.escape(f"{BANK_PAGES_PREFIX}/font/") + r"(?P<name>[^/]+)")
        return [
            Route("GET", pay, self.page, platform=False),
            Route("POST", pay, self.decide, platform=False),
            Route("GET", css, self.stylesheet, platform=False),
            Route("GET", font, self.font, platform=False),
        ]

    async def page(self, request: Request) -> Response:
        payment = await self.sandbox.bank_payment(request.params["token"])
        if payment is None or payment.status != ProviderStatus.PENDING:
            # Unknown and already used look the same: the page tells nothing.
            logger.info("sandbox bank: a page asked for an unknown or used token")
            return not_found_page()
        return _page(200, _title(payment.channel), _payment_page(payment))

    async def decide(self, request: Request) -> Response:
        token = request.params["token"]
        if await self.sandbox.bank_payment(token) is None:
            logger.info("sandbox bank: a decision posted for an unknown token")
            return not_found_page()
        decision = _decision(request)
        if decision is None:
            return _page(
                400,
                ("请求无效", "Bad request"),
                _paragraph(
                    "请使用页面上的按钮确认或拒绝。",
                    "Approve or decline with the page's buttons.",
                )
                + _paragraph("错误代码：INVALID_DECISION", "Error code: INVALID_DECISION")  # noqa: RUF001
                + _paragraph("未做任何更改。", "Nothing was changed."),
            )
        decided = await self.sandbox.decide_bank_payment(token, approve=decision == "approve")
        assert decided is not None  # the token was known above and tokens are never removed
        payment, now = decided
        if now:
            logger.info("sandbox bank: the member's %s of %s", decision, payment.request_id)
        return _result_page(payment, decided_now=now)

    async def stylesheet(self, _request: Request) -> Response:
        # The first call of a process imports the font's versions (half a second): off the loop.
        body = await asyncio.to_thread(stylesheet)
        return Response(200, body, "text/css; charset=utf-8", dict(PAGE_HEADERS))

    async def font(self, request: Request) -> Response:
        """The web font at its versioned name; any other name is the 404 page."""
        if request.params["name"] != bank_font.file_name():
            return not_found_page()
        try:
            # The first request of a process reads (or makes) the file, off the loop.
            body = await asyncio.to_thread(bank_font.font_bytes)
        except Exception:
            # The pages still read in the browser's own fonts; never a 500.
            logger.exception("sandbox bank: the web font cannot be made")
            return Response(503, b"font unavailable", "text/plain", dict(PAGE_HEADERS))
        return Response(200, body, bank_font.CONTENT_TYPE, dict(FONT_HEADERS))


@cache
def stylesheet() -> bytes:
    """bank_pages.css with the web font's versioned file name in its @font-face."""
    return STYLESHEET.replace(bank_font.CSS_PLACEHOLDER, bank_font.file_name().encode())


def not_found_page() -> Response:
    """The 404 page for a token the bank does not know, or no longer shows."""
    return _page(
        404,
        ("支付页面不存在", "Payment page not found"),
        _paragraph(
            "此支付链接无效或已被使用。请回到平台查看充值状态。",
            "This payment link is unknown or has already been used. "
            "See the deposit's status on the platform.",
        ),
    )


def _decision(request: Request) -> str | None:
    """'approve' or 'decline' from the posted form; None for anything else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        return None
    try:
        fields = parse_qs(request.body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("decision", [])
    if len(values) != 1 or values[0] not in ("approve", "decline"):
        return None
    return values[0]


def _title(channel: DepositChannel) -> tuple[str, str]:
    return _TITLES.get(channel, ("支付", "Payment"))


def _payment_page(payment: BankPayment) -> str:
    chinese, english = _HINTS.get(payment.channel, _HINTS[DepositChannel.GATEWAY])
    # No action attribute: the form posts back to this page's own address.
    return (
        _paragraph(chinese, english)
        + _details(payment)
        + '<form method="post" class="decision">'
        + '<button type="submit" name="decision" value="approve" class="approve">'
        + '确认支付 <span lang="en">Approve</span></button>'
        + '<button type="submit" name="decision" value="decline" class="decline">'
        + '拒绝 <span lang="en">Decline</span></button>'
        + "</form>"
    )


def _result_page(payment: BankPayment, *, decided_now: bool) -> Response:
    if payment.status == ProviderStatus.SUCCEEDED:
        title = ("支付成功", "Payment approved")
        text = _paragraph(
            f"{yuan(payment.amount_fen)} 已付入您的资金存管账户。",
            f"{yuan(payment.amount_fen)} has been paid into your custody account.",
        )
    elif payment.status == ProviderStatus.FAILED:
        title = ("支付已拒绝", "Payment declined")
        text = _paragraph("未扣任何款项。", "Nothing was charged.")
    else:  # cannot happen once decided; shown rather than failing
        title = ("支付处理中", "Payment pending")
        text = _paragraph("请稍后再查看。", "Look again in a moment.")
    if not decided_now:
        text += _paragraph(
            "此笔支付此前已处理，本次未做任何更改。",  # noqa: RUF001
            "This payment had already been decided: nothing was changed now.",
        )
    text += _details(payment) + _paragraph("您可以关闭此页面。", "You may close this page.")
    return _page(200, title, text, status_class=payment.status.value.lower())


def _details(payment: BankPayment) -> str:
    rows = [
        (("收款方", "Payee"), "LendBridge 资金存管账户 · custody account"),
        (("账户持有人", "Account holder"), masked_name(payment.holder_name)),
        (("金额", "Amount"), yuan(payment.amount_fen)),
        (("交易号", "Reference"), payment.provider_ref),
    ]
    items = "".join(
        f'<dt>{_escape(chinese)} <span lang="en">{_escape(english)}</span></dt>'
        f"<dd{_AMOUNT_CLASS if english == 'Amount' else ''}>{_escape(value)}</dd>"
        for (chinese, english), value in rows
    )
    return f"<dl>{items}</dl>"


def _paragraph(chinese: str, english: str) -> str:
    return f'<p>{_escape(chinese)}<br><span lang="en">{_escape(english)}</span></p>'


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _page(status: int, title: tuple[str, str], body: str, *, status_class: str = "") -> Response:
    chinese, english = title
    heading_class = f' class="{status_class}"' if status_class else ""
    document = (
        "<!DOCTYPE html>"
        '<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_escape(chinese)} · {_escape(english)} · 沙箱银行 Sandbox bank</title>"
        # Relative: /sandbox-bank/bank.css on whichever host serves the page.
        '<link rel="stylesheet" href="../bank.css">'
        "</head><body><main>"
        '<p class="bank">沙箱银行 <span lang="en">Sandbox bank</span>'
        '<span class="notice">测试环境，不涉及真实资金 · '  # noqa: RUF001
        '<span lang="en">test environment, no real money moves</span></span></p>'
        f'<h1{heading_class}>{_escape(chinese)} <span lang="en">{_escape(english)}</span></h1>'
        f"{body}</main></body></html>"
    )
    return Response(status, document.encode(), HTML, dict(PAGE_HEADERS))
