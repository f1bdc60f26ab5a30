"""Learn a youtokentome BPE vocabulary in ruCLIP's format (pad 0, unk 1, bos 2, eos 3)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import youtokentome

from search.clip.tokenizer import check_bpe_file
from search.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def train_bpe(lines: Iterable[str], output: Path, vocab_size: int) -> int:
    """Learn BPE merges from `lines` (lower-cased, as the tokenizer lower-cases queries) into
    `output`; returns the vocabulary size actually reached (a small corpus may run out of merges)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus.txt"
        corpus.write_text("\n".join(line.lower() for line in lines) + "\n", encoding="utf-8")
        youtokentome.BPE.train(
            data=str(corpus),
            model=str(output),
            vocab_size=vocab_size,
            coverage=1.0,  # keep every character: a rare letter must not become <UNK>
            n_threads=1,  # one thread: the merges (and so the token ids) are reproducible
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
        )
    return check_bpe_file(output)
