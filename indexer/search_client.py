"""A command-line search answered by a warm helper process, when one serves the index.

Starting Python and loading what a search needs (numpy, FAISS, SQLAlchemy, ONNX Runtime and the
model's text tower) costs a command-line search most of its time, every time. So the first
search of an index starts a helper (indexer/search_server.py) that keeps all of that loaded and
answers the next searches over a Unix socket, until it has been idle for
RUPHOTO_SEARCH_HELPER_IDLE seconds (0: never start one). This module is the client: the standard
library and search.settings only, so that asking costs next to nothing. Whatever goes wrong
(no helper, another environment, a helper that died midway), the caller runs the search itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from search.settings import SettingsError, settings

# What a search's answer may depend on besides its arguments: the helper serves only a client whose
# values are its own (another language or model setting gets a process of its own).
_ENVIRONMENT_PREFIXES = ("RUPHOTO_", "RUCLIP_", "HF_", "LANGUAGE", "LC_", "LANG", "XDG_", "HOME", "PYTHONPATH")
_CONNECT_TIMEOUT_S = 0.5
_ANSWER_TIMEOUT_S = 600.0
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
EXIT_INTERRUPTED = 130  # search/cli.py's, not imported from there: it brings argparse and logging


def search_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith(_ENVIRONMENT_PREFIXES)}


def code_stamp() -> str:
    """Changes when the code that answers changes (an upgrade, an edit): a helper started by older
    code never answers newer code's client."""
    here = Path(__file__).resolve().parent
    files = (here / "search_cli.py", here / "search_server.py", here.parent / "search" / "query" / "photo_index.py")
    return ",".join(str(path.stat().st_mtime_ns) for path in files if path.exists())


def index_of(argv: list[str]) -> Path:
    """The --index a search's arguments name (or the default index), absolute."""
    for position, arg in enumerate(argv):
        if arg == "--index" and position + 1 < len(argv):
            return Path(argv[position + 1]).expanduser().absolute()
        if arg.startswith("--index="):
            return Path(arg.split("=", 1)[1]).expanduser().absolute()
    from search.paths import default_index_dir

    return default_index_dir().absolute()


def socket_path_for(index: Path) -> Path | None:
    """Where the helper of `index` listens (None when that path would be too long for a socket)."""
    name = hashlib.sha256(os.fsencode(index)).hexdigest()[:20]
    path = settings().cache_dir / "search-helpers" / f"{name}.sock"
    return path if len(os.fsencode(path)) <= _SOCKET_PATH_MAX else None


def helper_idle_s() -> float:
    return settings().search_helper_idle_s


def answered_by_helper(argv: list[str], prog: str) -> int | None:
    """The exit code of `argv` (a `search` command) answered by the index's helper, its output
    printed here; None when no helper answered (the caller then searches itself)."""
    if argv[:1] != ["search"] or any(arg in ("-h", "--help") for arg in argv):
        return None
    try:
        if helper_idle_s() <= 0:
            return None
    except SettingsError:  # the search itself says what is wrong with the setting, as for any other
        return None
    path = socket_path_for(index_of(argv[1:]))
    if path is None or not path.exists():
        return None
    request = {"argv": argv, "prog": prog, "cwd": os.getcwd(), "env": search_environment(), "stamp": code_stamp()}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(_CONNECT_TIMEOUT_S)
            connection.connect(str(path))
            connection.settimeout(_ANSWER_TIMEOUT_S)
            connection.sendall(json.dumps(request).encode() + b"\n")
            with connection.makefile("rb") as replies:
                answer = json.loads(replies.readline() or b"{}")
    except (OSError, ValueError):  # no helper listening, it died midway, or its answer was cut
        return None
    except KeyboardInterrupt:  # Ctrl-C while the helper searched: as the CLI itself says it
        from search.i18n import _

        print(_("interrupted"), file=sys.stderr)
        return EXIT_INTERRUPTED
    if "code" not in answer:  # refused: another environment or code, or the index changed
        return None
    try:
        sys.stdout.write(answer["stdout"])
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` left early: as the CLI itself does, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.stderr.write(answer["stderr"])
    return int(answer["code"])


def start_helper(index: Path, prog: str) -> None:
    """Start the index's helper in the background (it exits at once when one already serves it)."""
    path = socket_path_for(index.absolute())
    if path is None or helper_idle_s() <= 0 or not hasattr(socket, "AF_UNIX") or os.name != "posix":
        return
    command = [sys.executable, "-m", "indexer.search_server", str(index.absolute()), str(path), prog]
    subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the terminal's process group: Ctrl-C there does not stop it
        close_fds=True,
    )
