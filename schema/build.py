"""Schema assembly: root types from every domain, directives, extensions, config."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema.cases import CasesMutation, CasesQuery
from schema.collateral import CollateralMutation, CollateralQuery
from schema.collateral_disposal import CollateralDisposalMutation
from schema.contracts import ContractsMutation, ContractsQuery
from schema.credit.credit import CreditMutation, CreditQuery
from schema.credit.lending import LendingMutation, LendingQuery
from schema.credit.sharing import SharingQuery
from schema.customers import CustomersMutation, CustomersQuery
from schema.extensions import schema_extensions
from schema.guarantees import GuaranteesMutation, GuaranteesQuery
from schema.help import HelpMutation, HelpQuery
from schema.identity.access import AccessMutation, AccessQuery
from schema.identity.members import MembersMutation, MembersQuery
from schema.identity.privacy import PrivacyMutation
from schema.loans import LoansMutation, LoansQuery, LoansSubscription
from schema.money.accounts import AccountsMutation, AccountsQuery
from schema.money.finance import FinanceMutation, FinanceQuery
from schema.platform.dashboard import DashboardSubscription
from schema.platform.disclosures import DisclosuresQuery
from schema.platform.downloads import DownloadsMutation
from schema.platform.figures import FiguresQuery
from schema.platform.parameters import ParametersMutation, ParametersQuery
from schema.platform.partners import PartnersQuery
from schema.platform.system import DevMutation, DevQuery, Subscription, SystemQuery
from schema.repayments.collection import CollectionMutation, CollectionQuery, CollectionSubscription
from schema.repayments.repayments import RepaymentsMutation, RepaymentsQuery, RepaymentsSubscription
from schema.returns import ReturnsQuery
from schema.scalars import SCALAR_MAP
from schema.transfers import TransfersMutation, TransfersQuery, TransfersSubscription
from services.kit.settings import Settings


class LendBridgeSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # Unexpected errors are logged with their trace id by MaskUnexpectedErrors; the
        # rest (validation, permission, bad input) are the client's and not worth a log.
        return None


# Schemas built, by what of the settings they read (see `_shape`): strawberry takes a
# few hundred milliseconds to build this one, and the test suite makes an app (so asked
# for a schema) per test. A schema holds no per-app state: its extensions are factories,
# made fresh for each request.
_built: dict[tuple[object, ...], strawberry.Schema] = {}


def _shape(settings: Settings) -> tuple[object, ...]:
    """Every setting `_build` and `schema_extensions` read."""
    return (
        settings.dev_tools_enabled,
        settings.is_prod,
        settings.graphql_max_depth,
        settings.graphql_max_aliases,
        settings.graphql_max_tokens,
    )


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema for these settings, built once per process for each shape."""
    key = _shape(settings)
    schema = _built.get(key)
    if schema is None:
        schema = _built[key] = _build(settings)
    return schema


def _build(settings: Settings) -> strawberry.Schema:
    queries: list[type] = [
        MembersQuery,
        AccessQuery,
        AccountsQuery,
        FinanceQuery,
        CreditQuery,
        LendingQuery,
        SharingQuery,
        LoansQuery,
        RepaymentsQuery,
        CollectionQuery,
        TransfersQuery,
        CollateralQuery,
        GuaranteesQuery,
        CustomersQuery,
        CasesQuery,
        HelpQuery,
        ReturnsQuery,
        ContractsQuery,
        ParametersQuery,
        PartnersQuery,
        FiguresQuery,
        DisclosuresQuery,
        SystemQuery,
    ]
    mutations: list[type] = [
        MembersMutation,
        AccessMutation,
        AccountsMutation,
        FinanceMutation,
        CreditMutation,
        LendingMutation,
        LoansMutation,
        RepaymentsMutation,
        CollectionMutation,
        TransfersMutation,
        CollateralMutation,
        CollateralDisposalMutation,
        GuaranteesMutation,
        CustomersMutation,
        CasesMutation,
        HelpMutation,
        ContractsMutation,
        PrivacyMutation,
        DownloadsMutation,
        ParametersMutation,
    ]
    if settings.dev_tools_enabled:
        queries.append(DevQuery)
        mutations.append(DevMutation)
    return LendBridgeSchema(
        query=merge_types("Query", tuple(queries)),
        mutation=merge_types("Mutation", tuple(mutations)),
        subscription=merge_types(
            "Subscription",
            (
                Subscription,
                LoansSubscription,
                RepaymentsSubscription,
                CollectionSubscription,
                DashboardSubscription,
                TransfersSubscription,
            ),
        ),
        extensions=schema_extensions(settings),
        config=StrawberryConfig(disable_field_suggestions=settings.is_prod, scalar_map=SCALAR_MAP),
    )


def export_sdl() -> str:
    """The SDL clients read: the full (dev/test) schema, dev-only fields included."""
    from services.kit.settings import Environment

    return build_schema(Settings(app_env=Environment.DEV)).as_str() + "\n"
