"""Root fields: finance (M4.6 reconciliation, M10.1-M10.3 accounts, transactions,
adjustments)."""

from __future__ import annotations

import strawberry

from resolvers.money import finance as r
from schema.directives import auth
from schema.pagination import Connection
from schema.types.money import finance as t
from services.identity.permissions import Permission


@strawberry.type
class FinanceQuery:
    platform_accounts: t.PlatformAccounts = strawberry.field(
        resolver=r.platform_accounts,
        extensions=auth(Permission.FINANCE_READ),
        description="Fee, risk-reserve, guarantee-fund and margin accounts, and the totals of "
        "members' available, frozen and withdrawing money (M10.1).",
    )
    fund_transactions: Connection[t.FundTransaction] = strawberry.field(
        resolver=r.fund_transactions,
        extensions=auth(Permission.FINANCE_READ),
        description="Every fund transaction with its postings, newest first (M10.2).",
    )
    reconciliation_breaks: Connection[t.ReconciliationBreak] = strawberry.field(
        resolver=r.reconciliation_breaks,
        extensions=auth(Permission.FINANCE_READ),
        description="Differences found between the platform and the provider, newest first.",
    )
    adjustments: Connection[t.AdjustmentType] = strawberry.field(
        resolver=r.adjustments,
        extensions=auth(Permission.FINANCE_READ),
        description="Maker-checker adjustments, newest first (e.g. those awaiting approval).",
    )


@strawberry.type
class FinanceMutation:
    run_reconciliation: t.RunReconciliationResult = strawberry.mutation(
        resolver=r.run_reconciliation,
        extensions=auth(Permission.FINANCE_READ),
        description="Reconcile one business day against the provider's statement and "
        "balances now; differences become breaks (re-running adds no duplicates).",
    )
    request_adjustment_consent: t.RequestAdjustmentConsentResult = strawberry.mutation(
        resolver=r.request_adjustment_consent,
        extensions=auth(Permission.FINANCE_ADJUST_PROPOSE),
        description="Ask a member, by SMS code and notice, to agree that an adjustment may "
        "take an amount from their account (needed before proposing one).",
    )
    propose_adjustment: t.ProposeAdjustmentResult = strawberry.mutation(
        resolver=r.propose_adjustment,
        extensions=auth(Permission.FINANCE_ADJUST_PROPOSE),
        description="Propose a correction (maker). Nothing moves until another person approves.",
    )
    approve_adjustment: t.ApproveAdjustmentResult = strawberry.mutation(
        resolver=r.approve_adjustment,
        extensions=auth(Permission.FINANCE_ADJUST_APPROVE),
        description="Approve someone else's proposal (checker): posts its journal, moves the "
        "money at the provider when needed, closes the break.",
    )
    reject_adjustment: t.RejectAdjustmentResult = strawberry.mutation(
        resolver=r.reject_adjustment,
        extensions=auth(Permission.FINANCE_ADJUST_APPROVE),
        description="Turn a proposal down. Nothing is posted.",
    )
