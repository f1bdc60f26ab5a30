"""The commands a message tells the user to run, named so that they run where the user reads them.

A hint such as "run python -m indexer build PHOTOS" fails outside the project's environment
(`python` is not even a command on Debian), so every hint names the program the way the user
started it: `ruphoto` when they ran the console script and it is on their PATH, the script's path
(`.venv/bin/ruphoto`) when it is not, `python -m indexer` when they ran that. The page, started
in a process of its own, learns the name through the environment (`ruphoto ui` sets it), else
names the console script beside its interpreter. Light (the standard library, search.settings): every layer imports it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .settings import settings

SCRIPT = "ruphoto"

_running_as: str | None = None  # the program of the command line running in this process, if any


def _shown(path: Path) -> str:
    """`path` as the user can type it here: relative to the working folder when inside it."""
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return str(path)
    return str(relative) if relative.parent != Path(".") else f"./{relative}"


def installed_script() -> str | None:
    """The console script as this shell finds it: `ruphoto` when it is on the PATH, else its path
    beside this interpreter (`.venv/bin/ruphoto`); None when it is not installed here."""
    script = Path(sys.executable).absolute().parent / SCRIPT
    if not script.is_file():
        return None
    found = shutil.which(SCRIPT)
    if found is not None and Path(found).absolute() == script:
        return SCRIPT
    return _shown(script)


def script_prog() -> str:
    """The name the `ruphoto` console script gives itself (its usage, its examples, its hints)."""
    return installed_script() or SCRIPT


def module_command(module: str) -> str:
    """`python -m MODULE`, with this interpreter's path when `python` on the PATH is another one."""
    found = shutil.which("python")
    if found is not None and Path(found).absolute() == Path(sys.executable).absolute():
        return f"python -m {module}"
    return f"{_shown(Path(sys.executable).absolute())} -m {module}"


def indexer_command() -> str:
    """How hints name the indexer's commands (`{indexer_command()} build PHOTOS`): as the command line
    running in this process was called, else as `ruphoto ui` told the page, else the console script
    beside this interpreter, else `python -m indexer` through this interpreter."""
    return _running_as or settings().command or installed_script() or module_command("indexer")


@contextmanager
def running_as(prog: str) -> Iterator[None]:
    """While a command line runs: hints name `prog`, the program the user ran."""
    global _running_as
    before, _running_as = _running_as, prog
    try:
        yield
    finally:
        _running_as = before


def page_command() -> str:
    """How hints name the command that starts the search page: `ruphoto ui`, or `python -m ui`."""
    indexer = indexer_command()
    if indexer.endswith(" -m indexer"):
        return indexer.removesuffix("indexer") + "ui"
    return f"{indexer} ui"
