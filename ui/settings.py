"""The app's own arguments (after `--` on the streamlit command line)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from search.cli import CliParser, add_device_option, add_text_precision_option
from search.commands import indexer_command
from search.i18n import _
from search.paths import default_index_dir


@dataclass(frozen=True)
class Settings:
    index: Path
    device: str
    text_precision: str


def parser(prog: str = "python -m ui") -> argparse.ArgumentParser:
    """The page's command line, as `prog` (`python -m ui`, or `ruphoto ui`)."""
    described = CliParser(
        prog=prog,
        description=_("Search your photos by a Russian description or by an example picture, in the browser."),
        epilog=_(
            "Build an index first: {value} build /path/to/photos --index DIR. The same arguments work "
            "after `--` with streamlit: streamlit run ui/app.py -- --index DIR"
        ).format(value=indexer_command()),
    )
    described.add_argument(
        "--index",
        type=Path,
        default=default_index_dir(),
        help=_("index folder written by {value} build (default %(default)s)").format(value=indexer_command()),
    )
    add_device_option(described, help=_("where queries are encoded (default %(default)s)"))
    add_text_precision_option(described)
    return described


def read_settings(argv: list[str]) -> Settings:
    # parse_known_args: Streamlit may leave its own arguments in sys.argv, and they are not ours to refuse.
    args, _unknown = parser().parse_known_args(argv)
    return Settings(index=args.index.expanduser(), device=args.device, text_precision=args.text_precision)
