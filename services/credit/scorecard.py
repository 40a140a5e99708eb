"""The scorecard (M2.4, R1): a pure function of what is known about the member under the
policy in force (`services.credit.policy`, platform parameters), and the caps of R1.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from models.credit import (
    SubjectType,
)
from services.credit import external
from services.credit.catalogue import KINDS
from services.credit.policy import (
    AUTO_ADJUSTMENT,
    BORROWING_CAPS,
    GRADE_TABLE,
    SCORECARD,
    AutoAdjustment,
    BorrowingCaps,
    GradeTable,
    Scorecard,
)
from services.money.money import format_money
from services.platform import parameters

REQUIRED_FOR_BORROWING = tuple(kind.code for kind in KINDS if kind.required_for_borrowing)


@dataclass(frozen=True)
class ScoreInputs:
    approved_kinds: frozenset[str]
    on_time_count: int
    overdue_count: int
    signals: external.Signals


@dataclass(frozen=True)
class Part:
    label: str
    points: int


@dataclass(frozen=True)
class Evaluation:
    score: int
    grade: str
    grade_limit_fen: int  # the band's limit, 0 when required items are missing
    limit_fen: int  # moved by repayment history, capped by R1
    parts: tuple[Part, ...]
    missing_for_borrowing: tuple[str, ...]
    reasons: tuple[str, ...]

    def as_json(self, policy: str) -> dict[str, Any]:
        return {
            "parts": [{"label": p.label, "points": p.points} for p in self.parts],
            "missing": list(self.missing_for_borrowing),
            "reasons": list(self.reasons),
            "policy": policy,
        }


@dataclass(frozen=True)
class Policy:
    scorecard: Scorecard
    grades: GradeTable
    caps: BorrowingCaps
    adjustment: AutoAdjustment


def policy_fingerprint(policy: Policy) -> str:
    """Changes whenever any credit parameter changes: stored with each evaluation."""
    canonical = json.dumps(
        [
            part.model_dump(mode="json")
            for part in (policy.scorecard, policy.grades, policy.caps, policy.adjustment)
        ],
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


async def current_policy() -> Policy:
    return Policy(
        scorecard=await parameters.get(SCORECARD),
        grades=await parameters.get(GRADE_TABLE),
        caps=await parameters.get(BORROWING_CAPS),
        adjustment=await parameters.get(AUTO_ADJUSTMENT),
    )


def platform_cap(policy: Policy, subject: SubjectType) -> int:
    return policy.caps.company_fen if subject == SubjectType.COMPANY else policy.caps.person_fen


def all_platforms_cap(policy: Policy, subject: SubjectType) -> int:
    caps = policy.caps
    return (
        caps.company_all_platforms_fen
        if subject == SubjectType.COMPANY
        else caps.person_all_platforms_fen
    )


def _share(amount_fen: int, share: Decimal) -> int:
    return int((Decimal(amount_fen) * share).to_integral_value(rounding=ROUND_HALF_UP))


def evaluate(inputs: ScoreInputs, policy: Policy, subject: SubjectType) -> Evaluation:
    """The scorecard: score, grade, and the permanent limit with its reasons."""
    card = policy.scorecard
    parts: list[Part] = []
    for kind in KINDS:
        if kind.code in inputs.approved_kinds:
            points = card.item_points.get(kind.code, 0)
            if points:
                parts.append(Part(f"Verified: {kind.title}", points))
    history = min(inputs.on_time_count * card.on_time_points, card.on_time_max)
    if history:
        parts.append(Part(f"{inputs.on_time_count} installments repaid on time", history))
    signals = inputs.signals
    adverse = (
        (inputs.overdue_count, card.overdue_points, "installments overdue here"),
        (signals.court_cases, card.court_case_points, "court cases on record"),
        (
            signals.bureau_overdue_items,
            card.bureau_overdue_points,
            "overdue items on the credit report (24 months)",
        ),
        (signals.negative_hits, card.negative_news_points, "negative news reports"),
        (
            signals.other_platform_overdue,
            card.other_platform_overdue_points,
            "platforms reporting an overdue loan",
        ),
    )
    for count, per_item, label in adverse:
        if count and per_item:
            parts.append(Part(f"{count} {label}", count * per_item))
    score = sum(part.points for part in parts)
    band = next(b for b in policy.grades.bands if score >= b.min_score or b.grade == "HR")

    reasons: list[str] = []
    missing = tuple(code for code in REQUIRED_FOR_BORROWING if code not in inputs.approved_kinds)
    grade_limit = band.limit_fen
    if missing:
        grade_limit = 0
        reasons.append("No limit until every item required for borrowing is verified")
    elif grade_limit == 0:
        reasons.append(f"Grade {band.grade} carries no credit limit")
    else:
        reasons.append(f"Grade {band.grade} gives {format_money(grade_limit)}")

    adj = policy.adjustment
    raised = min(inputs.on_time_count * adj.raise_per_on_time, adj.max_raise)
    lowered = inputs.overdue_count * adj.lower_per_overdue
    limit = max(0, grade_limit + _share(grade_limit, raised) - _share(grade_limit, lowered))
    if grade_limit and limit != grade_limit:
        reasons.append(
            f"Repayment history moves it to {format_money(limit)}"
            f" (+{raised:%} on time, -{lowered:%} overdue)"
        )
    cap = platform_cap(policy, subject)
    if limit > cap:
        limit = cap
        reasons.append(f"Capped at {format_money(cap)} on this platform (R1)")
    return Evaluation(
        score=score,
        grade=band.grade,
        grade_limit_fen=grade_limit,
        limit_fen=limit,
        parts=tuple(parts),
        missing_for_borrowing=missing,
        reasons=tuple(reasons),
    )
