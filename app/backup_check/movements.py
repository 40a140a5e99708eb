"""Money moved through GraphQL for the backup drill (app/backup_check/), as the demo
members would do it in GraphiQL: through the whole API, so the operation log records each
mutation, and with each second confirmation's SMS code read as `devOutbox` shows it (the
drill plays the members' phones; dev and test only)."""

from __future__ import annotations

import re
from typing import Any

_LOGIN = """mutation ($phone: String!) { login(input: {phone: $phone, password: "Demo12345"}) {
  __typename ... on AuthPayload { accessToken } ... on LoginError { code message } } }"""
_BID = """mutation ($loan: ID!, $key: String!) {
  placeBid(input: {loanId: $loan, amount: "1000.00", idempotencyKey: $key}) {
    __typename ... on BidPlaced { operationId } ... on PlaceBidError { code message } } }"""
_REPAY = """mutation ($loan: ID!, $key: String!) {
  repay(input: {loanId: $loan, mode: NEXT, idempotencyKey: $key}) {
    __typename ... on RepaymentRequested { operationId } ... on RepayError { code message } } }"""
_WITHDRAW = """mutation ($card: ID!, $key: String!) {
  withdraw(input: {amount: "500.00", speed: T0, cardId: $card, idempotencyKey: $key}) {
    __typename ... on ConfirmationRequired { operationId }
    ... on WithdrawError { code message } } }"""
_CONFIRM = """mutation ($op: ID!, $code: String!) {
  confirmOperation(input: {operationId: $op, code: $code}) {
    __typename ... on OperationConfirmed { operationId }
    ... on ConfirmOperationError { code message } } }"""


async def _code(phone: str) -> str:
    """The code in the newest SMS to `phone`: the drill plays the member's phone, as
    the demo does (dev and test only)."""
    from models.messaging import OutgoingMessage
    from services.kit.security import lookup_hash

    message = (
        await OutgoingMessage.filter(recipient_lookup=lookup_hash(phone)).order_by("-id").first()
    )
    found = re.search(r"\b(\d{6})\b", message.body) if message is not None else None
    if found is None:
        raise RuntimeError(f"no SMS code was sent to {phone[:3]}****{phone[-4:]}")
    return found[1]


async def _graphql(http: Any, query: str, variables: dict[str, Any], token: str = "") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"GraphQL answered {response.status_code}: {body}")
    (result,) = body["data"].values()
    if "operationId" not in result and "accessToken" not in result:
        raise RuntimeError(f"GraphQL refused: {result}")
    return result


async def _confirmed(http: Any, phone: str, token: str, query: str, **variables: Any) -> None:
    """A mutation that needs second confirmation, confirmed with its SMS code."""
    asked = await _graphql(http, query, variables, token)
    code = await _code(phone)
    await _graphql(http, _CONFIRM, {"op": asked["operationId"], "code": code}, token)


async def move_money(app: Any) -> None:
    """Money moved through GraphQL, as the members would (so the operation log has
    entries): member 3 bids 1,000.00 on the listed demo loan, member 1 repays the next
    installment of the repaying one, member 4 withdraws 500.00 (T0); all settled."""
    import httpx

    from models.loans import Loan
    from models.members import User
    from models.payments import BankCard
    from services.demo import LISTED_LOAN, REPAYING_LOAN
    from services.kit.security import lookup_hash
    from services.payments.embedded import settle_until_quiet

    phones = {"borrower": "19900001001", "lender": "19900001003", "withdrawer": "19900001004"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://platform") as http:
        tokens = {
            who: (await _graphql(http, _LOGIN, {"phone": phone}))["accessToken"]
            for who, phone in phones.items()
        }
        listed = await Loan.get(purpose=LISTED_LOAN.purpose)
        repaying = await Loan.get(purpose=REPAYING_LOAN.purpose)
        withdrawer = await User.get(phone_lookup=lookup_hash(phones["withdrawer"]))
        card = await BankCard.filter(user_id=withdrawer.id, status="bound").order_by("id").first()
        if card is None:
            raise RuntimeError("the demo lender has no bound card")
        await _confirmed(
            http, phones["lender"], tokens["lender"], _BID, loan=listed.id, key="backup-bid-1"
        )
        await _confirmed(
            http,
            phones["borrower"],
            tokens["borrower"],
            _REPAY,
            loan=repaying.id,
            key="backup-repay-2",
        )
        await _confirmed(
            http,
            phones["withdrawer"],
            tokens["withdrawer"],
            _WITHDRAW,
            card=card.id,
            key="backup-withdraw-1",
        )
    await settle_until_quiet(app.state.sandbox.sandbox)
