"""The warm helper of command-line searches: one index kept open, searches answered over a socket.

    python -m indexer.search_server INDEX SOCKET PROG    # started by the first search (search_client.py)

It runs each request through the CLI's own main(), as the client's process would have, with the
client's arguments and working folder, and sends back what it printed and its exit code. The index
stays open between requests (search_cli.keep_indexes_open), and an open index follows a build's
changes as the page's does. It exits when it has been idle for RUPHOTO_SEARCH_HELPER_IDLE seconds,
when the index folder's database is replaced or deleted, and it refuses (the client then searches
itself) a request from another environment or another version of the code.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
import socket
import sys
from pathlib import Path

from .search_client import code_stamp, helper_idle_s, search_environment

DATABASE = "index.sqlite"


def serve(index: Path, path: Path, prog: str) -> int:
    """Answer searches of `index` on the socket `path` until idle; 0 at once when another helper
    serves it (the lock beside the socket says so)."""
    database = _identity(index / DATABASE)
    if database is None:
        return 0
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = open(path.with_suffix(".lock"), "a")  # held for the helper's whole life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # another helper serves this index (or is starting to)
        return 0
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")  # which process to stop, for a person or a test
    lock.flush()
    environment, stamp = search_environment(), code_stamp()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a helper that died left it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)  # this user's searches only
    listener.listen(8)
    listener.settimeout(helper_idle_s())
    from . import search_cli
    from .__main__ import main

    search_cli.keep_indexes_open()
    bound = _identity(path)
    try:
        _quietly(main, ["search", "", "--index", str(index), "-k", "1"], prog)  # load it all before the next search
        while True:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                return 0
            with connection:
                connection.settimeout(60)
                try:
                    request = json.loads(connection.makefile("rb").readline() or b"{}")
                except (OSError, ValueError):  # a client that sent nothing usable, or gave up
                    continue
                if _identity(index / DATABASE) != database:
                    connection.sendall(json.dumps({"refused": "the index changed"}).encode() + b"\n")
                    return 0
                if request.get("env") != environment or request.get("stamp") != stamp:
                    connection.sendall(json.dumps({"refused": "another environment"}).encode() + b"\n")
                    continue
                os.chdir(request["cwd"])
                code, out, err = _quietly(main, request["argv"], request.get("prog", prog))
                with contextlib.suppress(OSError):  # a client that gave up (Ctrl-C) reads nothing
                    connection.sendall(json.dumps({"code": code, "stdout": out, "stderr": err}).encode() + b"\n")
    finally:
        listener.close()
        if _identity(path) == bound:  # not a later helper's socket
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        lock.close()


def _quietly(main, argv: list[str], prog: str) -> tuple[int, str, str]:
    """main(argv) with what it prints captured, and logging set up afresh by the CLI for each call."""
    root = logging.getLogger()
    root.handlers.clear()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv, prog)
        except SystemExit as exit_:  # argparse: a usage error, or --help
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
            if isinstance(exit_.code, str):
                print(exit_.code, file=sys.stderr)
    return int(code), out.getvalue(), err.getvalue()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
