"""The help centre's tokeniser: text -> grams, the same for the index and for a query.

Chinese has no spaces, so words cannot be split on them, and a word is mostly two
characters: the index keeps every CJK character (unigram) and every pair of adjacent
CJK characters (bigram); Latin words and numbers are kept whole, lowercased. A query is
cut the same way, so "逾期" finds the bigram 逾期 of "逾期还款", and a query with one
character wrong ("余期") still shares the unigram 期 with it (the typo tolerance; the
exact bigram ranks far above). Text is NFKC-normalised first (full-width letters and
digits become ASCII). Pure Python, no database feature: the same grams on SQLite and PostgreSQL
(docs/help-centre.md says why neither FTS5 trigram nor pg_trgm).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

from models.help import GramKind

MAX_GRAM = 32  # a longer Latin word is cut to this (the column's size)
TITLE_WEIGHT = 3
MAX_WEIGHT = 20


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0xAC00 <= code <= 0xD7AF  # hangul syllables
        or 0x20000 <= code <= 0x2FA1F  # extensions B onwards
    )


@dataclass(frozen=True)
class Gram:
    text: str
    kind: GramKind


def grams(text: str) -> list[Gram]:
    """Every gram of `text`, in order, repeats kept (the weights count them)."""
    found: list[Gram] = []
    run: list[str] = []  # the CJK run being read
    word: list[str] = []  # the Latin word or number being read

    def end_run() -> None:
        for index, char in enumerate(run):
            found.append(Gram(char, GramKind.CJK_UNIGRAM))
            if index + 1 < len(run):
                found.append(Gram(char + run[index + 1], GramKind.CJK_BIGRAM))
        run.clear()

    def end_word() -> None:
        if word:
            found.append(Gram("".join(word)[:MAX_GRAM], GramKind.WORD))
        word.clear()

    for char in unicodedata.normalize("NFKC", text).lower():
        if _is_cjk(char):
            end_word()
            run.append(char)
        elif char.isalnum():
            end_run()
            word.append(char)
        else:
            end_run()
            end_word()
    end_run()
    end_word()
    return found


def index_weights(title: str, body: str) -> dict[Gram, int]:
    """The grams of an article with their weights: 3 for each occurrence in the title, 1
    for each in the body, at most 20 (a word repeated fifty times is not fifty times as
    relevant)."""
    counts: Counter[Gram] = Counter()
    for gram in grams(title):
        counts[gram] += TITLE_WEIGHT
    for gram in grams(body):
        counts[gram] += 1
    return {gram: min(weight, MAX_WEIGHT) for gram, weight in counts.items()}


@dataclass(frozen=True)
class Query:
    """A search cut into grams: `grams` the distinct ones looked up, `units` how many
    distinct CJK characters and words it has (what `min_units` counts against)."""

    grams: tuple[Gram, ...]
    units: int

    @property
    def min_units(self) -> int:
        """An article matches when it has at least half the query's characters and words
        (rounded up, at least one): one wrong character of two still finds it, a long
        question is not answered by every article that shares one character with it."""
        return max(1, (self.units + 1) // 2)


def query_of(text: str) -> Query:
    distinct = tuple(dict.fromkeys(grams(text)))
    units = sum(1 for gram in distinct if gram.kind is not GramKind.CJK_BIGRAM)
    return Query(distinct, units)
