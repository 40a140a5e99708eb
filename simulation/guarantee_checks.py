"""The invariants of guarantees and collateral (issue 21), checked after every simulated
day of a run with `--guarantees` (`invariants.check_all`). A company is `g:<id>`: its
ledger accounts `g:<id>` (available) and `g:<id>:margin`, its advances' recoverer.

- `guarantee.paid_equals_compensations`: per company, what its journals of kind
  `guarantee_compensation` took from its account = Σ its `InstallmentAdvance` totals =
  Σ its `GuaranteeCompensation.amount_fen` = Σ its per-claim `ReserveAdvance` rows; per
  installment the header, the compensation and the per-claim rows agree, and no company
  advanced an installment without its compensation row.
- `guarantee.recovered_within_paid`: per (company, claim) its recovery receipts are
  within its advances, each part; per (installment, claim) what came back (the receipts
  attributed to installments by `advances.recovered_of_loan`, which raises when they
  cannot be) is within what was advanced, each part; each compensation's `recovered_fen`
  is what came back of its installment; per company Σ `recovered_fen` = Σ its recovery
  receipts = what its `guarantee_recovery` journals brought it.
- `guarantee.accounts_for_itself`: the company's available + margin = its deposits paid
  + its recoveries + its guarantee fees - its compensations; neither is negative; the
  fees its `guarantee_fee` journals brought it are what the borrowers' repayments of its
  policies' loans record as its (`details["guarantee_fee_fen"]`).
- `guarantee.margin_covered_at_issue`: every issued policy had margin >= required.
- `guarantee.compensated_on_time_once`: each compensation's installment was at least
  its policy's trigger days late on the day it was made, on the policy's own loan, by
  the policy's company, after it issued; one per installment; and the risk reserve never
  advanced a loan whose policy was in force then (issued before the advance).
- `collateral.proceeds_add_up`: per DISTRIBUTED disposal, applied + surplus = net, the
  owner credited net by the proceeds' journal; applied = the COLLATERAL repayment's
  amount, and that repayment's receipts (holders and recoverers) + its fee transfers (the
  platform's, the reserve's share, a guarantor's fee) = applied = what its journals took
  from the owner. No repayment: nothing applied.

The money checks are pure functions of what `read` gathers (`Books`), so hand-made
books test them (tests/simulation/test_invariants.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from models.collateral import CollateralDisposal, DisposalStatus
from models.guarantees import GuaranteeCompany, GuaranteeCompensation, GuaranteePolicy
from models.ledger import Journal, Posting
from models.payments import Deposit
from models.repayments import (
    InstallmentAdvance,
    LoanInstallment,
    Receipt,
    Repayment,
    RepaymentKind,
    ReserveAdvance,
)
from services.money import ledger
from services.repayments import advances
from simulation.broken import Broken, holds

CHECKS = 6
FEE_KINDS = ("repayment_fee", "repayment_reserve", "guarantee_fee")
Triple = tuple[int, int, int]
NOTHING: Triple = (0, 0, 0)


def _add(a: Triple, b: Triple) -> Triple:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _within(got: Triple, most: Triple) -> bool:
    return all(0 <= g <= m for g, m in zip(got, most, strict=True))


@dataclass
class Company:
    """One company's figures: its journals, balances and deposits."""

    code: str
    compensation_journals: int = 0  # what `guarantee_compensation` journals took from it
    recovery_journals: int = 0  # what `guarantee_recovery` journals brought it
    available: int = 0
    margin: int = 0
    deposits: int = 0  # its deposits PAID
    fee_journals: int = 0  # what `guarantee_fee` journals brought it
    fees_paid: int = 0  # what repayments of its policies' loans record as its fee


@dataclass(frozen=True)
class Compensation:
    id: int
    code: str
    installment_id: int
    amount_fen: int
    recovered_fen: int


@dataclass
class Books:
    """What the guarantee money checks read."""

    companies: list[Company]
    compensations: list[Compensation]
    headers: dict[int, tuple[str, int]]  # installment -> (recoverer, total advanced): g: only
    # (installment, claim) -> (recoverer, (principal, interest, penalty)): g: only
    advanced: dict[tuple[int, int], tuple[str, Triple]]
    receipts: dict[str, dict[int, Triple]]  # company -> claim -> its recovery receipts
    came_back: dict[int, dict[int, Triple]] = field(default_factory=dict)  # installment -> claim


def paid_equals_compensations(books: Books) -> None:
    name = "guarantee.paid_equals_compensations"
    per_installment: dict[int, int] = defaultdict(int)
    per_company: dict[str, int] = defaultdict(int)
    for (installment_id, _claim), (code, parts) in books.advanced.items():
        per_installment[installment_id] += sum(parts)
        per_company[code] += sum(parts)
    paid: dict[str, int] = defaultdict(int)
    for row in books.compensations:
        paid[row.code] += row.amount_fen
        header = books.headers.get(row.installment_id)
        holds(
            header == (row.code, row.amount_fen)
            and per_installment[row.installment_id] == row.amount_fen,
            name,
            f"compensation {row.id} of installment {row.installment_id}: {row.amount_fen} by "
            f"{row.code}; advance {header}; per claim {per_installment[row.installment_id]}",
        )
    unpaired = sorted(set(books.headers) - {row.installment_id for row in books.compensations})
    holds(not unpaired, name, f"advanced by a company without a compensation: {unpaired[:5]}")
    for company in books.companies:
        code = company.code
        seen = (
            company.compensation_journals,
            sum(total for recoverer, total in books.headers.values() if recoverer == code),
            paid[code],
            per_company[code],
        )
        holds(
            len(set(seen)) == 1,
            name,
            f"{code}: journals, advances, compensations, per-claim rows {seen}",
        )


def recovered_within_paid(books: Books) -> None:
    name = "guarantee.recovered_within_paid"
    advanced_of: dict[tuple[str, int], Triple] = defaultdict(lambda: NOTHING)
    for (_installment, claim_id), (code, parts) in books.advanced.items():
        advanced_of[(code, claim_id)] = _add(advanced_of[(code, claim_id)], parts)
    for code, per_claim in books.receipts.items():
        for claim_id, back in per_claim.items():
            holds(
                _within(back, advanced_of[(code, claim_id)]),
                name,
                f"{code} claim {claim_id}: recovered {back}, advanced "
                f"{advanced_of[(code, claim_id)]}",
            )
    recovered: dict[str, int] = defaultdict(int)
    for row in books.compensations:
        came_back = books.came_back.get(row.installment_id, {})
        for claim_id, parts in came_back.items():
            paid = books.advanced.get((row.installment_id, claim_id), ("", NOTHING))[1]
            holds(
                _within(parts, paid),
                name,
                f"installment {row.installment_id} claim {claim_id}: back {parts}, paid {paid}",
            )
        total = sum(sum(parts) for parts in came_back.values())
        holds(
            row.recovered_fen == total and 0 <= row.recovered_fen <= row.amount_fen,
            name,
            f"compensation {row.id}: recovered_fen {row.recovered_fen}, came back {total}, "
            f"paid {row.amount_fen}",
        )
        recovered[row.code] += row.recovered_fen
    for company in books.companies:
        by_receipts = sum(sum(parts) for parts in books.receipts.get(company.code, {}).values())
        seen = (recovered[company.code], by_receipts, company.recovery_journals)
        holds(
            len(set(seen)) == 1,
            name,
            f"{company.code}: recovered_fen, recovery receipts, recovery journals {seen}",
        )


def accounts_for_itself(books: Books) -> None:
    paid: dict[str, int] = defaultdict(int)
    for row in books.compensations:
        paid[row.code] += row.amount_fen
    for company in books.companies:
        code = company.code
        recovered = sum(sum(parts) for parts in books.receipts.get(code, {}).values())
        expected = company.deposits + recovered + company.fee_journals - paid[code]
        holds(
            company.available + company.margin == expected
            and company.available >= 0
            and company.margin >= 0
            and company.fee_journals == company.fees_paid,
            "guarantee.accounts_for_itself",
            f"{code}: available {company.available} + margin {company.margin}; deposits "
            f"{company.deposits} + recovered {recovered} + fees {company.fee_journals} "
            f"(repayments say {company.fees_paid}) - compensated {paid[code]} = {expected}",
        )


async def check(book: Any) -> None:
    """Every check of the module docstring; `book` is the run's `invariants.Book`."""
    books = await read()
    paid_equals_compensations(books)
    recovered_within_paid(books)
    accounts_for_itself(books)
    await margin_covered_at_issue()
    await compensated_on_time_once(book)
    await proceeds_add_up(book)


# --- reading the books ----------------------------------------------------------------


async def _journal_sums(kind: str) -> dict[str, int]:
    """account code -> the sum of its postings in journals of `kind`."""
    sums: dict[str, int] = defaultdict(int)
    rows = await Posting.filter(journal__kind=kind).values_list("account__code", "amount")
    for code, amount in cast(list[tuple[str, int]], rows):
        sums[code] += amount
    return sums


async def read() -> Books:
    """The companies' books as the database has them."""
    paid_out = await _journal_sums("guarantee_compensation")
    brought = await _journal_sums("guarantee_recovery")
    fees = await _journal_sums("guarantee_fee")
    fees_paid: dict[str, int] = defaultdict(int)
    charged = dict(
        cast(
            list[tuple[int, int]],
            await GuaranteePolicy.filter(fee_rate__gt=0, issued_at__isnull=False).values_list(
                "loan_id", "company_id"
            ),
        )
    )
    for loan_id, details in cast(
        list[tuple[int, dict[str, Any]]],
        await Repayment.filter(loan_id__in=list(charged), status="DONE").values_list(
            "loan_id", "details"
        ),
    ):
        fees_paid[f"g:{charged[loan_id]}"] += int(details.get("guarantee_fee_fen", 0))
    deposits: dict[str, int] = defaultdict(int)
    for code, amount in cast(
        list[tuple[str, int]],
        await Deposit.filter(owner_code__startswith="g:", status="PAID").values_list(
            "owner_code", "amount"
        ),
    ):
        deposits[code] += amount
    companies = []
    for company_id in cast(
        list[int], await GuaranteeCompany.all().order_by("id").values_list("id", flat=True)
    ):
        code = f"g:{company_id}"
        companies.append(
            Company(
                code=code,
                compensation_journals=-paid_out.get(code, 0),
                recovery_journals=brought.get(code, 0),
                available=await ledger.balance(code),
                margin=await ledger.balance(ledger.org_margin(code)),
                deposits=deposits[code],
                fee_journals=fees.get(code, 0),
                fees_paid=fees_paid[code],
            )
        )
    compensations = [
        Compensation(
            row.id, f"g:{row.company_id}", row.installment_id, row.amount_fen, row.recovered_fen
        )
        for row in await GuaranteeCompensation.all().order_by("id")
    ]
    headers = {
        installment_id: (recoverer, principal + interest + penalty)
        for installment_id, recoverer, principal, interest, penalty in cast(
            list[tuple[int, str, int, int, int]],
            await InstallmentAdvance.filter(recoverer__startswith="g:").values_list(
                "installment_id", "recoverer", "principal_fen", "interest_fen", "penalty_fen"
            ),
        )
    }
    advanced = {
        (row.installment_id, row.claim_id): (
            row.recoverer,
            (row.principal_fen, row.interest_fen, row.penalty_fen),
        )
        for row in await ReserveAdvance.filter(recoverer__startswith="g:")
    }
    receipts: dict[str, dict[int, Triple]] = defaultdict(dict)
    for recoverer, claim_id, principal, interest, penalty in cast(
        list[tuple[str, int, int, int, int]],
        await Receipt.filter(to_reserve=True, recoverer__startswith="g:").values_list(
            "recoverer", "claim_id", "principal_fen", "interest_fen", "penalty_fen"
        ),
    ):
        had = receipts[recoverer].get(claim_id, NOTHING)
        receipts[recoverer][claim_id] = _add(had, (principal, interest, penalty))
    books = Books(companies, compensations, headers, advanced, dict(receipts))
    loan_ids = sorted(
        set(
            cast(
                list[int],
                await GuaranteeCompensation.all().values_list("loan_id", flat=True),
            )
        )
    )
    installments: dict[int, list[LoanInstallment]] = defaultdict(list)
    for installment in await LoanInstallment.filter(loan_id__in=loan_ids):
        installments[installment.loan_id].append(installment)
    for loan_id in loan_ids:
        try:
            found = await advances.recovered_of_loan(loan_id, installments[loan_id])
        except RuntimeError as error:  # the receipts cannot be attributed to installments
            raise Broken("guarantee.recovered_within_paid", f"loan {loan_id}: {error}") from error
        books.came_back.update(
            {key: value for key, value in found.items() if headers.get(key) is not None}
        )
    return books


# --- policies and timing ----------------------------------------------------------------


async def margin_covered_at_issue() -> None:
    for policy_id, margin, required in cast(
        list[tuple[int, int | None, int | None]],
        await GuaranteePolicy.filter(issued_at__isnull=False).values_list(
            "id", "margin_at_issue_fen", "required_at_issue_fen"
        ),
    ):
        holds(
            margin is not None and required is not None and margin >= required,
            "guarantee.margin_covered_at_issue",
            f"policy {policy_id}: margin {margin}, required {required}",
        )


async def compensated_on_time_once(book: Any) -> None:
    name = "guarantee.compensated_on_time_once"
    installments = cast(
        list[int], await GuaranteeCompensation.all().values_list("installment_id", flat=True)
    )
    twice = sorted({one for one in installments if installments.count(one) > 1})
    holds(not twice, name, f"installments compensated twice: {twice[:5]}")
    new = await GuaranteeCompensation.filter(id__gt=book.last_compensation_checked).order_by("id")
    policies = {
        policy.id: policy
        for policy in await GuaranteePolicy.filter(id__in=[row.policy_id for row in new])
    }
    due: dict[int, tuple[int, date]] = {
        row_id: (loan_id, due_date)
        for row_id, loan_id, due_date in cast(
            list[tuple[int, int, date]],
            await LoanInstallment.filter(id__in=[row.installment_id for row in new]).values_list(
                "id", "loan_id", "due_date"
            ),
        )
    }
    for row in new:
        policy = policies[row.policy_id]
        loan_id, due_date = due[row.installment_id]
        late = (row.created_at.date() - due_date).days
        holds(
            policy.trigger_days is not None and late >= policy.trigger_days,
            name,
            f"compensation {row.id}: {late} days late, trigger {policy.trigger_days}",
        )
        holds(
            row.loan_id == policy.loan_id == loan_id
            and row.company_id == policy.company_id
            and policy.issued_at is not None
            and policy.issued_at <= row.created_at,
            name,
            f"compensation {row.id} of loan {row.loan_id} by company {row.company_id}: policy "
            f"{policy.id} of loan {policy.loan_id} by {policy.company_id}, issued "
            f"{policy.issued_at}, installment of loan {loan_id}",
        )
        book.last_compensation_checked = row.id
    issued = dict(
        cast(
            list[tuple[int, Any]],
            await GuaranteePolicy.filter(issued_at__isnull=False).values_list(
                "loan_id", "issued_at"
            ),
        )
    )
    for advance_id, loan_id, created_at in await ReserveAdvance.filter(
        recoverer=ledger.RISK_RESERVE, loan_id__in=list(issued)
    ).values_list("id", "loan_id", "created_at"):
        holds(
            created_at < issued[loan_id],
            name,
            f"the reserve advanced loan {loan_id} under its guarantee (advance {advance_id})",
        )


# --- collateral ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Proceeds:
    """What one DISTRIBUTED disposal's checks read."""

    disposal_id: int
    net_fen: int
    applied_fen: int
    surplus_fen: int
    credited_fen: int  # what the proceeds' journal credited the owner
    # The COLLATERAL repayment: (kind, status, amount), None when there is none.
    repayment: tuple[str, str, int] | None = None
    receipts_fen: int = 0  # its receipts: holders' and recoverers'
    fees_fen: int = 0  # its fee transfers (to the platform's fee and the reserve)
    taken_fen: int = 0  # what its journals took from the owner


def proceeds_add(found: Proceeds) -> None:
    name = "collateral.proceeds_add_up"
    where = f"disposal {found.disposal_id}"
    holds(
        found.applied_fen + found.surplus_fen == found.net_fen
        and found.applied_fen >= 0
        and found.surplus_fen >= 0
        and found.credited_fen == found.net_fen,
        name,
        f"{where}: applied {found.applied_fen} + surplus {found.surplus_fen}, net "
        f"{found.net_fen}, owner credited {found.credited_fen}",
    )
    if found.repayment is None:
        holds(found.applied_fen == 0, name, f"{where}: {found.applied_fen} applied by nothing")
        return
    holds(
        found.repayment == (RepaymentKind.COLLATERAL, "DONE", found.applied_fen),
        name,
        f"{where}: applied {found.applied_fen}, repayment {found.repayment}",
    )
    holds(
        found.receipts_fen + found.fees_fen == found.applied_fen == found.taken_fen,
        name,
        f"{where}: receipts {found.receipts_fen} + fee transfers {found.fees_fen}, applied "
        f"{found.applied_fen}, taken from the owner {found.taken_fen}",
    )


async def proceeds_add_up(book: Any) -> None:
    for row in await CollateralDisposal.filter(status=DisposalStatus.DISTRIBUTED).order_by("id"):
        if row.id not in book.disposals_checked:
            proceeds_add(await read_proceeds(row))
            book.disposals_checked.add(row.id)


async def _amounts(**filters: Any) -> list[int]:
    return cast(list[int], await Posting.filter(**filters).values_list("amount", flat=True))


async def read_proceeds(row: CollateralDisposal) -> Proceeds:
    owner = ledger.available(row.owner_id)
    credited = sum(
        await _amounts(journal__idempotency_key=f"disposal:{row.id}", account__code=owner)
    )
    found = Proceeds(row.id, row.net_fen, row.applied_fen, row.surplus_fen, credited)
    if row.repayment_id is None:
        return found
    repayment = await Repayment.get(id=row.repayment_id)
    receipts = await Receipt.filter(repayment_id=repayment.id).values_list(
        "principal_fen", "interest_fen", "penalty_fen"
    )
    journals = cast(
        list[tuple[int, str]],
        await Journal.filter(idempotency_key__startswith=f"repayment:{repayment.id}:").values_list(
            "id", "kind"
        ),
    )
    fee_journals = [one for one, kind in journals if kind in FEE_KINDS]
    return Proceeds(
        row.id,
        row.net_fen,
        row.applied_fen,
        row.surplus_fen,
        credited,
        (str(repayment.kind), str(repayment.status), repayment.amount_fen),
        sum(sum(parts) for parts in cast(list[Triple], receipts)),
        sum(await _amounts(journal_id__in=fee_journals, amount__gt=0)),
        -sum(await _amounts(journal_id__in=[one for one, _kind in journals], account__code=owner)),
    )
