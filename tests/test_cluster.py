"""build --ray: the Ray engine writes the local engine's index, on one node or two, through killed
actors and a killed driver. Real Ray clusters on this machine (an embedded one, and a two-node
ray.cluster_utils.Cluster); real files, the tiny golden model."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.build import BuildHooks, BuildOptions, build_index
from indexer.engines.cluster import Placement, not_visible
from indexer.stages import DECODE, ENCODE
from search.errors import ImageProblem
from search.store import DATABASE_FILE
from search.store.verify import verify_index

from .helpers import GOLDEN, REPO_ROOT, TINY_MODEL, indexer, indexer_process
from .test_indexer import make_good_photos, png_claiming, rows


def test_placement_gives_each_gpu_an_encoder_and_the_cpus_left_to_decoders():
    on_gpus = Placement.for_cluster(cpus=32, gpus=4, nodes=2, device="auto")
    assert (on_gpus.encoders, on_gpus.encoder_gpus, on_gpus.encoder_cpus, on_gpus.decoders) == (4, 1.0, 1.0, 28)
    forced_cpu = Placement.for_cluster(cpus=32, gpus=4, nodes=2, device="cpu")
    # A CPU encoder reserves no CPU: after a lost node it can start again beside decoders holding them all.
    assert (forced_cpu.encoders, forced_cpu.encoder_gpus, forced_cpu.encoder_cpus, forced_cpu.decoders) == (
        2,
        0.0,
        0.0,
        30,
    )
    tiny = Placement.for_cluster(cpus=1, gpus=0, nodes=1, device="auto")
    assert (tiny.encoders, tiny.decoders) == (1, 1)  # never no decoder


def test_a_file_another_node_cannot_see_is_not_visible_and_retried():
    failed = not_visible("/mnt/photos/a.jpg", "f00dfeed" * 7)
    assert failed.reason is ImageProblem.NOT_VISIBLE
    assert "/mnt/photos/a.jpg" in failed.detail and "f00dfeedf00d" in failed.detail and "same path" in failed.detail


def test_without_ray_the_message_names_the_extra(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    make_good_photos(photos)
    monkeypatch.setitem(sys.modules, "ray", None)  # an import of ray now fails as if it were not installed
    result = indexer("build", photos, "--index", tmp_path / "index", "--model", TINY_MODEL, "--quiet", "--ray")
    assert result.returncode == 2, result.stderr
    assert "ruphoto-search[cluster]" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "index").exists()  # a failed first build leaves nothing behind


def test_an_address_where_nothing_answers_fails_at_once(tmp_path):
    photos = tmp_path / "photos"
    make_good_photos(photos)
    started = time.monotonic()
    index = tmp_path / "index"
    result = indexer_process("build", photos, "--index", index, "--model", TINY_MODEL, "--ray", "127.0.0.1:9")
    assert result.returncode == 2 and "Nothing answers at 127.0.0.1:9" in result.stderr, result.stderr
    assert time.monotonic() - started < 60  # ray.init alone would wait for minutes
    assert not (tmp_path / "index").exists()


def _mixed_folder(photos: Path) -> None:
    """Good photos (PNG, JPEG, HEIC, EXIF-rotated, a non-UTF-8 name, two identical files) and the
    bad-file set of the indexer tests."""
    make_good_photos(photos)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(GOLDEN / "images" / "chelsea.png").convert("RGB").save(photos / "rotated.jpg", exif=exif)
    shutil.copy(GOLDEN / "images" / "rocket.jpg", os.path.join(os.fsencode(photos), b"caf\xe9.jpg"))
    import pillow_heif

    pillow_heif.register_heif_opener()
    Image.open(GOLDEN / "images" / "astronaut.png").convert("RGB").save(photos / "iphone.HEIC")
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "truncated.jpg").write_bytes((GOLDEN / "images" / "rocket.jpg").read_bytes()[:3000])
    (photos / "notes.jpg").write_text("это не картинка", encoding="utf-8")
    (photos / "huge.png").write_bytes(png_claiming(100_000, 100_000))


@pytest.mark.slow
def test_ray_on_this_machine_writes_the_local_engines_index(tmp_path):
    pytest.importorskip("ray.data", reason="build --ray needs the [cluster] extra")
    photos = tmp_path / "photos"
    _mixed_folder(photos)
    local, clustered = tmp_path / "local", tmp_path / "ray"
    assert indexer("build", photos, "--index", local, "--model", TINY_MODEL, "--quiet").returncode == 0
    result = indexer_process("build", photos, "--index", clustered, "--model", TINY_MODEL, "--quiet", "--ray")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"stage rates while busy: .*decode .*encode .*write", result.stdout), result.stdout

    def facts(index: Path) -> dict[str, tuple]:
        with sqlite3.connect(index / DATABASE_FILE) as db:
            found = db.execute("SELECT path, state, reason, detail, width, height, taken_at, camera FROM images")
            return {os.fsdecode(path): tuple(rest) for path, *rest in found}

    expected, got = facts(local), facts(clustered)
    assert got == expected  # the same paths, states, failure reasons and messages, metadata
    assert sum(state == "failed" for state, *_ in got.values()) == 4
    assert sorted(state for state, *_ in got.values()).count("copy") == 1
    local_rows, ray_rows = rows(local), rows(clustered)
    for path, (_, state, _, vector, *_) in local_rows.items():
        if state != "failed":
            difference = np.abs(np.frombuffer(vector, np.float32) - np.frombuffer(ray_rows[path][3], np.float32))
            assert difference.max() <= 1e-6, (path, difference.max())
    assert verify_index(clustered).ok


def _distinct_photos(folder: Path, count: int) -> None:
    """Distinct 1600×1200 JPEGs: big enough that decoding them exactly takes a while."""
    folder.mkdir(parents=True)
    source = Image.open(GOLDEN / "images" / "astronaut.png").convert("RGB").resize((1600, 1200))
    for i in range(count):
        source.rotate(i * 3.5).save(folder / f"img_{i:03d}.jpg", quality=85)


@pytest.fixture(scope="module")
def two_nodes():
    """A head and a worker node on this machine, two CPUs each, for the module's tests."""
    cluster_utils = pytest.importorskip("ray.cluster_utils", reason="build --ray needs the [cluster] extra")
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def _busy_actor_pid(kind: str) -> int | None:
    """A Ray Data actor of `kind` ('_Decoder' or '_Encoder') while it works on a batch (Ray names
    the process after the call it is running)."""
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    busy = [line.split()[0] for line in listing.splitlines() if f"MapBatches({kind})).submit" in line]
    return int(busy[0]) if busy else None


@pytest.mark.slow
def test_a_node_with_other_weights_stops_the_build_with_one_message(tmp_path, two_nodes):
    from indexer.engines import EngineSpec
    from indexer.engines.cluster import RayEngine
    from indexer.errors import ClusterError, ClusterProblem
    from indexer.model_choice import ModelChoice
    from indexer.scan import FoundFile
    from indexer.stages import StageTimes

    address = two_nodes.address
    photo = Path(shutil.copy(GOLDEN / "images" / "rocket.jpg", tmp_path / "rocket.jpg"))
    stat = photo.stat()
    # What the driver would have hashed had its weights been others than the nodes' own.
    choice = ModelChoice(str(TINY_MODEL), TINY_MODEL, "0" * 64, "stat", None)
    spec = EngineSpec(device="cpu", ray_address=address)
    started = time.monotonic()
    with pytest.raises(ClusterError) as raised, RayEngine.started(spec, choice) as engine:
        work = [FoundFile(str(photo), stat.st_size, stat.st_mtime_ns)]
        list(engine.row_batches(work, lambda hashes: {}, StageTimes()))
    assert "other weights" in str(raised.value) and "shared mount" in str(raised.value)
    assert raised.value.reason is ClusterProblem.NODE_REFUSED
    assert time.monotonic() - started < 120  # said, not retried for ever


# Enough photos that the build is still running when the test acts on it (the kill after 8 rows, the
# node taken away once both nodes have worked): with 48 and 72 a fresh-clone run on a fast machine saw
# builds that finished first.
KILLED_DRIVER_PHOTOS = 96
TWO_NODE_PHOTOS = 144


@pytest.mark.slow
def test_a_killed_driver_is_resumed_by_the_same_command(tmp_path, two_nodes):
    address = two_nodes.address
    photos, index = tmp_path / "photos", tmp_path / "index"
    _distinct_photos(photos, KILLED_DRIVER_PHOTOS)
    command = [sys.executable, "-m", "indexer", "build", str(photos), "--index", str(index), "--model", str(TINY_MODEL)]
    command += ["--quiet", "--batch-size", "4", "--checkpoint-every", "8", "--exact-decode", "--ray", address]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    written = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        try:
            with sqlite3.connect(index / DATABASE_FILE, timeout=5) as db:
                written = db.execute("SELECT count(*) FROM images").fetchone()[0]
        except sqlite3.Error:
            continue
        if written >= 8:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(30)
    assert process.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    assert 0 < written < KILLED_DRIVER_PHOTOS

    resumed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "unchanged 0" not in resumed.stdout  # it took up what the killed run had committed
    with sqlite3.connect(index / DATABASE_FILE) as db:
        paths = [row[0] for row in db.execute("SELECT path FROM images WHERE state = 'indexed'")]
    assert len(paths) == len(set(paths)) == KILLED_DRIVER_PHOTOS
    assert verify_index(index).ok


@pytest.mark.slow
def test_two_nodes_share_the_work_and_killed_actors_and_a_lost_node_lose_nothing(tmp_path, two_nodes, monkeypatch):
    """Runs last of the tests on `two_nodes`: it takes the worker node away."""
    address = two_nodes.address
    node_ids = {node.node_id for node in two_nodes.list_all_nodes()}
    worker_node = next(node for node in two_nodes.list_all_nodes() if node is not two_nodes.head_node)
    photos, index = tmp_path / "photos", tmp_path / "index"
    _distinct_photos(photos, TWO_NODE_PHOTOS)
    killed: dict[str, int] = {}

    def kill_one_of_each() -> None:
        for kind in ("_Decoder", "_Encoder"):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and kind not in killed:
                if (pid := _busy_actor_pid(kind)) is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed[kind] = pid
                time.sleep(0.02)

    killer = threading.Thread(target=kill_one_of_each, daemon=True)
    killer.start()
    import indexer.engines.cluster as cluster_engine

    seen_nodes: set[str] = set()  # where the batches handed over so far were decoded and encoded
    record_stages = cluster_engine._record_stages

    def watched(batch, stages):
        seen_nodes.update(map(str, batch["decode_node"]), map(str, batch["encode_node"]))
        record_stages(batch, stages)

    monkeypatch.setattr(cluster_engine, "_record_stages", watched)
    written = []

    def lose_the_worker_node_once_it_worked() -> bool:  # asked before each batch is written
        # Only the worker node's share is awaited: Ray places (and re-places, after the kills) the
        # actors as it likes, and once the worker is gone the head must do the rest anyway.
        written.append(1)
        if len(written) >= 4 and worker_node.node_id in seen_nodes and worker_node in two_nodes.list_all_nodes():
            two_nodes.remove_node(worker_node)
        return False

    options = BuildOptions(
        index_dir=index,
        model=str(TINY_MODEL),
        device="cpu",
        batch_size=4,
        fast_jpeg=False,
        progress=False,
        ray=address,
    )
    summary = build_index(photos, options, BuildHooks(stop_requested=lose_the_worker_node_once_it_worked))
    killer.join(5)
    assert set(killed) == {"_Decoder", "_Encoder"}, f"the build ended before both kills: {killed}"
    assert worker_node not in two_nodes.list_all_nodes(), f"the worker node never worked: {seen_nodes}"
    assert summary.indexed == TWO_NODE_PHOTOS and not summary.failed
    assert verify_index(index).ok
    table = rows(index)
    assert len(table) == TWO_NODE_PHOTOS and all(row[1] == "indexed" for row in table.values())
    # Every node the cluster has did some of it: the actors report where they ran.
    worked_on = summary.stages[DECODE].nodes | summary.stages[ENCODE].nodes
    assert worked_on == node_ids
    assert summary.stages[DECODE].images == TWO_NODE_PHOTOS and summary.stages[ENCODE].images == TWO_NODE_PHOTOS
