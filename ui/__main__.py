"""python -m ui [--index DIR] [--port N] [--host ADDRESS]: start the search page in the browser."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from search.i18n import _
from search.settings import COMMAND_VAR

from .settings import parser

APP = Path(__file__).with_name("app.py")


def main(argv: list[str] | None = None, prog: str = "python -m ui", indexer: str | None = None) -> int:
    """Start the page; `ruphoto ui` passes its own name (`prog`) and the indexer's (`indexer`), so that the
    page's hints name the commands the user runs."""
    described = parser(prog)
    described.add_argument("--port", type=int, default=8501, help=_("port to serve on (default %(default)s)"))
    described.add_argument(
        "--host",
        default="localhost",
        help=_("address to listen on (default %(default)s: this computer only; 0.0.0.0 opens it to the network)"),
    )
    args = described.parse_args(argv)
    if args.index.exists() and not args.index.is_dir():
        described.error(
            _("--index {index} is a file; give the index folder (the one holding index.sqlite)").format(
                index=args.index
            )
        )
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(args.port),
        "--server.address",
        args.host,
        "--browser.gatherUsageStats",
        "false",
        # Headless: on a desktop, Streamlit's first run otherwise stops to ask for an e-mail address
        # in the terminal (`make demo` would hang there). The URL is printed; open it in the browser.
        "--server.headless",
        "true",
        # No ⋮ menu: its words ("Print", "Record screen", "Made with Streamlit") are English, and the
        # page sets no menu items, so "minimal" leaves none (as in .streamlit/config.toml).
        "--client.toolbarMode",
        "minimal",
        "--server.maxUploadSize",
        "64",
        "--",
        "--index",
        str(args.index.resolve()),
        "--device",
        args.device,
        "--text-precision",
        args.text_precision,
    ]
    if indexer:  # a write for the page's process, which reads it in search.settings (search.commands)
        os.environ.update({COMMAND_VAR: indexer})
    os.execv(sys.executable, command)  # Streamlit takes over this process: Ctrl-C stops it as usual
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
