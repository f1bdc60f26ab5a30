"""Every hint names a command that runs where the user reads it (search/commands.py): the console
script as their shell finds it (`ruphoto` on the PATH, else `.venv/bin/ruphoto`), or `python -m
indexer` when that is what they ran; the page learns the name from `ruphoto ui`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import ruphoto.__main__ as ruphoto
from search import IndexStoreError, StoreProblem
from search.commands import (
    indexer_command,
    installed_script,
    module_command,
    page_command,
    running_as,
)
from search.settings import COMMAND_VAR
from ui.messages import explained

from .helpers import indexer


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone after `make install`, as seen from this process: its .venv/bin holds the interpreter
    and the console script, the working folder is the clone, and nothing of it is on the PATH."""
    bin_folder = tmp_path / ".venv" / "bin"
    bin_folder.mkdir(parents=True)
    for name in ("python", "ruphoto"):
        (bin_folder / name).write_text("#!/bin/sh\n", encoding="utf-8")
        (bin_folder / name).chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_folder / "python"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv(COMMAND_VAR, raising=False)
    return tmp_path


def test_the_console_script_is_named_as_this_shell_finds_it(clone: Path, monkeypatch, tmp_path_factory):
    assert installed_script() == ".venv/bin/ruphoto"  # not on the PATH: its path from here
    assert indexer_command() == ".venv/bin/ruphoto" and page_command() == ".venv/bin/ruphoto ui"
    monkeypatch.setenv("PATH", f"{clone / '.venv' / 'bin'}:/usr/bin:/bin")  # source .venv/bin/activate
    assert installed_script() == "ruphoto" and page_command() == "ruphoto ui"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert installed_script() == str(clone / ".venv" / "bin" / "ruphoto")  # from another folder: the whole path


def test_without_the_script_the_hint_is_this_interpreter(clone: Path, monkeypatch):
    (clone / ".venv" / "bin" / "ruphoto").unlink()
    assert installed_script() is None
    # `python` is not this interpreter here (on Debian it is no command at all): its path instead.
    assert indexer_command() == ".venv/bin/python -m indexer" and page_command() == ".venv/bin/python -m ui"
    assert module_command("training") == ".venv/bin/python -m training"
    monkeypatch.setenv("PATH", f"{clone / '.venv' / 'bin'}:/usr/bin:/bin")
    assert indexer_command() == "python -m indexer"


def test_a_command_line_names_itself_while_it_runs(clone: Path, monkeypatch):
    with running_as("python -m indexer"):
        assert indexer_command() == "python -m indexer" and page_command() == "python -m ui"
        with running_as("ruphoto"):
            assert indexer_command() == "ruphoto"
        assert indexer_command() == "python -m indexer"
    assert indexer_command() == ".venv/bin/ruphoto"
    monkeypatch.setenv(COMMAND_VAR, "ruphoto")  # as `ruphoto ui` leaves it for the page's process
    assert indexer_command() == "ruphoto"


def test_the_console_scripts_messages_and_help_name_it_as_it_was_run(clone: Path, capsys):
    missing = clone / "no-index"
    assert ruphoto.main(["stats", "--index", str(missing)]) == 2
    error = capsys.readouterr().err
    assert f"Build one with: .venv/bin/ruphoto build PHOTOS --index {missing}" in error
    with pytest.raises(SystemExit):
        ruphoto.main(["--help"])
    shown = capsys.readouterr().out
    assert shown.startswith("usage: .venv/bin/ruphoto ") and "  .venv/bin/ruphoto build ~/Pictures " in shown
    assert "python -m indexer" not in shown.replace("as python -m ui", "")
    with pytest.raises(SystemExit):
        ruphoto.main(["watch", "--help"])
    assert "  .venv/bin/ruphoto watch ~/Pictures\n" in capsys.readouterr().out  # the epilog's examples too


def test_python_m_indexer_names_itself(tmp_path: Path):
    missing = tmp_path / "no-index"
    run = indexer("stats", "--index", missing)
    assert run.returncode == 2
    assert f"Build one with: python -m indexer build PHOTOS --index {missing}" in run.stderr
    assert "  python -m indexer search" in indexer("search", "--help").stdout


def test_ruphoto_ui_tells_the_page_its_name(clone: Path, monkeypatch, capsys):
    monkeypatch.setenv(COMMAND_VAR, "")  # restored after the test: ruphoto ui sets it in this process
    a_file = clone / "index.sqlite"
    a_file.write_bytes(b"")
    with pytest.raises(SystemExit):  # refused before Streamlit starts: --index names a file
        ruphoto.main(["ui", "--index", str(a_file)])
    assert "(see .venv/bin/ruphoto ui --help)" in capsys.readouterr().err

    started = []  # what would become Streamlit's process: its command line and its environment
    monkeypatch.setattr(os, "execv", lambda path, argv: started.append((argv, dict(os.environ))))
    ruphoto.main(["ui", "--index", str(clone / "index")])
    ((argv, environment),) = started
    assert argv[1:4] == ["-m", "streamlit", "run"] and environment[COMMAND_VAR] == ".venv/bin/ruphoto"
    # The page's Russian hints then name the same commands.
    shown = explained(IndexStoreError("no index", StoreProblem.NO_INDEX), clone / "index")
    assert f"`.venv/bin/ruphoto build /путь/к/фото --index {clone / 'index'}`" in shown
    monkeypatch.setenv(COMMAND_VAR, "ruphoto")
    copy = explained(IndexStoreError("read-only", StoreProblem.READ_ONLY), clone / "index")
    assert "`ruphoto ui --index /путь/к/копии`" in copy


def test_stats_help_says_what_it_prints():
    shown = indexer("stats", "--help").stdout
    assert "Print what the index holds" in shown and "failures counted by reason" in shown
    # The files that failed are listed, the most recent few, and the flag that lists every one is taught.
    assert "the files that failed" in shown and "--failed" in shown and "most recent" in shown
