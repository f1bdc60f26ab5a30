"""The app's own arguments (after `--` on the streamlit command line)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from search.cli import CliParser, add_device_option, add_text_precision_option
from search.paths import default_index_dir


@dataclass(frozen=True)
class Settings:
    index: Path
    device: str
    text_precision: str


def parser() -> argparse.ArgumentParser:
    described = CliParser(
        prog="python -m ui",
        description="Search your photos by a Russian description or by an example picture, in the browser.",
        epilog="Build an index first: python -m indexer build /path/to/photos --index DIR. "
        "The same arguments work after `--` with streamlit: streamlit run ui/app.py -- --index DIR",
    )
    described.add_argument(
        "--index",
        type=Path,
        default=default_index_dir(),
        help="index folder written by python -m indexer build (default %(default)s)",
    )
    add_device_option(described, help="where queries are encoded (default %(default)s)")
    add_text_precision_option(described)
    return described


def read_settings(argv: list[str]) -> Settings:
    # parse_known_args: Streamlit may leave its own arguments in sys.argv, and they are not ours to refuse.
    args, _ = parser().parse_known_args(argv)
    return Settings(index=args.index.expanduser(), device=args.device, text_precision=args.text_precision)
