"""What `bench/bidding.py` measures beside the rates: the SQL statements one bid sends
(through GraphQL in this process, as an API process runs it) and, at the end, whether
any freeze leaked (a lender holding frozen money no accepted bid accounts for)."""

from __future__ import annotations

from typing import Any

PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId } ... on PlaceBidError { code message } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { bid { status } } ... on ConfirmOperationError { code } } }"""


async def statements_per_bid(
    app: Any, loan_id: int, lender: tuple[int, str, str]
) -> dict[str, int]:
    """One bid of `lender` on `loan_id` through the app in this process: how many SQL
    statements `placeBid` and `confirmOperation` each sent (the request's own, the
    operation log's entry included; the dispatchers' work afterwards not)."""
    import httpx

    from bench.lending_setup import code_for
    from tests.statements import recording_statements

    user_id, phone, token = lender
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await client.post("/graphql", json={"query": "{ me { roles } }"}, headers=headers)
        variables = {"input": {"loanId": str(loan_id), "amount": "1.00"}}
        variables["input"]["idempotencyKey"] = f"bench-probe-{user_id}"
        with recording_statements() as placing:
            placed = await client.post(
                "/graphql", json={"query": PLACE, "variables": variables}, headers=headers
            )
        result = placed.json()["data"]["placeBid"]
        if result["__typename"] != "BidPlaced":
            raise SystemExit(f"the probe bid was refused: {result}")
        code = await code_for(phone, loan_id)
        with recording_statements() as confirming:
            confirmed = await client.post(
                "/graphql",
                json={"query": CONFIRM, "variables": {"id": result["operationId"], "code": code}},
                headers=headers,
            )
        outcome = confirmed.json()["data"]["confirmOperation"]
        if outcome["__typename"] != "OperationConfirmed":
            raise SystemExit(f"the probe bid was not confirmed: {outcome}")
    return {"placeBid": len(placing), "confirmOperation": len(confirming)}


async def leaked_freezes(lender_ids: list[int]) -> int:
    """Fen frozen for the lenders beyond what their accepted bids hold, summed (zero when
    every refused or trimmed bid released what it froze)."""
    from models.bids import Bid, BidStatus
    from models.ledger import LedgerAccount
    from services.money import ledger

    leaked = 0
    for user_id in lender_ids:
        account = await LedgerAccount.get_or_none(code=ledger.frozen(user_id))
        frozen = int(account.balance) if account is not None else 0
        accepted = await Bid.filter(lender_id=user_id, status=BidStatus.ACCEPTED).values_list(
            "amount_fen", flat=True
        )
        leaked += abs(frozen - sum(int(amount) for amount in accepted))  # type: ignore[call-overload]
    return leaked
