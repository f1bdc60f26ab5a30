"""The command-line tools' messages in the user's language: Russian by default, English where the
locale names English (search.settings.message_language), through GNU gettext catalogues.

The English texts are the message ids, so English needs no catalogue; the Russian one is
search/locale/ru/LC_MESSAGES/ruphoto.po and its compiled .mo, both committed and installed as
package data, so that running needs no tool (`make messages` extracts, updates and compiles them).

The language is looked up at every call, not at import: a test, or a process that changes its
environment, is answered in the language it has now; use_language() can pin one.
A message kept in a module-level constant is marked with N_() and translated where it is used.
Stdlib only: every command imports this, an unchanged re-run included.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

DOMAIN = "ruphoto"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("ru", "en")

_forced: str | None = None


def use_language(language: str | None) -> None:
    """Answer in `language` ("ru" or "en") whatever the environment says; None: follow it again.

    For a program that embeds the library and wants one language. The search page does not call it:
    it shows no text of the library (ui/messages.py words every error by its reason, in Russian),
    and what its process prints goes to the terminal that started it, which follows that terminal's
    locale as every command does. (Called in the page's script it would also stay on in the process
    of an in-process page test, AppTest, and turn what the test runs next Russian.)"""
    global _forced
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    _forced = language


def current_language() -> str:
    """The language messages are given in now: the forced one, else the environment's."""
    # Imported here, not at the top: settings and errors word their own messages through this
    # module, and search.settings imports search.errors (an import there would close a circle).
    from .settings import message_language

    return _forced or message_language()


@cache
def _catalogue(language: str) -> gettext.NullTranslations:
    # English: the ids themselves (no file); a missing Russian file (a broken install) falls back to them too.
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def _(message: str) -> str:
    """`message` (its English text) in the current language."""
    return _catalogue(current_language()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of a message for `count` things (Russian has three: 1 фото, 2 фото, 5 фото; the
    catalogue's Plural-Forms says which is which)."""
    return _catalogue(current_language()).ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks `message` for the catalogue without translating it (a constant, an enum's words):
    pass it to _() where it is shown."""
    return message


def route_argparse() -> None:
    """Give argparse's own texts ("usage:", "the following arguments are required: %s", ...) in the
    current language. argparse looks each one up through the names `_` and `ngettext` it imported
    from gettext, at the moment it prints (gettext's global domain, which follows only the
    environment and has no Russian default): pointing those two names at ours sends its lookups
    to our catalogue, where its texts are translated too (`make messages` extracts them from the
    running Python's argparse). Idempotent; search.cli calls it on import, before any parser exists."""
    import argparse

    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]
