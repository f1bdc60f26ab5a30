"""Bad input gives one clear, typed error that names the problem and the fix."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import search
from search.clip.checkpoint import check_state_dict, read_state_dict

from .helpers import REPO_ROOT, TINY_MODEL


@pytest.fixture()
def model_copy(tmp_path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(TINY_MODEL, folder)
    return folder


@pytest.mark.parametrize("filename", ["config.json", "pytorch_model.bin", "bpe.model"])
def test_folder_missing_a_file(model_copy, filename):
    (model_copy / filename).unlink()
    with pytest.raises(search.ModelNotFoundError, match=filename.replace(".", r"\.")):
        search.load_model(model_copy, device="cpu")


def test_safetensors_weights_load_instead_of_bin(model_copy, golden):
    from safetensors.torch import save_file

    state = read_state_dict(model_copy / "pytorch_model.bin")
    save_file(state, model_copy / "model.safetensors")
    (model_copy / "pytorch_model.bin").unlink()
    model = search.load_model(model_copy, device="cpu")
    assert abs(model.encode_texts(golden["texts"][:2]) - golden["text_embeddings"][:2]).max() <= 1e-5


def test_config_missing_a_key(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    del config["vision_patch_size"]
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(search.CheckpointError, match="vision_patch_size"):
        search.load_model(model_copy, device="cpu")


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ('{"embed_dim": "32"}', "missing"), ("[1, 2]", "JSON object")],
)
def test_config_not_a_config(model_copy, content, message):
    (model_copy / "config.json").write_text(content)
    with pytest.raises(search.CheckpointError, match=message):
        search.load_model(model_copy, device="cpu")


def test_config_with_wrong_value_type(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config["vision_layers"] = "2"
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(search.CheckpointError, match="vision_layers must be a positive integer"):
        search.load_model(model_copy, device="cpu")


def _rewrite_state(folder: Path, change) -> None:
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    change(state)
    torch.save(state, folder / "pytorch_model.bin")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("visual.ln_post.bias"), r"1 missing: visual\.ln_post\.bias"),
        (lambda s: s.update({"visual.extra.weight": torch.zeros(3)}), r"1 unexpected: visual\.extra\.weight"),
        (
            lambda s: s.update({"text_projection": torch.zeros(64, 16)}),
            r"wrong shape: text_projection \(64, 16\) != expected \(64, 32\)",
        ),
    ],
    ids=["missing", "extra", "misshaped"],
)
def test_state_dict_problems_are_named(model_copy, change, message):
    _rewrite_state(model_copy, change)
    with pytest.raises(search.CheckpointError, match=message):
        search.load_model(model_copy, device="cpu")


def test_config_and_weights_from_different_checkpoints(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config["vision_layers"] = 3  # the weights have 2
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(search.CheckpointError, match=r"missing: visual\.transformer\.resblocks\.2\."):
        search.load_model(model_copy, device="cpu")


def test_truncated_weights_file(model_copy):
    data = (model_copy / "pytorch_model.bin").read_bytes()
    (model_copy / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(search.CheckpointError, match="could not be read"):
        search.load_model(model_copy, device="cpu")


def test_check_state_dict_lists_many_keys_briefly():
    network = torch.nn.Linear(2, 2)
    with pytest.raises(search.CheckpointError, match="2 missing: bias, weight"):
        check_state_dict(network, {}, Path("x.bin"))


@pytest.mark.parametrize(
    "content",
    [os.urandom(2000), b"", b"garbage text that is not a model\n", b"2 1\n97 4\n98 5\n4 5 6\n"],
    ids=["random-bytes", "empty", "text", "no-special-ids-line"],
)
def test_corrupt_bpe_model(model_copy, content):
    # youtokentome itself "loads" all of these (with a made-up vocabulary): the check must catch them.
    (model_copy / "bpe.model").write_bytes(content)
    with pytest.raises(search.CheckpointError, match=r"bpe\.model"):
        search.load_model(model_copy, device="cpu")


def test_bpe_with_other_special_ids(model_copy):
    lines = (model_copy / "bpe.model").read_text().splitlines()
    lines[-1] = "0 1 2 3"  # unk=0, pad=1: not ruCLIP's
    (model_copy / "bpe.model").write_text("\n".join(lines) + "\n")
    with pytest.raises(search.CheckpointError, match="special token ids"):
        search.load_model(model_copy, device="cpu")


def test_bpe_larger_than_the_embedding(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config["vocab_size"] = 100
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(search.CheckpointError, match="vocab_size=100"):
        search.load_model(model_copy, device="cpu")


def test_unknown_model_name():
    with pytest.raises(search.ModelNotFoundError, match="ruclip-vit-base-patch32-384") as info:
        search.load_model("ruclip-vit-huge", device="cpu")
    assert "Unknown model 'ruclip-vit-huge'" in str(info.value)


def test_missing_folder_path(tmp_path):
    with pytest.raises(search.ModelNotFoundError, match="does not exist"):
        search.load_model(tmp_path / "nowhere", device="cpu")


def test_a_model_that_cannot_be_loaded_says_why_by_its_reason(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from search.clip import hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "_hub_endpoint", lambda: "http://127.0.0.1:9")  # a closed port: no download
    monkeypatch.setattr(hub, "_hub_offline_mode", lambda: False)
    monkeypatch.chdir(tmp_path)  # a published name is also tried as a folder of that name

    def problem(name: str, download: bool = True) -> search.ModelProblem:
        with pytest.raises((search.ModelNotFoundError, search.CheckpointError)) as caught:
            search.resolve_model(name, download=download)
            search.load_model(name, device="cpu")
        return caught.value.reason

    assert problem(str(tmp_path / "moved")) is search.ModelProblem.FOLDER_MISSING
    assert problem("ruclip-vit-huge") is search.ModelProblem.UNKNOWN_NAME
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    assert problem(str(tmp_path / "half")) is search.ModelProblem.INCOMPLETE
    assert problem(search.DEFAULT_MODEL, download=False) is search.ModelProblem.NOT_DOWNLOADED
    assert problem(search.DEFAULT_MODEL) is search.ModelProblem.DOWNLOAD_FAILED
    broken = tmp_path / "broken"
    shutil.copytree(TINY_MODEL, broken)
    (broken / "config.json").write_text("not json")
    assert problem(str(broken)) is search.ModelProblem.DAMAGED
    monkeypatch.setattr(hub, "demo_model_dir", lambda: tmp_path / "no-demo")
    assert problem(search.DEMO_MODEL) is search.ModelProblem.DEMO_MISSING
    if os.geteuid() != 0:  # root reads every file
        unreadable = tmp_path / "unreadable"
        shutil.copytree(TINY_MODEL, unreadable)
        (unreadable / "config.json").chmod(0)
        assert problem(str(unreadable)) is search.ModelProblem.UNREADABLE


def test_cuda_requested_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")  # the error case only exists without one
    with pytest.raises(search.RuClipError, match="no CUDA GPU"):
        search.load_model(TINY_MODEL, device="cuda")


def test_unknown_precision():
    with pytest.raises(search.RuClipError, match="Unknown precision"):
        search.load_model(TINY_MODEL, device="cpu", precision="fp8")


def test_text_precision_is_fp32_or_int8_with_fp32_compute():
    with pytest.raises(search.RuClipError, match="Unknown text precision"):
        search.load_model(TINY_MODEL, device="cpu", text_precision="fp16")
    with pytest.raises(search.RuClipError, match="CPU mode with precision fp32 or int8"):
        search.load_model(TINY_MODEL, device="cpu", precision="bf16", text_precision="int8")


def _run_python(code: str, env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "RUCLIP_", "RUPHOTO_"))}
    env.update({"HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO_ROOT), **env_extra})
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


LOAD_AND_REPORT = """
import search
try:
    model = search.load_model({name!r}, device="cpu")
    print("LOADED", model.folder, model.name)
except search.ModelNotFoundError as exc:
    print("ERROR", exc)
"""


RESOLVE_TIMED = """
import time
import search
started = time.monotonic()
try:
    print("LOADED", search.resolve_model({name!r}))
except search.ModelNotFoundError as exc:
    print("ERROR", exc)
print("SECONDS", time.monotonic() - started)
"""


@pytest.mark.parametrize(
    "env",
    [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}, {"HTTPS_PROXY": "http://127.0.0.1:9"}],
    ids=["HF_HUB_OFFLINE", "connection-refused", "proxy-refused"],
)
@pytest.mark.slow  # a Python process of its own
def test_offline_download_says_how_to_get_the_weights(env, tmp_path):
    # resolve_model alone is timed: load_model would add the import of torch, which is not the point.
    code = RESOLVE_TIMED
    result = _run_python(code.format(name="ruclip-vit-base-patch16-224"), env, tmp_path)
    assert result.returncode == 0, result.stderr
    error_line, seconds_line = result.stdout.splitlines()
    assert error_line.startswith("ERROR Model 'ruclip-vit-base-patch16-224' is not in the local model cache"), (
        error_line
    )
    assert "https://huggingface.co/ai-forever/ruclip-vit-base-patch16-224" in error_line
    assert "--model FOLDER" in error_line and "RUPHOTO_MODEL" in error_line and "--model demo" in error_line
    assert ".." not in error_line
    # No retries waited out, none logged: the hub is found unreachable at once.
    assert float(seconds_line.split()[1]) <= 2.0, seconds_line
    assert "Retrying" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_hub_unreachable_reason_is_quick_on_a_closed_port(monkeypatch):
    from search.clip import hub

    monkeypatch.setattr(hub, "_hub_endpoint", lambda: "http://127.0.0.1:9")
    monkeypatch.setattr(hub, "_hub_offline_mode", lambda: False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    started = time.monotonic()
    reason = hub.hub_unreachable_reason()
    assert time.monotonic() - started <= 2.0
    assert reason is not None and "127.0.0.1:9" in reason


class _MiniHub(http.server.BaseHTTPRequestHandler):
    """The two requests huggingface_hub makes per file: HEAD for the metadata, GET for the bytes."""

    files: dict[str, bytes] = {}
    commit = "0123456789abcdef0123456789abcdef01234567"

    def _send_headers(self) -> bytes | None:
        content = self.files.get(self.path)
        if content is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
        self.send_header("X-Repo-Commit", self.commit)
        self.end_headers()
        return content

    def do_HEAD(self) -> None:  # noqa: N802 (the handler's protocol)
        self._send_headers()

    def do_GET(self) -> None:  # noqa: N802
        content = self._send_headers()
        if content is not None:
            self.wfile.write(content)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.slow  # a Python process of its own
def test_download_from_a_reachable_hub(tmp_path):
    """The reachability check lets a download through when the hub answers: a local server that
    speaks the hub's file protocol serves the tiny checkpoint under a published name."""
    name = "ruclip-vit-base-patch32-384"
    _MiniHub.files = {
        f"/ai-forever/{name}/resolve/main/{path.name}": path.read_bytes()
        for path in TINY_MODEL.iterdir()
        if path.name in ("config.json", "bpe.model", "pytorch_model.bin")
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MiniHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        code = "import search\nprint('READY', search.resolve_model({name!r}))\n"
        result = _run_python(code.format(name=name), {"HF_ENDPOINT": endpoint, "NO_PROXY": "127.0.0.1"}, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.split("READY ", 1)[1].strip())
    assert folder.is_relative_to(tmp_path / "hf")
    for path in TINY_MODEL.iterdir():
        if path.name in ("config.json", "bpe.model", "pytorch_model.bin"):
            assert (folder / path.name).read_bytes() == path.read_bytes()


def _fake_hub_cache(hf_home: Path, name: str) -> Path:
    """Lay out the tiny checkpoint the way huggingface_hub caches a downloaded repo."""
    repo = hf_home / "hub" / f"models--ai-forever--{name}"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / revision
    shutil.copytree(TINY_MODEL, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def test_published_name_resolves_from_the_hub_cache_offline(tmp_path):
    snapshot = _fake_hub_cache(tmp_path / "hf", "ruclip-vit-base-patch32-384")
    names = ["ruclip-vit-base-patch32-384", "ai-forever/ruclip-vit-base-patch32-384"]
    code = "".join(LOAD_AND_REPORT.format(name=name) for name in names)  # both in one process
    result = _run_python(code, {"HF_HUB_OFFLINE": "1"}, tmp_path)
    lines = result.stdout.splitlines()
    assert len(lines) == len(names), result.stdout + result.stderr
    for line in lines:
        assert line.split() == ["LOADED", str(snapshot), "ruclip-vit-base-patch32-384"], result.stdout + result.stderr


def test_model_from_environment_variable(tmp_path):
    snapshot = _fake_hub_cache(tmp_path / "hf", "ruclip-vit-base-patch32-384")
    # No name given: RUPHOTO_MODEL (or its old name RUCLIP_MODEL) wins over the default; unset, the default
    # name is looked up.
    folder_run = _run_python(LOAD_AND_REPORT.format(name=None), {"RUCLIP_MODEL": str(TINY_MODEL)}, tmp_path)
    assert folder_run.stdout.split()[:2] == ["LOADED", str(TINY_MODEL)], folder_run.stdout + folder_run.stderr
    default_run = _run_python(LOAD_AND_REPORT.format(name=None), {"HF_HUB_OFFLINE": "1"}, tmp_path)
    assert default_run.stdout.split()[:2] == ["LOADED", str(snapshot)], default_run.stdout + default_run.stderr


def test_vision_width_too_narrow_for_one_head(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config["vision_width"] = 32  # 32 // 64 = 0 heads
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(search.CheckpointError, match="vision_width 32 cannot be split"):
        search.load_model(model_copy, device="cpu")
