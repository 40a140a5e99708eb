"""Tortoise models, one module per domain. Fields and constraints only, no business flows."""

MODEL_MODULES = [
    "models.members",
    "models.access",
    "models.messaging",
    "models.system",
    "models.ledger",
    "models.payments",
    "models.finance",
    "models.credit",
    "models.external",
    "models.lending",
    "models.loans",
    "models.bids",
    "models.contracts",
    "models.repayments",
    "models.partners",
    "models.disclosures",
    "models.transfers",
    "models.collateral",
    "models.guarantees",
    "models.help",
]
