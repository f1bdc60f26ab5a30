"""`ruphoto COMMAND ...`: `ui` starts the search page (as `python -m ui`); every other command is
`python -m indexer`'s, parsed and run by it (its --help, its exit codes, its messages)."""

from __future__ import annotations

import argparse
import sys

from search.commands import script_prog
from search.i18n import _

UI_COMMAND = "ui"


def _add_ui_command(commands: argparse._SubParsersAction) -> None:
    """`ui` as `--help` lists it; its own arguments are python -m ui's (`ruphoto ui --help`)."""
    commands.add_parser(
        UI_COMMAND,
        help=_("start the search page in the browser (as python -m ui; {value} ui --help)").format(value=script_prog()),
    )


def parser() -> argparse.ArgumentParser:
    """Every command `ruphoto` takes: the indexer's, and `ui`."""
    from indexer.__main__ import parser as indexer_parser

    return indexer_parser(script_prog(), more_commands=_add_ui_command)


def main(argv: list[str] | None = None) -> int:
    """The console script's entry point; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [UI_COMMAND]:
        from ui.__main__ import main as ui_main

        return ui_main(args[1:], prog=f"{script_prog()} {UI_COMMAND}", indexer=script_prog())
    if not args or args[0] in ("-h", "--help"):
        parser().parse_args(args)  # prints the help (exit 0), or the usage error for no command (exit 2)
    from indexer.search_client import answered_by_helper  # light: a warm search needs nothing else

    if (code := answered_by_helper(args, script_prog())) is not None:
        return code
    from indexer.__main__ import main as indexer_main

    return indexer_main(args, prog=script_prog())


if __name__ == "__main__":
    sys.exit(main())
