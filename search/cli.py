"""What the command-line tools share (`python -m indexer`, `python -m search`, `python -m training`,
`python -m ui`): the option definitions and run_cli, the one place that turns errors, Ctrl-C and a
closed pipe into a message and an exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from .constants import DEVICES, PRECISIONS, TEXT_PRECISIONS
from .errors import RuClipError
from .i18n import N_, _, route_argparse
from .settings import SettingsError, settings

route_argparse()  # argparse's own texts ("usage:", "options:", its errors) in the user's language too

EXIT_ERROR = 2  # a RuClipError: the message says what to do
EXIT_USAGE = 2  # a bad command line, as argparse reports it
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class CliParser(argparse.ArgumentParser):
    """argparse, with a usage error in one line: what is wrong and where the help is, instead of the
    whole usage block above it (eight lines for `indexer build`, in which the error gets lost).
    Subcommands' parsers are of the same class (add_subparsers makes them so)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, _("error: {message} (see {prog} --help)").format(message=message, prog=self.prog) + "\n")


BUILD_NICENESS = 10  # a build or a watcher yields the CPU to searches and to whatever the user is doing


def add_nice_option(parser: argparse.ArgumentParser) -> None:
    """--nice: the build's scheduling priority (its decoding processes inherit it)."""
    parser.add_argument(
        "--nice",
        type=int,
        default=BUILD_NICENESS,
        choices=range(0, 20),
        metavar="0-19",
        help=_(
            "how much the build yields the CPU to other programs, searches on the page included "
            "(default %(default)s; 0: as much as anything else; it runs as fast when nothing else wants the CPU)"
        ),
    )


def lower_priority(niceness: int) -> None:
    """Raise this process's niceness to `niceness` (never lowers it; a no-op where there is none)."""
    if niceness > 0 and hasattr(os, "nice"):
        current = os.nice(0)
        if niceness > current:
            os.nice(niceness - current)


def add_device_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """--device, defaulting to $RUPHOTO_DEVICE (else auto); a device that variable misnames is a usage error.
    `help`: a translated text (default: where the default comes from)."""
    if help is None:
        help = _("default %(default)s ($RUPHOTO_DEVICE, else auto: the GPU if any)")
    try:
        default = settings().device
    except SettingsError as exc:
        parser.error(str(exc))
    parser.add_argument("--device", default=default, choices=DEVICES, help=help)


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    """--precision: how images are encoded (see search.clip.encoder.load_model)."""
    parser.add_argument(
        "--precision",
        default=PRECISIONS[0],
        choices=PRECISIONS,
        help=_("auto = fp16 on a GPU, fp32 on a CPU; int8 quantises the image tower on a CPU (faster, not exact)"),
    )


def add_text_precision_option(parser: argparse.ArgumentParser) -> None:
    """--text-precision: how queries are encoded (see search.clip.encoder.quantize_text_tower)."""
    parser.add_argument(
        "--text-precision",
        default=TEXT_PRECISIONS[0],
        choices=TEXT_PRECISIONS,
        help=_("int8: encode queries faster on a CPU, not exactly (cosine to fp32 >= 0.998; see BENCHMARKS.md)"),
    )


def positive_int(text: str) -> int:
    """A whole number ≥ 1, or a usage error naming the bad value."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(_("expected a positive whole number, got {text!r}").format(text=text))
    return value


def positive_seconds(text: str) -> float:
    """A number of seconds > 0, or a usage error naming the bad value."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(_("expected a positive number of seconds, got {text!r}").format(text=text))
    return value


# The level a warning or an error is printed under (`WARNING: …`), in the user's language.
LEVEL_NAMES = {logging.WARNING: N_("WARNING"), logging.ERROR: N_("ERROR"), logging.CRITICAL: N_("CRITICAL")}


class _Formatter(logging.Formatter):
    """`LEVEL: message`, the level's name translated (the record itself is left as it is)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        level = LEVEL_NAMES.get(record.levelno)
        return f"{_(level) if level else record.levelname}: {record.message}"


def run_cli(
    command: Callable[[], int],
    *,
    interrupted: str | None = None,
) -> int:
    """Run a CLI's command: its RuClipError becomes `error: <message>` (exit 2), Ctrl-C prints
    `interrupted` (a translated text; default "interrupted", exit 130), and a reader that closed the
    pipe early (`| head`) ends it quietly."""
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        code = command()
        sys.stdout.flush()  # here, not at exit: a reader that left early (`| head`) is handled below
        return code
    except RuClipError as exc:
        print(_("error: {message}").format(message=exc), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(interrupted if interrupted is not None else _("interrupted"), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
