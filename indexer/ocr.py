"""The OCR stage of a build: the text in the photos indexed since the last run, read by Tesseract
(search/ocr/engine.py) in isolated worker processes (indexer/decode.py's pool, as decoding is), its
words normalised for Russian (search/ocr/words.py) and stored for search (search/store/texts.py).

`--ocr auto` (the default) reads only the photos a cheap signal or a tag says may hold text
(indexer/text_signals.py) and records the others as skipped; `--ocr all` reads those too; `--ocr
off` runs no stage and keeps what was read. A photo is read once per content: an unchanged one
never again, an edited one again, a copy of one already read takes its text. Each finished file is
committed in small batches, so a killed run loses only the files in flight, and the record of how
far the texts reach is written last. Without Tesseract the build says so in one line and indexes
the rest; the photos wait for a build that has it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from search.constants import OCR_MODES
from search.errors import ImageProblem
from search.i18n import _

from .stages import OCR, StageTimes
from .text_signals import TEXT_TAG_GROUP, likely_text

if TYPE_CHECKING:
    from search.images.decoded import Failed
    from search.ocr.engine import RecognisedText
    from search.store import IndexStore
    from search.store.texts import TextCandidate, TextEntry

OCR_TIMEOUT_S = 120.0  # seconds one photo's text may take (a 50-Mpx poster full of small print)
COMMIT_EVERY = 32  # files read between two commits: a killed run reads at most these again


@dataclass(frozen=True)
class ReadTextJob:
    """Read one photo's text in a worker process: one Tesseract engine per worker, made at start."""

    def start(self) -> Callable[[str], RecognisedText | Failed]:
        # One thread per worker: the build runs one reader per core, and Tesseract's own OpenMP
        # threads would only fight them for the same cores.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        # Leptonica writes its complaints about odd pictures («Error in pixScanForForeground») straight to
        # file descriptor 2, between the build's progress lines; what matters comes back as a result.
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 2)
        os.close(quiet)
        from search.ocr.engine import TextReader, read_photo

        return partial(read_photo, TextReader())

    def crashed(self, path: str, exit_code: int | None) -> Failed:
        from search.images.decoded import Failed

        return Failed(
            path,
            ImageProblem.DECODER_CRASHED,
            _("{path}: the text reader died (exit code {code}) on it.").format(path=path, code=exit_code),
        )

    def timed_out(self, path: str, timeout_s: float) -> Failed:
        from search.images.decoded import Failed

        return Failed(
            path,
            ImageProblem.TIMED_OUT,
            _("{path}: reading its text took over {timeout_s:g} s.").format(path=path, timeout_s=timeout_s),
        )


@dataclass
class TextOutcome:
    """What the OCR stage did in one build."""

    read: int = 0  # photos read now
    with_words: int = 0  # of them, holding words above the confidence floor
    copied: int = 0  # photos given the text of an identical one already read
    skipped: int = 0  # judged textless by --ocr auto
    failed: int = 0
    waiting: int = 0  # photos that would have been read, but the engine is missing
    unavailable: str | None = None  # why the engine could not run (one line naming the fix)


def texts_key(mode: str) -> str:
    """What the recorded state of the texts depends on: the engine, its settings, the mode."""
    from search.ocr.engine import engine_key

    return f"{engine_key()}|{mode}"


def texts_are_wanted(mode: str) -> bool:
    """Whether this build's OCR stage has anything it could do: a mode that reads, and an engine."""
    from search.ocr.engine import ocr_problem

    return mode != "off" and ocr_problem() is None


def read_texts(
    store: IndexStore,
    mode: str,
    workers: int,
    stages: StageTimes,
    *,
    progress: bool = True,
    progress_min_files: int = 1,
    stop_requested: Callable[[], bool] | None = None,
) -> TextOutcome:
    """Read the text of the photos the mode asks for that have none for their present content."""
    from search.ocr.engine import engine_key, ocr_problem
    from search.store.schema import TextState

    assert mode in OCR_MODES, mode
    outcome = TextOutcome()
    if mode == "off":
        return outcome
    reader_key = engine_key()
    key = f"{reader_key}|{mode}"
    recorded, since = store.texts.read_up_to()
    if recorded != key:
        since = 0
    now = store.change_counter()
    candidates = store.texts.candidates(since, reader_key, with_skipped=mode == "all")
    # Before the texts of deleted rows are dropped: a copy that takes a deleted photo's place has its text.
    to_read, judged = _selected(store, candidates, mode, reader_key)
    problem = ocr_problem()
    if problem is not None:
        outcome.waiting, outcome.unavailable = len(to_read), str(problem)
        return outcome  # nothing recorded: a build with the engine reads them
    store.texts.forget(store.labels.rows_left_since(since))
    store.texts.write(judged)
    outcome.skipped = sum(1 for entry in judged if entry.state == TextState.SKIPPED)
    outcome.copied = len(judged) - outcome.skipped
    stopped = _read_into(
        store, to_read, reader_key, workers, stages, outcome, progress, progress_min_files, stop_requested
    )
    if not stopped:
        store.texts.record_read(key, now)
    return outcome


def _selected(
    store: IndexStore, candidates: list[TextCandidate], mode: str, reader_key: str
) -> tuple[list[TextCandidate], list[TextEntry]]:
    """The candidates to read, and the entries decided without reading: a copy of a content already
    read takes its text; under --ocr auto, a photo without a sign of text is skipped."""
    from search.store.schema import TextState
    from search.store.texts import TextEntry

    known = store.texts.known_texts([c.content_hash for c in candidates], reader_key)
    if mode == "auto":
        text_tags = frozenset(tag.name for tag in store.labels.tags() if tag.group == TEXT_TAG_GROUP)
        tags_of = store.labels.tags_of([c.id for c in candidates if c.content_hash not in known]) if text_tags else {}
    to_read: list[TextCandidate] = []
    judged: list[TextEntry] = []
    for candidate in candidates:
        was = known.get(candidate.content_hash)
        if was is not None:
            judged.append(
                TextEntry(
                    candidate.id,
                    candidate.content_hash,
                    was.state,
                    reader_key,
                    was.text,
                    was.confidence,
                    was.words,
                    was.detail,
                )
            )
        elif mode == "all" or likely_text(candidate, tags_of.get(candidate.id, ()), text_tags):
            to_read.append(candidate)
        else:
            judged.append(TextEntry(candidate.id, candidate.content_hash, TextState.SKIPPED, reader_key))
    return to_read, judged


def _read_into(
    store: IndexStore,
    to_read: list[TextCandidate],
    reader_key: str,
    workers: int,
    stages: StageTimes,
    outcome: TextOutcome,
    progress: bool,
    progress_min_files: int,
    stop_requested: Callable[[], bool] | None,
) -> bool:
    """Read the photos on the isolated pool, committing every COMMIT_EVERY; returns whether
    stop_requested stopped it before the end."""
    if not to_read:
        return False
    from tqdm import tqdm

    from .decode import IsolatedPool  # Pillow: only when there is something to read

    by_path = {candidate.path: candidate for candidate in to_read}
    shown = progress and len(to_read) >= max(1, progress_min_files)
    bar = tqdm(total=len(to_read), desc=_("reading text"), unit="img", disable=not shown, smoothing=0.1)
    pending: list[TextEntry] = []
    stopped = False
    pool = IsolatedPool(ReadTextJob(), min(workers, len(to_read)), timeout_s=OCR_TIMEOUT_S)
    try:
        for path, result in pool.imap_with_paths(list(by_path)):
            candidate = by_path[path]
            pending.append(_entry_of(candidate, result, reader_key, outcome))
            bar.update(1)
            if len(pending) >= COMMIT_EVERY:
                if stop_requested is not None and stop_requested():
                    stopped = True
                    break
                store.texts.write(pending)
                pending = []
        if pending and not stopped:
            store.texts.write(pending)
    finally:
        pool.close()
        bar.close()
        clock = stages[OCR]
        clock.images += pool.finished
        clock.busy_s += pool.busy_s
        clock.workers.update(f"reader {number}" for number in range(pool.workers))
    return stopped


def _entry_of(
    candidate: TextCandidate, result: RecognisedText | Failed, reader_key: str, outcome: TextOutcome
) -> TextEntry:
    from search.images.decoded import Failed
    from search.ocr.words import document_of
    from search.store.schema import TextState
    from search.store.texts import TextEntry

    if isinstance(result, Failed):
        outcome.failed += 1
        return TextEntry(candidate.id, candidate.content_hash, TextState.FAILED, reader_key, detail=result.detail)
    outcome.read += 1
    outcome.with_words += bool(result.words)
    return TextEntry(
        candidate.id,
        candidate.content_hash,
        TextState.READ,
        reader_key,
        text=result.text,
        confidence=result.confidence,
        words=document_of(result.text),
    )
