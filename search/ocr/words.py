"""Words for the text search: one normalisation for what a photo's text stores and what a query asks.

A photo's recognised text is stored as the stems of its words (document_of), in an FTS5 column whose
tokenizer (`unicode61 remove_diacritics 0`) only splits on spaces what is already split; a query's
words become prefix terms of their stems (fts_expression), so that «чеки», «чеков», «чеке» find «ЧЕК»
and a word typed half-way finds the whole one. The stemmer is Snowball (PyStemmer): Russian for
Cyrillic words, English for Latin ones, everything else (digits, mixed scripts) kept as written.

Snowball cuts endings, not the fleeting vowel of a stem («электричка» → «электричк», but «электричек»
stays «электричек»), and cuts some words one letter deeper in one form than in others («сметана» →
«смета», «сметаной» → «сметан»): a query stem also asks for its forms with the fleeting vowel put in
or taken out and for itself one letter shorter as a whole stem (_alternatives). Only the query side
varies: the stored stems do not depend on it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

# Raise when what document_of stores for a text changes (the stemmer's language rules, the split,
# the folding): every photo's stored text is then normalised again.
WORDS_FORMAT = 1

# Runs of letters and digits (Unicode's, without the underscore): a hyphen, an apostrophe or any
# punctuation splits («Wi-Fi» → «wi», «fi»), as FTS5's unicode61 tokenizer splits.
_WORD = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[а-яё]+")
_LATIN = re.compile(r"[a-z]+")

# Query words that carry no meaning to match: prepositions, conjunctions and particles, Russian and
# English. Pronouns and nouns stay: «мой пароль» may be written on the photo.
STOP_WORDS = frozenset(
    """
    в во на с со от и из для по к ко о об обо у за под подо над надо при про без до через между перед
    а но или либо да не ни же ли бы то как что чтобы это так вот ну уж уже еще лишь только даже
    the of a an and or in on at to for from by with without is are be as into onto not no
    """.split()
)
# A fleeting vowel stands between two consonants at the stem's end: «электричк» ↔ «электричек»,
# «остановк» ↔ «остановок», «песн» ↔ «песен», «отц» ↔ «отец».
_CONSONANTS = "бвгджзклмнпрстфхцчшщ"
_MIN_VARIANT_STEM = 4  # shorter stems have no fleeting vowel worth guessing («чек» must not be «чк»)


def words_of(text: str) -> list[str]:
    """The words of `text`: lowercased, «ё» as «е», runs of letters and digits; nothing dropped."""
    folded = unicodedata.normalize("NFC", text).lower().replace("ё", "е")
    return _WORD.findall(folded)


@functools.lru_cache(maxsize=1)
def _stemmers() -> tuple[Any, Any]:
    import Stemmer  # PyStemmer: a C extension, imported the first time a word is stemmed

    return Stemmer.Stemmer("russian"), Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of one word of words_of(): Russian for a Cyrillic word, English for a Latin
    one, any other word (digits, mixed scripts, other alphabets) as it is."""
    russian, english = _stemmers()
    if _CYRILLIC.fullmatch(word):
        return russian.stemWord(word)
    if _LATIN.fullmatch(word):
        return english.stemWord(word)
    return word


def document_of(text: str) -> str:
    """What a photo's text is stored as in the FTS5 column: the stems of its words, space-joined."""
    return " ".join(stem(word) for word in words_of(text))


def query_words(query: str) -> list[str]:
    """The words of a search query worth matching against photos' text: words_of(query) without the
    stop words and one-letter words (a digit stays: «7»)."""
    return [word for word in words_of(query) if word not in STOP_WORDS and (len(word) > 1 or word.isdigit())]


def _query_stems(words: Sequence[str]) -> list[str]:
    """The distinct stems of `words`, each re-split by words_of (a caller may pass anything)."""
    stems: dict[str, None] = {}
    for given in words:
        for word in words_of(given):
            if stemmed := stem(word):
                stems.setdefault(stemmed)
    return list(stems)


def _fleeting_variants(stemmed: str) -> tuple[str, ...]:
    """The stem with its fleeting vowel put in or taken out: «электричк» → («электричек», «электричок»),
    «кукл» → («кукел», «кукол»), «электричек» → («электричк»,), «жилец» → («жилц», «жильц»); () for a
    stem without one. Taken out only before к, ц, н: «парол» must not become «парл» (парламент)."""
    if len(stemmed) < _MIN_VARIANT_STEM or not _CYRILLIC.fullmatch(stemmed):
        return ()
    *_, third, second, last = stemmed
    if second in "ео" and last in "кцн" and third in _CONSONANTS:
        return (stemmed[:-2] + last, stemmed[:-2] + "ь" + last)
    if second == "ь" and last in "кцн":
        return (stemmed[:-2] + "е" + last,)
    if second in _CONSONANTS and last in "кцнлр" and second != last:
        return (stemmed[:-1] + "е" + last, stemmed[:-1] + "о" + last)
    return ()


def _alternatives(stemmed: str) -> tuple[tuple[str, bool], ...]:
    """What a query stem matches in stored stems, as (stem, as a prefix): itself (a prefix from 3
    characters), its fleeting-vowel forms (prefixes), and the stem one letter shorter as a whole stem
    (when that has 4+ letters): Snowball cuts some nominatives one letter deeper than their other
    forms («сметана» → «смета», «сметаной» → «сметан»; «бананы» → «бана», «бананов» → «банан»)."""
    found = [(stemmed, len(stemmed) >= 3), *((variant, True) for variant in _fleeting_variants(stemmed))]
    if len(stemmed) > _MIN_VARIANT_STEM and _CYRILLIC.fullmatch(stemmed):
        found.append((stemmed[:-1], False))
    return tuple(dict.fromkeys(found))


def _term(stemmed: str, prefix: bool) -> str:
    # A double-quoted FTS5 string with its quotes doubled is one string whatever it holds (NEAR, AND,
    # *, -, parentheses are letters there); the stems hold letters and digits only anyway.
    quoted = '"' + stemmed.replace('"', '""') + '"'
    return quoted + "*" if prefix else quoted


def fts_expression(words: Sequence[str], require_all: bool) -> str | None:
    """An FTS5 MATCH expression for query words (query_words' output): each word's stem as a prefix
    term (an exact one under 3 characters), with its alternatives (_alternatives: fleeting vowels, a
    stem cut one letter deeper), joined by OR (any word; bm25 ranks those with more first) or AND
    (every word); None when no word is left."""
    groups = []
    for stemmed in _query_stems(words):
        terms = [_term(alternative, prefix) for alternative, prefix in _alternatives(stemmed)]
        groups.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
    if not groups:
        return None
    return (" AND " if require_all else " OR ").join(groups)


def _matches(document_stem: str, alternative: str, prefix: bool) -> bool:
    """The rule fts_expression gives FTS5: a stem that starts with a prefix term, or equals an exact one."""
    return document_stem.startswith(alternative) if prefix else document_stem == alternative


def matched_words(text: str, words: Sequence[str]) -> tuple[str, ...]:
    """The words of `text` as written there (their case kept) that one of the query `words` matches
    by fts_expression's rule, in the order they first appear, each once: what the page highlights."""
    wanted = [alternative for stemmed in _query_stems(words) for alternative in _alternatives(stemmed)]
    if not wanted:
        return ()
    found: dict[str, None] = {}
    for written in _WORD.findall(unicodedata.normalize("NFC", text)):
        if written in found:
            continue
        if any(_matches(stem(word), *alternative) for word in words_of(written) for alternative in wanted):
            found.setdefault(written)
    return tuple(found)
