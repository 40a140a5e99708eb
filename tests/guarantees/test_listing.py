"""The marketplace shows a loan's guarantee and guarantor (M1.9), to anyone, in one pair
of statements for the whole page."""

from __future__ import annotations

import pytest

from tests.factories import gql
from tests.guarantees.test_compensation import _company, _guaranteed_by
from tests.lending import listed_loan, verified_borrower

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

MARKET = """{ loans(first: 10) { edges { node { id guaranteeRef
  guarantee { companyId guarantor coverage coversPenalty triggerDays status display } } } } }"""


async def test_the_marketplace_shows_who_guarantees_a_loan(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    company_id, staff = await _company(sandbox, available=100_000, margin=200_000)
    guaranteed_borrower, _phone = await verified_borrower(scripted)
    guaranteed = await listed_loan(
        guaranteed_borrower.id, 500_000, before_review=_guaranteed_by(company_id, staff)
    )
    plain_borrower, _phone = await verified_borrower(scripted)
    plain = await listed_loan(plain_borrower.id, 300_000)

    body = await gql(client, MARKET)  # anonymous: the marketplace is public
    nodes = {int(edge["node"]["id"]): edge["node"] for edge in body["data"]["loans"]["edges"]}
    assert nodes[plain.id]["guarantee"] is None
    assert nodes[guaranteed.id]["guarantee"] == {
        "companyId": str(company_id),
        "guarantor": "Anxin Guarantee Co.",
        "coverage": "PRINCIPAL_INTEREST",
        "coversPenalty": False,
        "triggerDays": 30,
        "status": "ISSUED",
        "display": "由 Anxin Guarantee Co. 担保 · guaranteed by Anxin Guarantee Co.",
    }
