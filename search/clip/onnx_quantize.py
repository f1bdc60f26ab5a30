"""The image tower in int8 for ONNX Runtime: `--precision int8` on a CPU (no torch).

ONNX Runtime's dynamic quantization: the MatMul and Gemm weights stored in int8 with one scale per
output channel, the activations scaled per batch as they come, the rest (layer norms, softmax, the
pixel normalisation inside the graph) left in fp32. On CPUs with VNNI the int8 products run several
times the fp32 rate; the vectors are not exact (the cosine with fp32 is measured in BENCHMARKS.md and
held by tests/test_onnx.py). Made once per exported model, from image.onnx, beside it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from .onnx_files import OnnxFiles

log = logging.getLogger(__name__)


class _QuantizerNotes(logging.Filter):
    """The quantizer logs advice on the root logger (pre-process first, a uint8 input it skips):
    true of its own use, not the user's business."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname or "quantization" not in record.pathname


@contextmanager
def _quantizer_notes_hidden() -> Iterator[None]:
    root, notes = logging.getLogger(), _QuantizerNotes()
    root.addFilter(notes)
    try:
        yield
    finally:
        root.removeFilter(notes)


def quantize_image_tower(files: OnnxFiles) -> None:
    """Write files.image_int8_path from files.image_path (which must exist). Atomic: a run killed
    halfway leaves no int8 file, only a temporary one named by its process, which the next run
    removes once that process is gone."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    _remove_abandoned(files)
    work = files.folder / f".{files.image_int8_path.name}.{os.getpid()}.tmp"
    try:
        with _quantizer_notes_hidden():
            quantize_dynamic(files.image_path, work, weight_type=QuantType.QInt8, per_channel=True)
        with open(work, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(work, files.image_int8_path)
    finally:
        work.unlink(missing_ok=True)
    log.info("quantized the image tower to int8: %s", files.image_int8_path)


def _remove_abandoned(files: OnnxFiles) -> None:
    """Temporary files of quantizations whose process died (a killed build): a quarter of the
    model's size each."""
    for leftover in files.folder.glob(f".{files.image_int8_path.name}.*.tmp"):
        pid = leftover.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _process_alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or a platform without signal 0: leave its file alone
        return True
    return True
