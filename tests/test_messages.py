"""The terminal speaks Russian (issue 26, item 6): every message the command-line tools print goes
through search.i18n, the Russian catalogue translates each of them, and the language follows the
locale (Russian unless it names English).

The rest of the suite runs in English (tests/conftest.py pins LANGUAGE=en); the Russian default is
checked here, by unsetting the locale variables."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from search import i18n

from .helpers import REPO_ROOT

PO = REPO_ROOT / "search" / "locale" / "ru" / "LC_MESSAGES" / "ruphoto.po"
MO = PO.with_suffix(".mo")
# Where translatable messages live (as `make messages` extracts them): the packages a user runs.
SOURCE_PACKAGES = ("search", "indexer", "training", "ui", "ruphoto")


def _extracted() -> dict[str | tuple[str, str], str]:
    """Every message id marked in the source (_, ngettext, N_) and in the running Python's argparse
    (whose texts search.i18n routes to our catalogue): id -> where it is."""
    found: dict[str | tuple[str, str], str] = {}
    for package in SOURCE_PACKAGES:
        folder = REPO_ROOT / package
        for filename, line, message, _comments, _context in extract_from_dir(
            folder, directory_filter=lambda name: "demo_model" not in name and "__pycache__" not in name
        ):
            found.setdefault(message, f"{package}/{filename}:{line}")
    import argparse

    for line, message, _comments, _context in extract_from_file("python", argparse.__file__):
        found.setdefault(message, f"argparse:{line}")
    return found


def _catalogue():
    with PO.open("rb") as file:
        return read_po(file, locale="ru")


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"\{[a-z_0-9]*[^{}]*\}|%\([a-z_]+\)[a-z]|%[a-z]", text))


def test_every_message_has_a_russian_translation():
    catalogue = _catalogue()
    problems = []
    for message, where in _extracted().items():
        key = message[0] if isinstance(message, tuple) else message
        entry = catalogue.get(key)
        if entry is None:
            problems.append(f"{where}: not in the catalogue (make messages): {key!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings):
            problems.append(f"{where}: no Russian text: {key!r}")
        elif entry.fuzzy:
            problems.append(f"{where}: fuzzy (check the translation, then drop the flag): {key!r}")
        ids = message if isinstance(message, tuple) else (message,)
        for string in strings:
            if (
                string
                and _placeholders(string) != _placeholders(ids[-1])
                and _placeholders(string) != _placeholders(ids[0])
            ):
                problems.append(f"{where}: the placeholders differ: {key!r} -> {string!r}")
    assert not problems, "\n".join(problems)


def test_the_catalogue_has_three_russian_plural_forms():
    assert _catalogue().num_plurals == 3
    i18n.use_language("ru")
    try:
        worded = {n: i18n.ngettext("{count} group", "{count} groups", n).format(count=n) for n in (1, 2, 5, 12, 21, 22)}
    finally:
        i18n.use_language(None)
    assert worded == {1: "1 группа", 2: "2 группы", 5: "5 групп", 12: "12 групп", 21: "21 группа", 22: "22 группы"}


def test_the_committed_mo_is_compiled_from_the_committed_po():
    compiled = io.BytesIO()
    write_mo(compiled, _catalogue())
    assert MO.read_bytes() == compiled.getvalue(), "run `make messages` (it compiles the .po into the .mo)"


def test_the_catalogue_is_package_data():
    import tomllib

    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    patterns = data["package-data"]["search"]
    assert "locale/*/LC_MESSAGES/*.mo" in patterns and "locale/*/LC_MESSAGES/*.po" in patterns


# --- every user-facing literal is wrapped ----------------------------------------------------------

# The modules whose output a user reads on the terminal: the CLIs, what they print, and every module
# whose typed errors reach the user (an error's message is printed as `error: <message>`).
CLI_MODULES = (
    "search/cli.py",
    "search/__main__.py",
    "indexer/__main__.py",
    "indexer/search_cli.py",
    "indexer/summary.py",
    "indexer/stats.py",
    "indexer/watch.py",
    "indexer/build.py",
    "indexer/first_build.py",
    "indexer/model_choice.py",
    "training/__main__.py",
    "ui/__main__.py",
    "ui/settings.py",
    "ruphoto/__main__.py",
)
TEXT_KEYWORDS = ("help", "description", "epilog", "desc")  # argparse's texts, tqdm's description
SHOWN_BY_CALLS = ("print", "error", "warning", "info", "exit", "write", "ArgumentTypeError")
LETTER = re.compile(r"[A-Za-z]{2}")


def _literal_text(node: ast.AST) -> str | None:
    """The words of a literal string or f-string (None for anything else)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value for part in node.values if isinstance(part, ast.Constant))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return (_literal_text(node.left) or "") + (_literal_text(node.right) or "") or None
    return None


def _error_classes() -> set[str]:
    """The names of RuClipError and every class of ours that derives from it (by the source)."""
    bases: dict[str, set[str]] = {}
    for package in SOURCE_PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    names = {
                        base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases
                    }
                    bases.setdefault(node.name, set()).update(names)
    errors = {"RuClipError"}
    while True:
        more = {name for name, parents in bases.items() if parents & errors} - errors
        if not more:
            return errors
        errors |= more


def unwrapped_literals(source: str, error_classes: set[str]) -> list[tuple[int, str]]:
    """(line, text) of each user-facing literal in `source` that does not go through _()/ngettext():
    a string or f-string with words passed to print(), parser.error(), a logger, sys.exit(), a
    stream's write(), argparse.ArgumentTypeError, as help=/description=/epilog=/desc=, or as the
    message of one of our errors."""
    found = []

    def check(node: ast.AST) -> None:
        text = _literal_text(node)
        if text is not None and LETTER.search(text):
            found.append((node.lineno, text))

    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
        if name in SHOWN_BY_CALLS or name in error_classes:
            for argument in node.args[:1]:
                check(argument)
        for keyword in node.keywords:
            if keyword.arg in TEXT_KEYWORDS or (name in error_classes and keyword.arg == "message"):
                check(keyword.value)
    return found


def test_every_user_facing_literal_goes_through_the_catalogue():
    errors = _error_classes()
    found = []
    for relative in CLI_MODULES:
        source = (REPO_ROOT / relative).read_text(encoding="utf-8")
        found += [f"{relative}:{line}: {text!r}" for line, text in unwrapped_literals(source, errors)]
    for package in SOURCE_PACKAGES:  # our errors' messages, wherever they are raised
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = str(path.relative_to(REPO_ROOT))
            # The page words its own errors by their reason in ui/messages.py (Russian, no catalogue).
            if relative in CLI_MODULES or "demo_model" in path.parts or relative.startswith("ui/"):
                continue
            tree_found = unwrapped_literals(path.read_text(encoding="utf-8"), errors)
            found += [f"{relative}:{line}: {text!r}" for line, text in tree_found if _raised_error(path, line, errors)]
    assert not found, "wrap these in _() (search/i18n.py), then `make messages`:\n" + "\n".join(found)


def _raised_error(path: Path, line: int, errors: set[str]) -> bool:
    """Whether the literal at `line` of `path` is one of our errors' messages (outside the CLI
    modules only those are user-facing: a library's print or log line is a developer's)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.lineno <= line <= (node.end_lineno or node.lineno):
            function = node.func
            name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
            if name in errors or name == "ArgumentTypeError":
                return True
    return False


def test_the_wrapping_check_finds_an_unwrapped_message():
    # The check above must be able to fail: a planted module with each kind of unwrapped text, and
    # the same texts wrapped, which it must leave alone.
    planted = (
        "import argparse, logging, sys\n"
        "from search.i18n import _\n"
        "from search.errors import IndexStoreError\n"
        "parser = argparse.ArgumentParser(description='Index photos')\n"
        "parser.add_argument('--x', help=f'how many {1}')\n"
        "print('indexed 3 photos')\n"
        "parser.error(f'bad folder {sys.argv}')\n"
        "logging.getLogger().warning('model not found')\n"
        "raise IndexStoreError('the index is busy', reason=None)\n"
        "print(_('indexed {n} photos').format(n=3), _('fine'))\n"
        "parser.add_argument('--y', help=_('wrapped'))\n"
        "print(f'{3}: {4}')\n"  # no words: nothing to translate
    )
    found = unwrapped_literals(planted, _error_classes())
    assert [line for line, _text in found] == [4, 5, 6, 7, 8, 9]
