"""argparse pieces shared by the command-line tools (`python -m indexer`, `python -m training`, `python -m ui`)."""

from __future__ import annotations

import argparse

from .config import TEXT_PRECISIONS


def add_text_precision_option(parser: argparse.ArgumentParser) -> None:
    """--text-precision: how queries are encoded (see search.encoder.quantize_text_tower)."""
    parser.add_argument(
        "--text-precision",
        default=TEXT_PRECISIONS[0],
        choices=TEXT_PRECISIONS,
        help="int8: encode queries ~1.6x faster on a CPU, not exactly (cosine to fp32 >= 0.998)",
    )


def positive_int(text: str) -> int:
    """A whole number ≥ 1, or a usage error naming the bad value."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A number of seconds > 0, or a usage error naming the bad value."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value
