"""Per-request DataLoaders: the rows a field needs for each object of a list, read for
the whole list in one statement (issue 15).

A field of a type that needs related rows (a loan's reviews) asks
`info.context.loaders.<name>.load(key)`; every load of one tick goes to the batch
function together. One `Loaders` per operation (`FreshLoaders` makes a new one for each
operation, so an operation never reads what an earlier one on the same WebSocket cached);
a mutation that changes rows a loader may hold clears that key before shaping its answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension

from models.loans import LoanReview
from services.guarantees import views as guarantee_views
from services.loans import review


async def _loan_reviews(loan_ids: Sequence[int]) -> list[list[LoanReview]]:
    found = await review.reviews_of(loan_ids)
    return [found[loan_id] for loan_id in loan_ids]


def _loan_reviews_loader() -> DataLoader[int, list[LoanReview]]:
    return DataLoader(load_fn=_loan_reviews)


async def _loan_guarantees(
    loan_ids: Sequence[int],
) -> list[guarantee_views.LoanGuarantee | None]:
    found = await guarantee_views.guarantees_of(loan_ids)
    return [found.get(loan_id) for loan_id in loan_ids]


def _loan_guarantees_loader() -> DataLoader[int, guarantee_views.LoanGuarantee | None]:
    return DataLoader(load_fn=_loan_guarantees)


@dataclass
class Loaders:
    """The DataLoaders of one operation, by relation."""

    loan_reviews: DataLoader[int, list[LoanReview]] = field(default_factory=_loan_reviews_loader)
    loan_guarantees: DataLoader[int, guarantee_views.LoanGuarantee | None] = field(
        default_factory=_loan_guarantees_loader
    )

    def forget_loan(self, loan_id: int) -> None:
        """Drop what was loaded for a loan a mutation changed (nothing if none was)."""
        with contextlib.suppress(KeyError):  # DataLoader.clear raises for a key not loaded
            self.loan_reviews.clear(loan_id)
        with contextlib.suppress(KeyError):
            self.loan_guarantees.clear(loan_id)


class FreshLoaders(SchemaExtension):
    """A new `Loaders` on the context for every operation (HTTP request or WebSocket
    message alike)."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if hasattr(context, "loaders"):
            context.loaders = Loaders()
        yield
