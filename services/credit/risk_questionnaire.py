"""The R4 questionnaire, as data: questions, options and points, the score bands of the
tiers, each with a version; `questionnaire()` and the pure `score_answers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.lending import RiskTier
from services.errors import InvalidInputError


@dataclass(frozen=True)
class Option:
    code: str
    text: str
    points: int
    # Whatever the score, this answer puts the member at most in this tier.
    max_tier: RiskTier | None = None


@dataclass(frozen=True)
class Question:
    code: str
    text: str
    options: tuple[Option, ...]

    def option(self, code: str) -> Option | None:
        return next((option for option in self.options if option.code == code), None)


@dataclass(frozen=True)
class TierBand:
    tier: RiskTier
    min_score: int


@dataclass(frozen=True)
class Questionnaire:
    version: str
    questions: tuple[Question, ...]
    # From the lowest tier up: a score takes the last band whose min_score it reaches.
    bands: tuple[TierBand, ...]

    def question(self, code: str) -> Question | None:
        return next((q for q in self.questions if q.code == code), None)

    @property
    def max_score(self) -> int:
        return sum(max(option.points for option in q.options) for q in self.questions)


QUESTIONNAIRE = Questionnaire(
    version="R4-2026-1",
    questions=(
        Question(
            "age",
            "How old are you?",
            (
                Option("A", "18 to 25", 6),
                Option("B", "26 to 40", 10),
                Option("C", "41 to 55", 8),
                Option("D", "56 to 65", 4),
                Option("E", "Over 65", 1),
            ),
        ),
        Question(
            "income",
            "What is your household's yearly income?",
            (
                Option("A", "Under ¥50,000", 1),
                Option("B", "¥50,000 to ¥200,000", 4),
                Option("C", "¥200,000 to ¥500,000", 7),
                Option("D", "¥500,000 to ¥1,000,000", 9),
                Option("E", "Over ¥1,000,000", 10),
            ),
        ),
        Question(
            "investableShare",
            "What share of your investable assets do you mean to lend on this platform?",
            (
                Option("A", "More than 50%", 1),
                Option("B", "30% to 50%", 4),
                Option("C", "10% to 30%", 7),
                Option("D", "Less than 10%", 10),
            ),
        ),
        Question(
            "experience",
            "Which investments have you made?",
            (
                Option("A", "None beyond bank deposits", 1),
                Option("B", "Bank wealth products, government bonds or money funds", 4),
                Option("C", "Funds or stocks, for less than three years", 7),
                Option(
                    "D", "Stocks, funds, futures or online lending, for three years or more", 10
                ),
            ),
        ),
        Question(
            "lossTolerance",
            "How much of the money you lend could you lose and still be at ease?",
            (
                Option(
                    "A", "None: I cannot accept any loss of principal", 0, RiskTier.CONSERVATIVE
                ),
                Option("B", "Up to 10%", 4),
                Option("C", "10% to 30%", 7),
                Option("D", "More than 30%", 10),
            ),
        ),
        Question(
            "horizon",
            "For how long can you leave the money lent without needing it back?",
            (
                Option("A", "Less than 6 months", 2),
                Option("B", "6 to 12 months", 5),
                Option("C", "1 to 3 years", 8),
                Option("D", "More than 3 years", 10),
            ),
        ),
        Question(
            "p2pKnowledge",
            "What do you know about the risks of lending to individuals online?",
            (
                Option(
                    "A",
                    "I did not know that lending can lose principal",
                    0,
                    RiskTier.CONSERVATIVE,
                ),
                Option("B", "I know borrowers may repay late or not at all", 4),
                Option(
                    "C",
                    "I understand credit grades, overdue and collection, and that the "
                    "platform does not guarantee principal or interest",
                    8,
                ),
                Option("D", "I have lent online before and understand all of the above", 10),
            ),
        ),
        Question(
            "purpose",
            "What do you want from lending?",
            (
                Option("A", "Keep my money safe, with a small return", 1),
                Option("B", "A steady income above bank deposits", 4),
                Option("C", "Growth and income in balance", 7),
                Option("D", "The highest return, accepting large losses", 10),
            ),
        ),
    ),
    bands=(
        TierBand(RiskTier.CONSERVATIVE, 0),
        TierBand(RiskTier.STEADY, 25),
        TierBand(RiskTier.BALANCED, 40),
        TierBand(RiskTier.GROWTH, 55),
        TierBand(RiskTier.AGGRESSIVE, 70),
    ),
)


TIER_ORDER = tuple(RiskTier)  # from the most cautious up


TIER_LABELS = {
    RiskTier.CONSERVATIVE: "Conservative",
    RiskTier.STEADY: "Steady",
    RiskTier.BALANCED: "Balanced",
    RiskTier.GROWTH: "Growth",
    RiskTier.AGGRESSIVE: "Aggressive",
}


def _check_questionnaire(q: Questionnaire) -> None:
    """The data is consistent: checked at import, so a bad edit fails at once."""
    codes = [question.code for question in q.questions]
    if len(set(codes)) != len(codes):
        raise ValueError("question codes must be unique")
    for question in q.questions:
        options = [option.code for option in question.options]
        if len(options) < 2 or len(set(options)) != len(options):
            raise ValueError(f"{question.code}: at least two options, with unique codes")
        if any(option.points < 0 for option in question.options):
            raise ValueError(f"{question.code}: points must not be negative")
    if tuple(band.tier for band in q.bands) != TIER_ORDER:
        raise ValueError("bands must be exactly the tiers, from CONSERVATIVE up")
    scores = [band.min_score for band in q.bands]
    if scores[0] != 0 or scores != sorted(set(scores)) or scores[-1] > q.max_score:
        raise ValueError("band scores must start at 0, rise strictly and be reachable")


_check_questionnaire(QUESTIONNAIRE)


def questionnaire() -> Questionnaire:
    """The questionnaire in use."""
    return QUESTIONNAIRE


def score_answers(q: Questionnaire, answers: dict[str, str]) -> tuple[int, RiskTier]:
    """Score and tier of a complete set of answers (already checked)."""
    chosen = [question.option(answers[question.code]) for question in q.questions]
    options = [option for option in chosen if option is not None]
    score = sum(option.points for option in options)
    tier = next(band.tier for band in reversed(q.bands) if score >= band.min_score)
    for option in options:
        if option.max_tier is not None and TIER_ORDER.index(option.max_tier) < TIER_ORDER.index(
            tier
        ):
            tier = option.max_tier
    return score, tier


def _clean_answers(q: Questionnaire, answers: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(answers) - {question.code for question in q.questions})
    if unknown:
        raise InvalidInputError(f"There is no question {unknown[0][:40]!r}", field="answers")
    cleaned: dict[str, str] = {}
    for question in q.questions:
        given = (answers.get(question.code) or "").strip().upper()
        if not given:
            raise InvalidInputError(f"Answer the question {question.code!r}", field=question.code)
        if question.option(given) is None:
            raise InvalidInputError(
                f"{question.code}: choose one of "
                + ", ".join(option.code for option in question.options),
                field=question.code,
            )
        cleaned[question.code] = given
    return cleaned
