"""`python -m search`: errors without tracebacks; in this process where the hub's settings (read when
huggingface_hub is imported) are no matter, else in a process of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO_ROOT, TINY_MODEL, in_this_process
from .test_errors import _fake_hub_cache, _run_python

RUN_CLI = "import sys, search.__main__ as cli; sys.exit(cli.main({argv!r}))"


def search_cli(*argv: str) -> subprocess.CompletedProcess:
    """`python -m search ARGV` in this process (its main()); the hub's settings are no matter here."""
    from search.__main__ import main

    return in_this_process(main, list(argv))


def test_check_a_folder():
    result = search_cli("check", str(TINY_MODEL), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "embed_dim 32" in result.stdout and "the checkpoint works" in result.stdout


def test_unknown_model_is_a_message_not_a_traceback():
    result = search_cli("check", "ruclip-vit-gigantic")
    assert result.returncode == 2
    assert result.stderr.startswith("error: Unknown model 'ruclip-vit-gigantic'")
    assert "Traceback" not in result.stderr


def test_download_offline_explains_what_to_do(tmp_path):
    argv = ["download", "ruclip-vit-large-patch14-336"]
    result = _run_python(RUN_CLI.format(argv=argv), {"HF_HUB_OFFLINE": "1"}, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "https://huggingface.co/ai-forever/ruclip-vit-large-patch14-336" in result.stderr


@pytest.fixture(scope="module")
def models_listing(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`python -m search models` offline, one model in the hub cache: one process for the tests below."""
    folder = tmp_path_factory.mktemp("models")
    snapshot = _fake_hub_cache(folder / "hf", "ruclip-vit-base-patch16-384")
    return snapshot, _run_python(RUN_CLI.format(argv=["models"]), {"HF_HUB_OFFLINE": "1"}, folder)


def test_models_lists_what_is_cached(models_listing):
    snapshot, result = models_listing
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("ruclip")}
    assert len(lines) == 6
    assert f"cached: {snapshot}" in lines["ruclip-vit-base-patch16-384"]
    assert "not downloaded" in lines["ruclip-vit-base-patch32-224"]
    assert "(default)" in lines["ruclip-vit-base-patch32-384"]


def test_the_models_table_keeps_its_columns_at_the_default_marker(models_listing):
    _, result = models_listing
    rows = [line for line in result.stdout.splitlines() if line.startswith(("model ", "ruclip", "demo "))]
    status_starts = {re.match(r".*? (px|\d+)  ", line).end() for line in rows}  # right after the px column
    assert len(rows) == 8 and len(status_starts) == 1, rows


def test_a_reader_that_stops_early_gets_no_traceback():
    """`... | head -1` when head has gone: stdout is a pipe whose reading end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "search", "models"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
            env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},  # stdout buffered, as usual
        )
    finally:
        os.close(write_end)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def test_a_query_that_starts_with_a_minus_is_a_query_not_an_option():
    from indexer.__main__ import _parser
    from indexer.search_cli import queries_kept_whole

    args = _parser().parse_args(queries_kept_whole(["search", "-красный", "-k", "3", "--json"]))
    assert (args.query.strip(), args.k, args.json) == ("-красный", 3, True)
    args = _parser().parse_args(queries_kept_whole(["search", "- собака", "--index", "somewhere"]))
    assert args.query.strip() == "- собака" and str(args.index) == "somewhere"
