"""A checkpoint folder (config.json + weights + bpe.model) -> a CLIP network with checked weights."""

from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path

import torch

from ..constants import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILES
from ..errors import CheckpointError
from ..i18n import _
from .config import ModelConfig
from .folder import find_weights
from .model import CLIP

log = logging.getLogger(__name__)

MAX_LISTED_KEYS = 5


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a weights file without executing code from it (weights_only / safetensors)."""
    fix = _("the file is damaged or incomplete: delete it and download the checkpoint again.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise CheckpointError(
            _("{path} could not be read ({name__}: {exc}); {fix}").format(
                path=path, name__=type(exc).__name__, exc=exc, fix=fix
            )
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint that wraps the weights
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(_("{path} does not hold a state dict of tensors; {fix}").format(path=path, fix=fix))
    return state


def check_state_dict(network: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Raise CheckpointError unless `state` has exactly the network's keys and shapes."""
    expected = {name: tuple(t.shape) for name, t in network.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{name} {tuple(state[name].shape)} != expected {expected[name]}"
        for name in sorted(set(expected) & set(state))
        if tuple(state[name].shape) != expected[name]
    ]
    problems = []
    for label, items in ((_("missing"), missing), (_("unexpected"), unexpected), (_("wrong shape"), mismatched)):
        if items:
            shown = ", ".join(items[:MAX_LISTED_KEYS])
            more = f" and {len(items) - MAX_LISTED_KEYS} more" if len(items) > MAX_LISTED_KEYS else ""
            problems.append(f"{len(items)} {label}: {shown}{more}")
    if problems:
        raise CheckpointError(
            _(
                "{source} does not match its config.json ({join}). The weights and config.json must come "
                "from the same ruCLIP checkpoint; re-download the folder."
            ).format(source=source, join="; ".join(problems))
        )


def load_network(folder: Path, config: ModelConfig) -> tuple[CLIP, Path]:
    """Build the network for `config` and load the folder's weights into it, strictly."""
    weights = find_weights(folder)
    if weights is None:
        raise CheckpointError(_("{folder} has no {join}.").format(folder=folder, join=" or ".join(WEIGHTS_FILES)))
    state = read_state_dict(weights)
    with torch.device("meta"):
        network = CLIP(config)  # no memory and no random init for weights about to be replaced
    check_state_dict(network, state, weights)
    network.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    log.debug("loaded %d tensors from %s", len(state), weights)
    return network.eval().requires_grad_(False), weights


def save_checkpoint(folder: Path, network: CLIP, bpe_model: Path) -> Path:
    """Write `network` as a published-format checkpoint folder: config.json, pytorch_model.bin, bpe.model.

    Used by the tests' random-weight checkpoints, the benchmarks and the demo model's training.
    """
    import json
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(network.config.to_dict(), indent=2), encoding="utf-8")
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    torch.save(state, folder / WEIGHTS_FILES[-1])
    if Path(bpe_model).resolve() != (folder / TOKENIZER_FILE).resolve():
        shutil.copyfile(bpe_model, folder / TOKENIZER_FILE)
    return folder
