"""Who may lend: the verification kinds the catalogue marks `required_for_lending`.

The rule is the catalogue's, read when asked (`catalogue.KINDS`, the same data as the
`verificationKinds` query), never a list kept here. A kind counts as approved by the one
rule the credit score uses (`scoring.approved_kinds`): the member has an APPROVED
submission of it. Every place the platform takes money to lend asks `check_may_lend`.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.credit import catalogue
from services.credit.scoring import approved_kinds
from services.errors import DomainError

LENDING_VERIFICATION_REQUIRED = "LENDING_VERIFICATION_REQUIRED"
# The key of `DomainError.details` that lists the missing kinds' codes.
MISSING_VERIFICATIONS = "missing_verifications"


class LendingVerificationRequiredError(DomainError):
    """The member lacks approved verifications the catalogue requires for lending;
    `missing` are their codes, in catalogue order (also in `details`)."""

    code = LENDING_VERIFICATION_REQUIRED

    def __init__(self, missing: Sequence[catalogue.VerificationKind]) -> None:
        titles = "; ".join(kind.title for kind in missing)
        super().__init__(
            f"Lending needs these verifications approved first: {titles}",
            details={MISSING_VERIFICATIONS: [kind.code for kind in missing]},
        )

    @property
    def missing(self) -> list[str]:
        return missing_of(self)


def required_for_lending() -> tuple[catalogue.VerificationKind, ...]:
    """The kinds the catalogue marks required for lending, in catalogue order."""
    return tuple(kind for kind in catalogue.KINDS if kind.required_for_lending)


async def missing_for_lending(user_id: int) -> list[str]:
    """Codes of the kinds required for lending the member has no approved submission
    of, in catalogue order; empty when they may lend."""
    approved = await approved_kinds(user_id)
    return [kind.code for kind in required_for_lending() if kind.code not in approved]


async def check_may_lend(user_id: int) -> None:
    """Refuse a member who may not lend yet: LendingVerificationRequiredError (code
    LENDING_VERIFICATION_REQUIRED) naming the missing kinds by title in its message and
    listing their codes in `details["missing_verifications"]`. Changes nothing.

    The one check of this rule, called wherever the platform accepts money to lend: a
    manual bid (`placeBid`, before its SMS code is sent, and again when it is confirmed),
    every automatic bid (a lender who no longer qualifies is skipped), and an automatic
    bidding rule (saved or opted in). The claim purchase of the secondary market (M1.10,
    M9.1; not built yet) must call it for the buyer before anything is frozen or moved.
    """
    missing = set(await missing_for_lending(user_id))
    if missing:
        raise LendingVerificationRequiredError(
            [kind for kind in required_for_lending() if kind.code in missing]
        )


def missing_of(error: DomainError) -> list[str]:
    """The missing kinds' codes an error carries (also after an idempotent replay,
    which rebuilds a plain DomainError from the stored code and details); empty for
    other errors."""
    if error.code != LENDING_VERIFICATION_REQUIRED:
        return []
    return [str(code) for code in error.details.get(MISSING_VERIFICATIONS, [])]
