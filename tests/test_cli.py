"""`python -m search`: real subprocesses, errors without tracebacks."""

from __future__ import annotations

from .helpers import TINY_MODEL
from .test_errors import _fake_hub_cache, _run_python

RUN_CLI = "import sys, search.__main__ as cli; sys.exit(cli.main({argv!r}))"


def test_check_a_folder(tmp_path):
    result = _run_python(RUN_CLI.format(argv=["check", str(TINY_MODEL), "--device", "cpu"]), {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "embed_dim 32" in result.stdout and "the checkpoint works" in result.stdout


def test_unknown_model_is_a_message_not_a_traceback(tmp_path):
    result = _run_python(RUN_CLI.format(argv=["check", "ruclip-vit-gigantic"]), {}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: Unknown model 'ruclip-vit-gigantic'")
    assert "Traceback" not in result.stderr


def test_download_offline_explains_what_to_do(tmp_path):
    argv = ["download", "ruclip-vit-large-patch14-336"]
    result = _run_python(RUN_CLI.format(argv=argv), {"HF_HUB_OFFLINE": "1"}, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "https://huggingface.co/ai-forever/ruclip-vit-large-patch14-336" in result.stderr


def test_models_lists_what_is_cached(tmp_path):
    snapshot = _fake_hub_cache(tmp_path / "hf", "ruclip-vit-base-patch16-384")
    result = _run_python(RUN_CLI.format(argv=["models"]), {"HF_HUB_OFFLINE": "1"}, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("ruclip")}
    assert len(lines) == 6
    assert f"cached: {snapshot}" in lines["ruclip-vit-base-patch16-384"]
    assert "not downloaded" in lines["ruclip-vit-base-patch32-224"]
    assert "(default)" in lines["ruclip-vit-base-patch32-384"]
