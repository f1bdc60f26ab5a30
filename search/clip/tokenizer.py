"""Russian text -> token ids, exactly as ruclip 0.0.2 does it (youtokentome BPE)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import youtokentome

from ..constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from ..errors import CheckpointError
from ..i18n import _

if TYPE_CHECKING:
    import torch


def check_bpe_file(path: Path) -> int:
    """Validate a youtokentome model file and return its vocabulary size.

    youtokentome reads whatever it is given without complaint: a truncated or random file loads
    as a "model" with garbage merges (seen: an empty file reports 32 630 tokens). So the text format
    is checked here first: `n_chars n_merges`, n_chars lines `codepoint id`, n_merges lines
    `left right merged`, and a last line with the special ids `unk pad bos eos`.
    """
    fix = _("re-download bpe.model from the model's page, or copy it from the original checkpoint.")
    try:
        text = path.read_bytes().decode("ascii")
    except FileNotFoundError:
        raise CheckpointError(
            _("{path} does not exist; a checkpoint folder needs bpe.model.").format(path=path)
        ) from None
    except UnicodeDecodeError:
        raise CheckpointError(
            _("{path} is not a youtokentome BPE model (binary data); {fix}").format(path=path, fix=fix)
        ) from None
    try:
        rows = [[int(v) for v in line.split()] for line in text.splitlines() if line.strip()]
        n_chars, n_merges = rows[0]
        chars, merges, specials = rows[1 : 1 + n_chars], rows[1 + n_chars : -1], rows[-1]
        if len(rows) != n_chars + n_merges + 2:
            raise ValueError(f"expected {n_chars + n_merges + 2} lines, found {len(rows)}")
        if any(len(r) != 2 for r in chars) or any(len(r) != 3 for r in merges) or len(specials) != 4:
            raise ValueError(_("malformed line"))
    except (ValueError, IndexError) as exc:
        raise CheckpointError(
            _("{path} is not a valid youtokentome BPE model ({exc}); {fix}").format(path=path, exc=exc, fix=fix)
        ) from None
    unk, pad, bos, eos = specials
    if (pad, unk, bos, eos) != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
        raise CheckpointError(
            _(
                "{path}: special token ids are pad={pad} unk={unk} bos={bos} eos={eos}; ruCLIP needs "
                "pad={PAD_ID} unk={UNK_ID} bos={BOS_ID} eos={EOS_ID}. This BPE model is not a ruCLIP "
                "tokenizer."
            ).format(
                path=path,
                pad=pad,
                unk=unk,
                bos=bos,
                eos=eos,
                PAD_ID=PAD_ID,
                UNK_ID=UNK_ID,
                BOS_ID=BOS_ID,
                EOS_ID=EOS_ID,
            )
        )
    vocab_size = n_chars + n_merges + 4
    ids = [r[1] for r in chars] + [v for r in merges for v in r]
    if ids and (min(ids) < 0 or max(ids) >= vocab_size):
        raise CheckpointError(
            _("{path} refers to token ids outside its vocabulary of {vocab_size}; {fix}").format(
                path=path, vocab_size=vocab_size, fix=fix
            )
        )
    return vocab_size


class Tokenizer:
    """Lower-case, BPE without dropout, truncate, wrap in bos/eos, pad with 0 to context_length."""

    def __init__(self, bpe_path: str | Path, context_length: int, vocab_size: int | None = None):
        path = Path(bpe_path)
        bpe_vocab = check_bpe_file(path)
        if vocab_size is not None and bpe_vocab > vocab_size:
            raise CheckpointError(
                _(
                    "{path} has {bpe_vocab} tokens but config.json says vocab_size={vocab_size}: the tokenizer "
                    "and the weights come from different checkpoints."
                ).format(path=path, bpe_vocab=bpe_vocab, vocab_size=vocab_size)
            )
        self._bpe = youtokentome.BPE(str(path))
        self.context_length = context_length
        self.vocab_size = bpe_vocab

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts -> LongTensor (N, context_length) of reference token ids."""
        import torch  # here: the ONNX text tower (search/clip/onnx_model.py) tokenises without torch

        return torch.from_numpy(self.encode_ids(texts))

    def encode_ids(self, texts: Sequence[str]) -> npt.NDArray[np.int64]:
        """Texts -> int64 array (N, context_length) of reference token ids."""
        if isinstance(texts, str):
            texts = [texts]
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
        ids = np.zeros((len(texts), self.context_length), dtype=np.int64)  # PAD_ID = 0
        if not texts:
            return ids
        pieces = self._bpe.encode(
            [text.lower() for text in texts], output_type=youtokentome.OutputType.ID, dropout_prob=0.0
        )
        for row, tokens in enumerate(pieces):
            tokens = [BOS_ID, *tokens[: self.context_length - 2], EOS_ID]
            ids[row, : len(tokens)] = tokens
        return ids
