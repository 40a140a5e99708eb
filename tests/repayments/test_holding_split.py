"""Claims sold in parts (issue 20, pure code): a loan's payments shared among holdings,
whatever the order of sales, part payments and an early repayment that lowers the
loan's interest. Each payment adds up to the fen; a holding never has more principal
than its target; at the end every holding has exactly its principal target and its
interest target, the lines exactly what the original claims would have had, and a loan
never sold is shared exactly as before."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.repayments import split
from services.repayments.split import Holding


def _originals(principals: list[int]) -> list[Holding]:
    return [Holding(n, p, None, 0, 0) for n, p in enumerate(principals)]


def _paid(holdings: list[Holding], shares: list[split.Share]) -> list[Holding]:
    return [
        dataclasses.replace(
            h,
            received_principal=h.received_principal + s.principal_fen,
            received_interest=h.received_interest + s.interest_fen,
        )
        for h, s in zip(holdings, shares, strict=True)
    ]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[int], list[tuple[str, int, int, int]]]:
    """Original claims and a history: payments ("pay", principal, interest, penalty) that
    pay the loan off exactly, sales ("sell", a holding's number, a fraction in
    thousandths, 0) between them, and at most one early repayment ("early", 0, cut, 0)
    that lowers the interest still to pay by `cut`."""
    principals = draw(st.lists(st.integers(1, 2_000_000), min_size=1, max_size=4))
    amount = sum(principals)
    count = draw(st.integers(1, 12))
    cuts = sorted(draw(st.lists(st.integers(0, amount), min_size=count - 1, max_size=count - 1)))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, amount], strict=True)]
    interest = draw(st.lists(st.integers(0, 300_000), min_size=count, max_size=count))
    events: list[tuple[str, int, int, int]] = []
    early_at = draw(st.integers(0, count))  # == count: no early repayment
    for number, (p, i) in enumerate(zip(parts, interest, strict=True)):
        for _ in range(draw(st.integers(0, 2))):
            events.append(("sell", draw(st.integers(0, 20)), draw(st.integers(1, 1000)), 0))
        if number == early_at:
            rest_principal = sum(parts[number:])
            rest_interest = sum(interest[number:])
            cut = draw(st.integers(0, rest_interest))
            events.append(("early", 0, cut, 0))
            events.append(("pay", rest_principal, rest_interest - cut, 0))
            return principals, events
        pieces = draw(st.integers(1, 3))
        for k in range(pieces):  # a part payment, then the rest
            share_p = p // pieces if k < pieces - 1 else p - (pieces - 1) * (p // pieces)
            share_i = i // pieces if k < pieces - 1 else i - (pieces - 1) * (i // pieces)
            events.append(("pay", share_p, share_i, draw(st.integers(0, 2_000))))
    return principals, events


def _run(principals: list[int], events: list[tuple[str, int, int, int]]) -> list[Holding]:
    holdings = _originals(principals)
    total_interest = sum(e[2] for e in events if e[0] == "pay") + sum(
        e[2] for e in events if e[0] == "early"
    )
    paid_interest = 0
    for kind, a, b, c in events:
        if kind == "early":
            total_interest -= b
            continue
        if kind == "sell":
            sellable = [n for n, h in enumerate(holdings) if h.outstanding_fen > 0]
            if not sellable:
                continue
            index = sellable[a % len(sellable)]
            seller = holdings[index]
            amount = max(1, seller.outstanding_fen * b // 1000)
            before = split.interest_entitlements(holdings, total_interest)
            fixed, carved = split.carve(holdings, index, amount, total_interest)
            # The part sold takes the seller's interest to come in proportion, half-up.
            to_come = Fraction(before[index] - seller.received_interest)
            exact = to_come * amount / seller.outstanding_fen
            assert abs(carved.bought.interest_share_fen - exact) <= Fraction(1, 2)
            holdings = [*fixed, carved.bought]
            after = split.interest_entitlements(holdings, total_interest)
            # Nobody else's entitlement moved; the two parts add up to the seller's.
            assert [t for n, t in enumerate(after[:-1]) if n != index] == [
                t for n, t in enumerate(before) if n != index
            ]
            assert after[index] + after[-1] == before[index]
            continue
        shares = split.split_holdings(
            principal_fen=a,
            interest_fen=b,
            penalty_fen=c,
            holdings=holdings,
            total_interest_fen=total_interest,
        )
        assert sum(s.principal_fen for s in shares) == a
        assert sum(s.interest_fen for s in shares) == b
        assert sum(s.penalty_fen for s in shares) == c
        assert all(min(s.principal_fen, s.interest_fen, s.penalty_fen) >= 0 for s in shares)
        paid_interest += b
        holdings = _paid(holdings, shares)
        assert all(h.received_principal <= h.principal_fen for h in holdings)
    assert paid_interest == total_interest
    return holdings


@settings(max_examples=400, deadline=None)
@given(histories())
@example(([1, 1, 1], [("sell", 0, 1000, 0), ("pay", 3, 3, 0)]))
@example(([5], [("sell", 0, 500, 0), ("sell", 1, 1000, 0), ("pay", 2, 1, 0), ("pay", 3, 0, 1)]))
def test_every_holding_ends_with_exactly_its_targets(history):
    principals, events = history
    final = _run(principals, events)
    total_interest = sum(h.received_interest for h in final)
    targets = split.interest_entitlements(final, total_interest)
    line_targets = split.interest_targets(total_interest, principals)
    unsold = _run(principals, [e for e in events if e[0] != "sell"])
    for line, original in enumerate(unsold):
        members = [n for n, h in enumerate(final) if h.line == line]
        # Each line (an original claim) had what the claim would have had unsold.
        assert sum(final[n].received_principal for n in members) == original.received_principal
        assert sum(final[n].received_interest for n in members) == original.received_interest
        # Every holding exactly its principal; its interest exactly its target, where the
        # line's interest is its own target (an early repayment can leave a claim that
        # was already past its new target above it, and so another below: the unsold
        # engine's rule, issue 13), else within what the line is off by.
        off = abs(original.received_interest - line_targets[line])
        for n in members:
            assert final[n].received_principal == final[n].principal_fen
            assert abs(final[n].received_interest - targets[n]) <= off


@settings(max_examples=200, deadline=None)
@given(histories())
def test_a_loan_never_sold_is_shared_exactly_as_before(history):
    principals, events = history
    holdings = _originals(principals)
    got_p, got_i = [0] * len(principals), [0] * len(principals)
    total = sum(e[2] for e in events if e[0] in ("pay", "early"))
    for kind, a, b, c in events:
        if kind == "early":
            total -= b
        if kind != "pay":
            continue
        old = split.split_payment(
            principal_fen=a,
            interest_fen=b,
            penalty_fen=c,
            principals=principals,
            received_principal=got_p,
            received_interest=got_i,
            total_interest_fen=total,
        )
        new = split.split_holdings(
            principal_fen=a,
            interest_fen=b,
            penalty_fen=c,
            holdings=holdings,
            total_interest_fen=total,
        )
        assert new == old
        holdings = _paid(holdings, new)
        got_p = [h.received_principal for h in holdings]
        got_i = [h.received_interest for h in holdings]


def test_a_half_sold_claim_is_shared_half_and_half():
    # One claim of 1,000.00, 120.00 of interest in two installments; half of it sold
    # after the first: each holder has half of the second.
    holdings = _originals([100_000])
    first = split.split_holdings(
        principal_fen=50_000,
        interest_fen=8_000,
        penalty_fen=0,
        holdings=holdings,
        total_interest_fen=12_000,
    )
    holdings = _paid(holdings, first)
    fixed, carved = split.carve(holdings, 0, 25_000, 12_000)
    assert carved.bought == Holding(0, 25_000, 2_000, 0, 0)
    assert fixed[0] == Holding(0, 75_000, 10_000, 50_000, 8_000)
    second = split.split_holdings(
        principal_fen=50_000,
        interest_fen=4_000,
        penalty_fen=100,
        holdings=[*fixed, carved.bought],
        total_interest_fen=12_000,
    )
    assert second == [split.Share(25_000, 2_000, 50), split.Share(25_000, 2_000, 50)]


def test_a_sale_outside_the_outstanding_principal_is_refused():
    holdings = _originals([100])
    for amount in (0, 101, -1):
        try:
            split.carve(holdings, 0, amount, 10)
        except ValueError:
            continue
        raise AssertionError(f"{amount} was accepted")
