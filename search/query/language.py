"""The query language: weighted terms added and subtracted, as a user types them.

    кот                      one term
    кот + снег               both: the unit vectors are added
    кот + снег - собака      and away from dogs («−» works too)
    2:кот + снег             «кот» counts twice
    круг - красный           circles, but not red ones

An operator is a `+`, `-` or `−` standing alone between spaces (or leading the query), so hyphenated
words («что-то», «Санкт-Петербург», «чёрно-белый») stay whole. A weight is a number and a colon
glued to the front of a term. The query vector is the weighted sum of the terms' unit vectors (and
of the example image's, when there is one), normalised again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ..errors import RuClipError
from ..i18n import _


class QueryProblem(StrEnum):
    """Why a query was refused (QueryError.reason): the UI words its own message by it."""

    EMPTY_TERM = "empty term"  # «кот + » or «+ − собака»: an operator with no word after it
    NO_WEIGHT = "no weight"  # every term weighs 0: «0:кот»
    NOTHING_TO_SEARCH = "nothing to search"  # no text and no picture, or they cancel out: «кот − кот»
    BAD_ARGUMENT = "bad argument"  # a caller's mistake: k, image or an embedding of the wrong kind


class QueryError(RuClipError, ValueError):
    """A query the language cannot read (an empty term, a zero total weight), or a search call's
    arguments it cannot use. The message is English (API, CLI); `reason` says which case it is."""

    def __init__(self, message: str, reason: QueryProblem = QueryProblem.BAD_ARGUMENT):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # the reason survives pickling, as for the other errors
        return type(self), (str(self), self.reason)


@dataclass(frozen=True)
class Term:
    text: str
    weight: float


_OPERATOR = re.compile(r"(?:^|\s)([+\-−])(?=\s|$)")
_WEIGHT = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*:\s*(.+)$", re.S)


def parse_query(query: str) -> list[Term]:
    """'2:кот + снег - собака' -> [Term('кот', 2.0), Term('снег', 1.0), Term('собака', -1.0)]."""
    terms: list[Term] = []
    sign, start = 1.0, 0
    pieces: list[tuple[float, str]] = []
    for match in _OPERATOR.finditer(query):
        pieces.append((sign, query[start : match.start()]))
        sign = -1.0 if match.group(1) in "-−" else 1.0
        start = match.end()
    pieces.append((sign, query[start:]))
    for index, (piece_sign, raw) in enumerate(pieces):
        text = raw.strip()
        if not text:
            if index == 0 and piece_sign > 0:
                continue  # a query that starts with an operator: «- собака»
            raise QueryError(
                _("Empty term in the query {query!r}: write terms between the + and - signs.").format(query=query),
                QueryProblem.EMPTY_TERM,
            )
        weight = 1.0
        weighted = _WEIGHT.match(text)
        if weighted:
            weight = float(weighted.group(1).replace(",", "."))
            text = weighted.group(2).strip()
        terms.append(Term(text, piece_sign * weight))
    if not terms or all(term.weight == 0 for term in terms):
        raise QueryError(
            _("The query {query!r} has no term with a non-zero weight.").format(query=query), QueryProblem.NO_WEIGHT
        )
    return terms
