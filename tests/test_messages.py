"""The terminal speaks Russian (issue 26, item 6): every message the command-line tools print goes
through search.i18n, the Russian catalogue translates each of them, and the language follows the
locale (Russian unless it names English).

The rest of the suite runs in English (tests/conftest.py pins LANGUAGE=en); the Russian default is
checked here, by unsetting the locale variables."""

from __future__ import annotations

import ast
import gettext
import io
import re
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from search import i18n
from search.settings import LANGUAGE_VARS, message_language

from .helpers import REPO_ROOT, in_this_process, indexer

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
    # Babel's extractor misses some calls (one inside another's arguments, or inside an f-string
    # before Python 3.12): every literal passed to _(), N_() or ngettext() is looked for too.
    for package in SOURCE_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if "demo_model" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("_", "N_", "ngettext"):
                    texts = [arg.value for arg in node.args[:2] if isinstance(arg, ast.Constant)]
                    if texts and all(isinstance(text, str) for text in texts):
                        message = tuple(texts) if node.func.id == "ngettext" else texts[0]
                        found.setdefault(message, f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
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


def _messages_of_mo(data: bytes) -> dict[object, str]:
    """What gettext reads from a compiled catalogue: every message and its header, less the header's
    Generated-By line (the Babel that compiled it: a newer Babel compiles the same .po to other bytes)."""
    messages = dict(gettext.GNUTranslations(io.BytesIO(data))._catalog)  # type: ignore[attr-defined]
    messages[""] = "".join(line for line in messages[""].splitlines(True) if not line.startswith("Generated-By:"))
    return messages


def test_the_committed_mo_is_compiled_from_the_committed_po():
    compiled = io.BytesIO()
    write_mo(compiled, _catalogue())
    assert _messages_of_mo(MO.read_bytes()) == _messages_of_mo(compiled.getvalue()), (
        "run `make messages` (it compiles the .po into the .mo)"
    )


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
    "search/evaluate/cli.py",
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
    message of one of our errors; and any _() inside an f-string, which Babel cannot extract."""
    found = []

    def check(node: ast.AST) -> None:
        text = _literal_text(node)
        if text is not None and LETTER.search(text):
            found.append((node.lineno, text))

    for node in ast.walk(ast.parse(source)):
        # Babel reads no call inside an f-string on Python < 3.12: such a text never reaches the catalogue.
        if isinstance(node, ast.JoinedStr):
            for part in ast.walk(node):
                if (
                    isinstance(part, ast.Call)
                    and getattr(part.func, "id", "") in ("_", "ngettext")
                    and part.args
                    and _literal_text(part.args[0]) is not None
                ):
                    found.append((node.lineno, "_() inside an f-string"))
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
        "print(f'{_(\"model\"):10}')\n"  # not extracted by Babel before Python 3.12
    )
    found = unwrapped_literals(planted, _error_classes())
    assert sorted(line for line, _text in found) == [4, 5, 6, 7, 8, 9, 13]


# --- the language the tools speak ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "language"),
    [
        ({}, "ru"),  # a bare container, cron: Russian, the program's own language
        ({"LANG": "C.UTF-8"}, "ru"),
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "de_DE.UTF-8"}, "ru"),  # no German catalogue: the default, not English
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_MESSAGES": "en_GB.UTF-8", "LANG": "ru_RU.UTF-8"}, "en"),
        ({"LC_ALL": "ru_RU.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "ru"),
        ({"LANGUAGE": "en:ru", "LC_ALL": "ru_RU.UTF-8"}, "en"),
        ({"LANGUAGE": "", "LANG": "en_US.UTF-8"}, "en"),  # an empty variable counts as unset
    ],
)
def test_the_language_is_the_first_locale_variable_set_in_gnu_order(environment, language):
    assert message_language(environment) == language


@pytest.fixture
def russian(monkeypatch):
    """No locale at all (the suite's LANGUAGE=en taken away): the tools' default."""
    for name in LANGUAGE_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def english(monkeypatch):
    for name in LANGUAGE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "en_US.UTF-8")


ENGLISH_WORDS = re.compile(r"\b(the|and|of|with|default|when|is|are|usage|options)\b")


def test_help_is_russian_by_default(russian):
    for command in ("build", "watch", "stats", "verify", "backup", "search", "duplicates"):
        shown = indexer(command, "--help")
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith(f"использование: python -m indexer {command} "), shown.stdout[:80]
        assert "показать эту справку и выйти" in shown.stdout
        assert "параметры:" in shown.stdout
        # Flags, paths and examples' commands stay as they are; no English sentence is left.
        assert not ENGLISH_WORDS.search(shown.stdout), (command, ENGLISH_WORDS.search(shown.stdout))
    build = indexer("build", "--help").stdout
    assert "папка с фото (с вложенными папками)" in build and "позиционные аргументы:" in build
    assert "по умолчанию 10" in build  # --nice's %(default)s filled in the Russian text


def test_help_is_english_for_an_english_locale(english):
    shown = indexer("build", "--help")
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: python -m indexer build ")
    assert "show this help message and exit" in shown.stdout
    assert "the folder of photos (searched recursively)" in shown.stdout
    assert "(default 10;" in shown.stdout


def test_the_console_script_and_the_page_command_say_their_help_in_russian(russian):
    from ruphoto.__main__ import main as ruphoto_main
    from ui.__main__ import main as ui_main

    listed = in_this_process(ruphoto_main, ["--help"])
    assert listed.returncode == 0 and listed.stdout.startswith("использование: ")
    assert "открыть страницу поиска в браузере" in listed.stdout
    page = in_this_process(ui_main, ["--help"])
    assert page.returncode == 0 and page.stdout.startswith("использование: python -m ui ")
    assert "порт страницы (по умолчанию 8501)" in page.stdout


def test_a_usage_error_is_russian_by_default_and_english_for_lang_en(monkeypatch):
    for name in LANGUAGE_VARS:
        monkeypatch.delenv(name, raising=False)
    missing = indexer("build")
    assert missing.returncode == 2
    assert missing.stderr == "ошибка: нужны аргументы: PHOTOS (см. python -m indexer build --help)\n"
    wrong = indexer("search", "кот", "--device", "tpu")
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("ошибка: аргумент --device: недопустимый вариант: 'tpu' (выберите из ")
    bad_number = indexer("search", "кот", "-k", "ноль")
    assert "ошибка: аргумент -k: ожидалось целое положительное число, получено 'ноль'" in bad_number.stderr

    monkeypatch.setenv("LANG", "en_US.UTF-8")
    missing = indexer("build")
    assert missing.stderr == (
        "error: the following arguments are required: PHOTOS (see python -m indexer build --help)\n"
    )
    wrong = indexer("search", "кот", "--device", "tpu")
    assert wrong.stderr.startswith("error: argument --device: invalid choice: 'tpu' (choose from ")


def test_an_error_is_russian_with_its_path_filled_in(tmp_path, monkeypatch):
    gone = tmp_path / "нет такой папки"
    argv = ("build", gone, "--index", tmp_path / "index", "--model", "demo", "--device", "cpu", "--quiet")
    for name in LANGUAGE_VARS:
        monkeypatch.delenv(name, raising=False)
    said = indexer(*argv)
    assert said.returncode == 2
    assert said.stderr.startswith(f"ошибка: Папки с фото {gone} нет, или это не папка (диск не подключён?).")
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    said = indexer(*argv)
    assert said.stderr.startswith(f"error: Photo folder {gone} does not exist or is not a folder")


def test_a_process_of_its_own_without_a_locale_speaks_russian(tmp_path):
    import os
    import subprocess

    environment = {key: value for key, value in os.environ.items() if key not in LANGUAGE_VARS}
    run = subprocess.run(
        [sys.executable, "-m", "indexer", "stats", "--index", str(tmp_path / "пусто")],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.startswith(f"ошибка: В {tmp_path / 'пусто'} нет индекса (нет index.sqlite)."), run.stderr


@pytest.mark.slow
def test_a_build_its_summary_and_the_searchs_notes_in_both_languages(tmp_path, monkeypatch):
    from .helpers import fresh_picture_jpeg

    photos = tmp_path / "photos"
    photos.mkdir()
    for colour, shape in (("красный", "звезда"), ("синий", "круг"), ("жёлтый", "квадрат")):
        (photos / f"{colour}-{shape}.jpg").write_bytes(fresh_picture_jpeg(colour, shape))
    index = ("--index", tmp_path / "index")
    for name in LANGUAGE_VARS:
        monkeypatch.delenv(name, raising=False)

    built = indexer("build", photos, *index, "--model", "demo", "--device", "cpu", "--quiet")
    assert built.returncode == 0, built.stderr
    assert f"просмотрено файлов в {photos}: 3\n" in built.stdout
    assert "без изменений 0, новых 3, изменено 0, переименовано 0, удалено 0" in built.stdout
    assert "не прочитано 0" in built.stdout and "в поиске фото: 3; заняло" in built.stdout
    long_ago = ("--date-from", "1990-01-01", "--date-to", "1990-12-31")
    nothing = indexer("search", "круг", *long_ago, *index, "--device", "cpu")
    assert nothing.stdout.startswith("ни одно фото не подходит под фильтры (--date-from 1990-01-01")
    unsure = indexer("search", "круг", "--min-score", "0.999", *index, "--device", "cpu")
    assert unsure.stdout.startswith("нет уверенных совпадений (лучшая оценка 0.")
    assert "в поиске 3" in indexer("stats", *index).stdout

    monkeypatch.setenv("LANG", "en_US.UTF-8")
    again = indexer("build", photos, *index, "--device", "cpu", "--quiet")
    assert f"scanned 3 files in {photos}\n" in again.stdout and "unchanged 3, new 0" in again.stdout
    nothing = indexer("search", "круг", *long_ago, *index, "--device", "cpu")
    assert nothing.stdout.startswith("no photo matches the filters (--date-from 1990-01-01")


def test_the_watchers_round_line_and_a_no_op_run_in_russian(russian, tmp_path):
    from indexer.summary import BuildSummary
    from indexer.watch import round_line

    summary = BuildSummary(root=tmp_path, new=3, renamed=1, deleted=2, total_indexed=1234, seconds=0.8)
    assert round_line(summary) == "новых: +3, переименовано: 1, удалено: 2; в поиске 1234 (0.8 с)"
    from search.commands import running_as

    nothing = BuildSummary(root=tmp_path, scanned=5, unchanged=5, total_indexed=5, still_failing=2)
    with running_as("python -m indexer"):  # the hint names the command as the user ran it
        lines = nothing.lines()
    assert lines == [
        f"просмотрено файлов в {tmp_path}: 5",
        "  без изменений 5, новых 0, изменено 0, переименовано 0, удалено 0",
        "  с прошлой сборки ничего не изменилось",
        "  2 файла по-прежнему не читаются и не менялись с прошлых сборок (их покажет python -m indexer stats)",
        "  в поиске фото: 5; заняло 0.0 с",
    ]


def _shadows_of_the_translator(source: str) -> list[int]:
    """Lines where a function of a module that imports `_` from search.i18n binds `_` itself (a
    throwaway `for _, x in ...`, `a, _ = ...`, an argument): Python then takes `_` as that
    function's local everywhere in it, and its `_("...")` fails (UnboundLocalError, or a str called)."""
    tree = ast.parse(source)
    imports_it = any(
        isinstance(node, ast.ImportFrom)
        and (node.module or "").endswith("i18n")
        and any(alias.name == "_" and alias.asname is None for alias in node.names)
        for node in ast.walk(tree)
    )
    if not imports_it:
        return []
    lines = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        in_comprehensions = {
            id(name)
            for comprehension in ast.walk(function)
            if isinstance(comprehension, ast.comprehension)
            for name in ast.walk(comprehension.target)
        }
        arguments = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
        lines += [argument.lineno for argument in arguments if argument.arg == "_"]
        lines += [
            node.lineno
            for node in ast.walk(function)
            if isinstance(node, ast.Name)
            and node.id == "_"
            and isinstance(node.ctx, ast.Store)
            and id(node) not in in_comprehensions  # a comprehension's names are its own
        ]
    return lines


def test_no_function_binds_the_name_of_the_translator():
    found = []
    for package in SOURCE_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if "demo_model" not in path.parts:
                found += [
                    f"{path.relative_to(REPO_ROOT)}:{line}" for line in _shadows_of_the_translator(path.read_text())
                ]
    assert not found, "rename these `_` (e.g. `_unused`): they hide search.i18n's _() in their function"


def test_the_shadow_check_finds_a_throwaway_underscore():
    planted = (
        "from search.i18n import _\n"
        "def f(pairs):\n    for _, x in pairs:\n        pass\n    return _('hello')\n"
        "def g(pairs):\n    return [x for _, x in pairs], _('fine')\n"
    )
    assert _shadows_of_the_translator(planted) == [3]
