"""The ruCLIP architecture config, read from a checkpoint folder's `config.json`."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..constants import DEFAULT_MEAN, DEFAULT_STD
from ..errors import CheckpointError
from ..i18n import _

# ViT heads are not in config.json: the reference derives them as vision_width // 64.
VISION_HEAD_WIDTH = 64


@dataclass(frozen=True)
class ModelConfig:
    """The fields of a published ruCLIP `config.json` (mean/std optional there)."""

    embed_dim: int
    image_resolution: int
    vision_layers: int
    vision_width: int
    vision_patch_size: int
    context_length: int
    vocab_size: int
    transformer_width: int
    transformer_heads: int
    transformer_layers: int
    mean: tuple[float, float, float] = field(default=DEFAULT_MEAN)
    std: tuple[float, float, float] = field(default=DEFAULT_STD)

    @property
    def vision_heads(self) -> int:
        return self.vision_width // VISION_HEAD_WIDTH

    @property
    def grid_size(self) -> int:
        """Patches per side of the image."""
        return self.image_resolution // self.vision_patch_size

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config.json") -> ModelConfig:
        """Validate a parsed config.json; `source` names the file in error messages."""
        if not isinstance(raw, dict):
            raise CheckpointError(
                _("{source}: expected a JSON object, found {name__}.").format(source=source, name__=type(raw).__name__)
            )
        int_fields = [f.name for f in fields(cls) if f.name not in ("mean", "std")]
        missing = [name for name in int_fields if name not in raw]
        if missing:
            raise CheckpointError(
                _(
                    "{source} is missing the key(s) {join}. A ruCLIP config.json needs {join2} (mean and std "
                    "are optional); re-download the checkpoint."
                ).format(source=source, join=", ".join(missing), join2=", ".join(int_fields))
            )
        values: dict[str, Any] = {}
        for name in int_fields:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise CheckpointError(
                    _("{source}: {name} must be a positive integer, found {value!r}.").format(
                        source=source, name=name, value=value
                    )
                )
            values[name] = value
        for name, default in (("mean", DEFAULT_MEAN), ("std", DEFAULT_STD)):
            value = raw.get(name)
            if value is None:
                values[name] = default
                continue
            if (
                not isinstance(value, (list, tuple))
                or len(value) != 3
                or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
            ):
                raise CheckpointError(
                    _("{source}: {name} must be a list of 3 numbers, found {value!r}.").format(
                        source=source, name=name, value=value
                    )
                )
            values[name] = tuple(float(v) for v in value)
        if any(v <= 0 for v in values["std"]):
            raise CheckpointError(
                _("{source}: std values must be positive, found {value}.").format(source=source, value=values["std"])
            )
        config = cls(**values)
        config._check_shapes(source)
        return config

    def _check_shapes(self, source: str) -> None:
        if self.vision_heads < 1 or self.vision_width % self.vision_heads:
            raise CheckpointError(
                _(
                    "{source}: vision_width {vision_width} cannot be split into vision_width // "
                    "{VISION_HEAD_WIDTH} = {vision_heads} equal attention heads, as ruCLIP does."
                ).format(
                    source=source,
                    vision_width=self.vision_width,
                    VISION_HEAD_WIDTH=VISION_HEAD_WIDTH,
                    vision_heads=self.vision_heads,
                )
            )
        if self.transformer_width % self.transformer_heads:
            raise CheckpointError(
                _(
                    "{source}: transformer_width {transformer_width} is not divisible by transformer_heads "
                    "{transformer_heads}."
                ).format(
                    source=source, transformer_width=self.transformer_width, transformer_heads=self.transformer_heads
                )
            )
        if self.grid_size < 1:
            raise CheckpointError(
                _(
                    "{source}: image_resolution {image_resolution} is smaller than vision_patch_size "
                    "{vision_patch_size}."
                ).format(
                    source=source, image_resolution=self.image_resolution, vision_patch_size=self.vision_patch_size
                )
            )
        if self.context_length < 2:
            raise CheckpointError(_("{source}: context_length must be at least 2 (bos + eos).").format(source=source))

    @classmethod
    def from_file(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(
                _("{path} does not exist; a checkpoint folder needs config.json.").format(path=path)
            ) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(
                _("{path} is not valid JSON ({exc}); re-download the checkpoint.").format(path=path, exc=exc)
            ) from None
        return cls.from_dict(raw, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data


def _published(resolution: int, patch: int, large: bool) -> ModelConfig:
    # The two shapes of the family: ViT-B with a 512-wide text tower, ViT-L with a 768-wide one.
    return ModelConfig(
        embed_dim=768 if large else 512,
        image_resolution=resolution,
        vision_layers=24 if large else 12,
        vision_width=1024 if large else 768,
        vision_patch_size=patch,
        context_length=77,
        vocab_size=49408,
        transformer_width=768 if large else 512,
        transformer_heads=12 if large else 8,
        transformer_layers=12,
    )


# Architecture of each published checkpoint, so that tests and benchmarks can build full-size
# random-weight models without downloading anything. The real config.json always wins at load time.
PUBLISHED_CONFIGS: dict[str, ModelConfig] = {
    "ruclip-vit-base-patch32-224": _published(224, 32, large=False),
    "ruclip-vit-base-patch16-224": _published(224, 16, large=False),
    "ruclip-vit-large-patch14-224": _published(224, 14, large=True),
    "ruclip-vit-base-patch32-384": _published(384, 32, large=False),
    "ruclip-vit-large-patch14-336": _published(336, 14, large=True),
    "ruclip-vit-base-patch16-384": _published(384, 16, large=False),
}
