"""The Ray engine (`build --ray [ADDRESS]`): decoding and encoding on a Ray cluster, through Ray Data.

    files to do ──decoder actors (CPU)──▶ 8-bit squares ──encoder actors (GPU, else CPU)──▶ vectors
                                                               ──streamed back in batches──▶ this process

This process keeps everything else (scan, plan, the one index writer, checkpoints, progress), so a
cluster build writes exactly the index a local one does. Ray Data streams: blocks flow through the two
actor pools with back-pressure, and this process pulls finished batches as it writes them, so its
memory does not grow with the collection.

Decoders are actors rather than plain tasks because each keeps a one-process DecodePool
(indexer/decode.py): the very decoding the local engine runs, with its crash, hang and memory isolation.
A file that kills Pillow kills that pool's process and fails alone with its reason; as a plain task it
would kill the Ray worker, and Ray would retry the whole block forever. What Ray retries is what dies
of its own: a killed actor or a lost node is restarted and its batch done again.

Photos must be at the same path on every node (a shared mount). A file a node cannot see fails with
the reason "not visible on a node" and is tried again on the next run, never taken for a deletion.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pickle
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search.clip.config import ModelConfig
from search.constants import CONFIG_FILE
from search.errors import ImageProblem, RuClipError
from search.i18n import _
from search.images.decoded import Decoded, Failed, HostSquare
from search.quiet import logger_quieted
from search.settings import settings

from ..decode import DecodePool
from ..encode import KnownVectors, Row, rows_of_batch
from ..errors import ClusterError, ClusterProblem
from ..scan import FoundFile
from ..stages import DECODE, ENCODE, StageTimes
from . import DEFAULT_BATCH_SIZE, EngineSpec

if TYPE_CHECKING:
    from ..model_choice import ModelChoice

log = logging.getLogger(__name__)

LOCAL = "local"  # --ray without an address: start Ray on this machine for the build's length
INSTALL_HINT = "pip install 'ruphoto-search[cluster]' (or: pip install 'ray[data]')"
_NO_PIXELS = np.zeros((0, 0, 3), np.uint8)
REACH_TIMEOUT_S = 3.0


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is a separate extra of Ray
    except ImportError as exc:
        raise ClusterError(
            _(
                "--ray needs Ray Data, which is not installed here ({value}): {INSTALL_HINT}. Install it "
                "on every node of the cluster too."
            ).format(value=exc.name or exc, INSTALL_HINT=INSTALL_HINT),
            ClusterProblem.NOT_INSTALLED,
        ) from None
    return ray


@dataclass(frozen=True)
class Placement:
    """How many actors of each kind, and what each one holds of the cluster."""

    decoders: int
    encoders: int
    encoder_gpus: float  # 1 on a cluster with GPUs, else 0 (CPU encoders)
    encoder_cpus: float  # 1 beside a GPU (it feeds the card); 0 for a CPU encoder, see for_cluster

    @classmethod
    def for_cluster(cls, cpus: float, gpus: float, nodes: int, device: str) -> Placement:
        """GPUs, when the cluster has them and the device allows: one encoder per GPU. Else one
        CPU encoder per node, whose torch threads share the node's cores with the decoders, as in the
        local engine; it reserves no CPU, so that when a node is lost its encoder can start again on
        any node still up (reserving one, it could wait for ever behind decoders holding them all).
        Decoders get the CPUs left, at least one."""
        if gpus >= 1 and device != "cpu":
            encoders, encoder_gpus, encoder_cpus = int(gpus), 1.0, 1.0
        else:
            encoders, encoder_gpus, encoder_cpus = max(1, nodes), 0.0, 0.0
        decoders = max(1, int(cpus) - encoders)
        return cls(decoders, encoders, encoder_gpus, encoder_cpus)


def _where() -> tuple[str, str]:
    """(node id, 'ip/pid'): who is running this, as the summary and the tests name it."""
    import ray

    return ray.get_runtime_context().get_node_id(), f"{ray.util.get_node_ip_address()}/{os.getpid()}"


class _Decoder:
    """A decoder actor: a one-process DecodePool, fed a batch of paths at a time."""

    def __init__(self, resolution: int, fast_jpeg: bool, timeout_s: float, driver_node: str):
        self.pool = DecodePool(resolution, 1, fast_jpeg=fast_jpeg, timeout_s=timeout_s)
        self.driver_node = driver_node
        self.node, self.name = _where()
        self.resolution = resolution

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = [os.fsdecode(bytes(path)) for path in batch["path"]]
        busy_before = self.pool.busy_s
        started = time.perf_counter()
        results = {result.path: result for result in self.pool.imap(paths)}
        elapsed = time.perf_counter() - started
        ordered = [self._seen_from_here(results[path]) for path in paths]
        decode_s = max(self.pool.busy_s - busy_before, 0.0) or elapsed  # the pool's own clock when it has one
        return _decoded_columns(ordered, self.resolution, self.node, self.name, decode_s / max(1, len(paths)))

    def _seen_from_here(self, result: Decoded | Failed) -> Decoded | Failed:
        """A file missing on another node than the one that scanned it is not visible here (no shared
        mount, or another mount point), which says nothing about whether it was deleted."""
        if isinstance(result, Failed) and result.reason is ImageProblem.VANISHED and self.node != self.driver_node:
            return not_visible(result.path, self.node)
        return result

    def __del__(self) -> None:
        self.pool.close()


def not_visible(path: str, node: str) -> Failed:
    return Failed(
        path,
        ImageProblem.NOT_VISIBLE,
        _(
            "{path}: not visible on node {value}; every node needs the photos at the same path (a "
            "shared mount). The file is tried again on the next build."
        ).format(path=path, value=node[:12]),
    )


def _decoded_columns(
    results: list[Decoded | Failed], resolution: int, node: str, worker: str, seconds_each: float
) -> dict[str, np.ndarray]:
    """One block of decode results: the squares as a tensor column, the rest pickled per row (paths
    and EXIF strings need not be valid UTF-8, which Arrow's strings require)."""
    pixels = np.zeros((len(results), resolution, resolution, 3), np.uint8)
    ok = np.zeros(len(results), bool)
    facts = []
    for i, result in enumerate(results):
        if isinstance(result, Decoded):
            pixels[i], ok[i] = result.square.pixels, True
            result = dataclasses.replace(result, square=HostSquare(_NO_PIXELS))
        facts.append(pickle.dumps(result))
    count = len(results)
    return {
        "facts": np.array(facts, dtype=object),
        "pixels": pixels,
        "ok": ok,
        "decode_node": np.array([node] * count),
        "decoded_by": np.array([worker] * count),
        "decode_s": np.full(count, seconds_each),
    }


class _Encoder:
    """An encoder actor: the chosen network, loaded once, checked to be the driver's weights."""

    def __init__(self, folder: str, name: str, fingerprint: str, device: str, precision: str):
        import torch

        from search.clip.encoder import load_model
        from search.clip.folder import file_fingerprint, find_weights
        from search.clip.hub import resolve_model

        self.node, self.name = _where()
        if device == "cpu" or not torch.cuda.is_available():
            torch.set_num_threads(os.cpu_count() or 1)
        # A model this node cannot load is handed back with the first batch, not raised: Ray restarts an
        # actor whose constructor fails, again and again, and the build would wait forever; and Ray Data
        # keeps only the text of an exception raised in a batch, not the error itself.
        self.problem: RuClipError | None = None
        try:
            here = Path(folder) if Path(folder).is_dir() else resolve_model(name)  # else the hub, on this node
            weights = find_weights(here)
            if weights is None or file_fingerprint(weights) != fingerprint:
                raise RuClipError(
                    _(
                        "Node {value} has other weights for model {name!r} than the machine running the build "
                        "({here}): put the model folder on the shared mount, or the same files on every node."
                    ).format(value=self.node[:12], name=name, here=here)
                )
            self.model = load_model(here, device=device, precision=precision)
        except RuClipError as exc:
            self.problem = exc

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        ok = batch["ok"].astype(bool)
        vectors = np.zeros((len(ok), 1 if self.problem else self.model.embed_dim), np.float32)
        if ok.any() and self.problem is None:
            vectors[ok] = self.model.encode_squares(np.ascontiguousarray(batch["pixels"][ok]))
        elapsed = time.perf_counter() - started
        count = len(ok)
        out = {key: batch[key] for key in ("facts", "ok", "decode_node", "decoded_by", "decode_s")}
        out.update(
            vector=vectors,
            encode_node=np.array([self.node] * count),
            encoded_by=np.array([self.name] * count),
            encode_s=np.full(count, elapsed / max(1, int(ok.sum()))) * ok,  # failures cost the encoder nothing
            problem=np.array([str(self.problem or "")] * count),
        )
        return out


class RayEngine:
    """Decodes and encodes a build's files on a Ray cluster; see the module's docstring."""

    def __init__(self, ray: Any, spec: EngineSpec, choice: ModelChoice, config: ModelConfig):
        self.ray, self.spec, self.choice, self.config = ray, spec, choice, config
        self.embed_dim = config.embed_dim
        resources = ray.cluster_resources()
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        self.placement = Placement.for_cluster(resources.get("CPU", 1), resources.get("GPU", 0), nodes, spec.device)
        self.driver_node = ray.get_runtime_context().get_node_id()

    @classmethod
    @contextmanager
    def started(cls, spec: EngineSpec, choice: ModelChoice) -> Iterator[RayEngine]:
        """Join the cluster at spec.ray_address (or start one here for "local") for the engine's length."""
        address = spec.ray_address if spec.ray_address is not None else LOCAL
        ray = _import_ray()
        config = ModelConfig.from_file(Path(choice.folder) / CONFIG_FILE)
        joined_here = not ray.is_initialized()  # a caller's own ray.init (a notebook) is kept as it is
        if joined_here:
            _connect(ray, address)
        try:
            _quiet_ray_data(ray)
            yield cls(ray, spec, choice, config)
        finally:
            if joined_here:
                ray.shutdown()

    def row_batches(self, work: list[FoundFile], known: KnownVectors, stages: StageTimes) -> Iterator[list[Row]]:
        files = {found.path: found for found in work}
        batches = self._dataset([found.path for found in work]).iter_batches(batch_size=None, batch_format="numpy")
        for batch in _cluster_errors_explained(batches):
            if problem := str(batch["problem"][0]):
                raise ClusterError(problem, ClusterProblem.NODE_REFUSED)
            results = [pickle.loads(facts) for facts in batch["facts"]]
            _record_stages(batch, stages)
            yield rows_of_batch(results, files, known, _handed_over(results, batch["vector"]))

    def _dataset(self, paths: list[str]) -> Any:
        ray, spec, placement = self.ray, self.spec, self.placement
        batch = spec.batch_size or DEFAULT_BATCH_SIZE
        items = [{"path": os.fsencode(path)} for path in paths]
        dataset = ray.data.from_items(items, override_num_blocks=max(1, min(math.ceil(len(items) / batch), 100_000)))
        dataset = dataset.map_batches(
            _Decoder,
            fn_constructor_kwargs=dict(
                resolution=self.config.image_resolution,
                fast_jpeg=spec.fast_jpeg,
                timeout_s=spec.timeout_s,
                driver_node=self.driver_node,
            ),
            batch_size=batch,
            batch_format="numpy",
            compute=_pool(ray, placement.decoders),
            num_cpus=1,
        )
        return dataset.map_batches(
            _Encoder,
            fn_constructor_kwargs=dict(
                folder=str(self.choice.folder),
                name=self.choice.name,
                fingerprint=self.choice.fingerprint,
                device=spec.device,
                precision=spec.precision,
            ),
            batch_size=batch,
            batch_format="numpy",
            compute=_pool(ray, placement.encoders),
            num_cpus=placement.encoder_cpus,
            num_gpus=placement.encoder_gpus,
        )


def _pool(ray: Any, size: int) -> Any:
    """`size` actors to begin with, and as few as one: a pool that must stay at full size cannot be
    placed again after a node is lost (its actors restart, find no CPUs, and the build would hang)."""
    return ray.data.ActorPoolStrategy(min_size=1, max_size=size, initial_size=size)


def _handed_over(results: list[Decoded | Failed], vectors: np.ndarray) -> Callable[[list[Decoded]], np.ndarray]:
    """What rows_of_batch asks the model for, answered from what the encoders returned."""
    vector_of = {result.path: vector for result, vector in zip(results, vectors, strict=True)}
    return lambda todo: np.stack([vector_of[result.path] for result in todo])


def _record_stages(batch: dict[str, np.ndarray], stages: StageTimes) -> None:
    for row in range(len(batch["ok"])):
        decoder = str(batch["decoded_by"][row])
        stages[DECODE].add(1, float(batch["decode_s"][row]), decoder, str(batch["decode_node"][row]))
        if batch["ok"][row]:
            stages[ENCODE].add(
                1, float(batch["encode_s"][row]), str(batch["encoded_by"][row]), str(batch["encode_node"][row])
            )


def _connect(ray: Any, address: str) -> None:
    """ray.init for a local Ray (LOCAL) or a running cluster, with one message when it cannot."""
    settings: dict[str, Any] = dict(logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False)
    if address != LOCAL:
        # The cluster runs this build's own code, whatever version its nodes have installed.
        import indexer
        import search

        settings["runtime_env"] = {"py_modules": [Path(search.__file__).parent, Path(indexer.__file__).parent]}
    if address != LOCAL:
        _check_reachable(address)
    # Ray's C++ core prints notes about its own internals (actor arguments in the object store) on the
    # build's stderr; real failures still reach this process as exceptions.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    # No usage reports: a photo collection's build has nothing to tell Ray's authors (and after a failed
    # run Ray Data's report queries a metrics server that is not there, printing its tracebacks).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        with logger_quieted("ray._private.authentication.authentication_token_setup"):  # "token auth is on"
            ray.init(address=address, **settings)  # "local": always a new Ray, never one already running here
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = _("on this machine") if address == LOCAL else _("at {address}").format(address=address)
        hint = (
            _("check that no other Ray is half-started here (ray stop), or run without --ray")
            if address == LOCAL
            else _(
                "is the cluster up (ray start --head on the head node) and is the address right? --ray "
                "alone starts Ray on this machine"
            )
        )
        raise ClusterError(
            _("Could not start or join Ray {where}: {exc}. {hint}.").format(where=where, exc=exc, hint=hint),
            ClusterProblem.CANNOT_JOIN,
        ) from None


def _check_reachable(address: str) -> None:
    """A host:port that nothing answers on fails here in seconds: ray.init would wait for it for minutes."""
    target = address.removeprefix("ray://")
    if target == "auto":  # Ray's own lookup: $RAY_ADDRESS, else the cluster `ray start` last started here
        target = settings().ray_address.removeprefix("ray://") or _last_started_here()
    host, _colon, port = target.rpartition(":")
    if not host or not port.isdigit():
        if address == "auto" and not target:
            raise ClusterError(
                _(
                    "--ray auto found no running Ray cluster here (no $RAY_ADDRESS, no `ray start` on this "
                    "machine). Start one (ray start --head), name its address (--ray HOST:6379), or use --ray "
                    "alone to start Ray on this machine for this build."
                ),
                ClusterProblem.NO_CLUSTER,
            )
        return  # a form Ray knows and this check does not: Ray says what is wrong with it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(
            _(
                "Nothing answers at {address} ({value}): is the cluster up (ray start --head on the head "
                "node) and is the address right (HOST:6379 for the head, ray://HOST:10001 for Ray Client)? "
                "--ray alone starts Ray on this machine. Nothing was changed."
            ).format(address=address, value=exc.strerror or exc),
            ClusterProblem.UNREACHABLE,
        ) from None


def _last_started_here() -> str:
    try:
        return Path(tempfile.gettempdir(), "ray", "ray_current_cluster").read_text().strip()
    except OSError:
        return ""


def _quiet_ray_data(ray: Any) -> None:
    """The build draws its own progress bar and summary; Ray Data's bars and per-run INFO lines would interleave."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
    logging.getLogger("ray.data._internal.execution.streaming_executor").setLevel(logging.WARNING)  # "finished"


def _cluster_errors_explained(batches: Iterator[dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
    """A failure of the pipeline itself (a cluster that went away, a worker's bug) as one message; the
    batches written before it stay, and a re-run resumes after them."""
    try:
        yield from batches
    except RuClipError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray wraps a worker's exception in its own types
        raise ClusterError(
            _(
                "The Ray pipeline failed: {exc}. The batches written so far are kept; run the same command "
                "again to go on."
            ).format(exc=_gist(exc)),
            ClusterProblem.PIPELINE_FAILED,
        ) from None


def _gist(exc: BaseException) -> str:
    """The line that says what went wrong: Ray puts a worker's coloured traceback in the message,
    whose last line is the exception itself."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
