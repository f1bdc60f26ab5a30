"""Text in photos (issue 25): which OCR engine reads Russian here, how well, how fast; how well the
stemmer joins a query's form to the written one; with --search, how well a search finds each photo.

    python benchmarks/ocr.py --count 120            # engines × kinds, the confidence floor, the stemmer
    python benchmarks/ocr.py --count 120 --search   # + recall@5 of a search by a word in another form

The photos are training/text_photos.py's (screenshots, receipts, signs on photo backgrounds, rotated
and low-contrast ones), made into a temporary folder. Word recall: the share of the words drawn on a
photo (words_of: lowercased, ё as е) that are among the words read from it, summed over the photos of
a kind. Precision: the share of the words read that were drawn. Seconds per image: wall time of one
engine on one core, decoding included, the engine already started.

Engines: tesserocr (ours: search/ocr/engine.py's TextReader with its preprocessing and skew retry, and
bare: the same engine on the decoded picture, no preprocessing), pytesseract (the tesseract CLI, one
process per image), RapidOCR (rapidocr-onnxruntime, its bundled PP-OCR models, when installed).
EasyOCR is not run: its models are downloaded on first use, and this machine reaches no network
beyond the package registries.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from search.ocr.words import matched_words, stem, words_of  # noqa: E402
from training.text_photos import KINDS, TextPhoto, make_text_photos  # noqa: E402

FLOORS = (0, 30, 45, 60, 70, 80, 90)


@dataclasses.dataclass
class Tally:
    drawn: int = 0
    found: int = 0
    read: int = 0
    right: int = 0
    seconds: float = 0.0
    photos: int = 0
    query_read: int = 0  # photos whose searched word was read

    def add(self, photo: TextPhoto, text: str, seconds: float) -> None:
        drawn, read = words_of(photo.text), words_of(text)
        drawn_set, read_set = set(drawn), set(read)
        self.drawn += len(drawn)
        self.found += sum(word in read_set for word in drawn)
        self.read += len(read)
        self.right += sum(word in drawn_set for word in read)
        self.seconds += seconds
        self.photos += 1
        self.query_read += bool(set(words_of(photo.query_word)) <= read_set)

    def row(self) -> str:
        recall = self.found / self.drawn if self.drawn else 0.0
        precision = self.right / self.read if self.read else 0.0
        per_image = self.seconds / self.photos if self.photos else 0.0
        searched = self.query_read / self.photos if self.photos else 0.0
        return f"{recall:6.3f} | {precision:9.3f} | {searched:13.3f} | {per_image:7.3f}"


# --- engines: each a function (photo path) -> recognised text, made by a factory (None: not here) --


def tesserocr_ours() -> Callable[[str], str] | None:
    from search.images import Failed
    from search.ocr.engine import TextReader, ocr_problem, read_photo

    if ocr_problem() is not None:
        return None
    reader = TextReader().__enter__()

    def read(path: str) -> str:
        result = read_photo(reader, path)
        return "" if isinstance(result, Failed) else result.text

    return read


def _words_and_confidences(api, image) -> list[tuple[str, float]]:  # noqa: ANN001
    import tesserocr

    api.SetImage(image)
    api.Recognize()
    iterator = api.GetIterator()
    found = []
    if iterator is None:
        return found
    while True:
        word = None if iterator.Empty(tesserocr.RIL.WORD) else iterator.GetUTF8Text(tesserocr.RIL.WORD)
        if word and word.strip():
            found.append((word.strip(), iterator.Confidence(tesserocr.RIL.WORD)))
        if not iterator.Next(tesserocr.RIL.WORD):
            return found


def tesserocr_bare() -> Callable[[str], str] | None:
    from search.images import load_image
    from search.ocr import engine

    if engine.ocr_problem() is not None:
        return None
    import tesserocr

    api = tesserocr.PyTessBaseAPI(path=str(engine.tessdata_dir()), lang=engine.LANGUAGES)

    def read(path: str) -> str:
        with load_image(path) as image:
            words = _words_and_confidences(api, image.convert("RGB"))
        return " ".join(word for word, confidence in words if confidence >= engine.MIN_WORD_CONFIDENCE)

    return read


def pytesseract_cli() -> Callable[[str], str] | None:
    try:
        import pytesseract
    except ImportError:
        return None
    if shutil.which("tesseract") is None:
        return None
    from search.images import load_image
    from search.ocr import engine

    def read(path: str) -> str:
        with load_image(path) as image:
            data = pytesseract.image_to_data(
                image.convert("RGB"), lang=engine.LANGUAGES, output_type=pytesseract.Output.DICT
            )
        pairs = zip(data["text"], data["conf"], strict=True)
        return " ".join(text for text, conf in pairs if text.strip() and float(conf) >= engine.MIN_WORD_CONFIDENCE)

    return read


def rapidocr() -> Callable[[str], str] | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    engine = RapidOCR()

    def read(path: str) -> str:
        result, _elapse = engine(path)
        return "\n".join(text for _box, text, _score in result or ())

    return read


ENGINES: dict[str, Callable[[], Callable[[str], str] | None]] = {
    "tesserocr (ours)": tesserocr_ours,
    "tesserocr bare": tesserocr_bare,
    "pytesseract (CLI)": pytesseract_cli,
    "RapidOCR (bundled PP-OCRv4 zh/en)": rapidocr,
}


def engine_tables(photos: Sequence[TextPhoto], engines: Sequence[str]) -> None:
    print("| engine | kind | word recall | precision | searched word | s/image |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in engines:
        reader = ENGINES[name]()
        if reader is None:
            print(f"| {name} | not installed here | | | | |")
            continue
        tallies = {kind: Tally() for kind in KINDS}
        total = Tally()
        for photo in photos:
            started = time.perf_counter()
            text = reader(str(photo.path))
            seconds = time.perf_counter() - started
            tallies[photo.kind].add(photo, text, seconds)
            total.add(photo, text, seconds)
        for kind, tally in tallies.items():
            if tally.photos:
                print(f"| {name} | {kind} ({tally.photos}) | {tally.row()} |")
        print(f"| {name} | **all** ({total.photos}) | {total.row()} |")
        sys.stdout.flush()


def floor_table(photos: Sequence[TextPhoto]) -> None:
    """Word recall and precision of our engine's first reading (no skew retry) by confidence floor."""
    from search.images import load_image
    from search.ocr import engine

    if engine.ocr_problem() is not None:
        return
    import tesserocr

    api = tesserocr.PyTessBaseAPI(path=str(engine.tessdata_dir()), lang=engine.LANGUAGES)
    readings = []
    for photo in photos:
        with load_image(str(photo.path)) as image:
            readings.append((photo, _words_and_confidences(api, engine._prepared(image))))
    print("\n| floor | word recall | precision | words kept |")
    print("| --- | --- | --- | --- |")
    for floor in FLOORS:
        tally = Tally()
        kept = 0
        for photo, words in readings:
            text = " ".join(word for word, confidence in words if confidence >= floor)
            kept += len(words_of(text))
            tally.add(photo, text, 0.0)
        recall, precision = tally.found / tally.drawn, tally.right / max(tally.read, 1)
        print(f"| {floor} | {recall:.3f} | {precision:.3f} | {kept} |")


def stemming_table(photos: Sequence[TextPhoto]) -> None:
    """The share of queries whose stem is the written word's (Snowball, two packages of it), and the
    share our matching joins (the same stem, a stem prefix, a fleeting vowel: matched_words)."""
    from training.text_lexicon import PRODUCTS, SCREEN, SIGNS

    pairs = [
        (entry.written, query) for group in (SCREEN, PRODUCTS, SIGNS) for entry in group for query in entry.queries
    ]
    stemmers: dict[str, Callable[[str], str]] = {"PyStemmer": stem}
    try:
        import snowballstemmer

        russian, english = snowballstemmer.stemmer("russian"), snowballstemmer.stemmer("english")
        stemmers["snowballstemmer"] = lambda word: (
            russian if any("а" <= c <= "я" for c in word) else english
        ).stemWord(word)
    except ImportError:
        pass
    print(f"\n{len(pairs)} (written, query) pairs of the lexicon (training/text_lexicon.py):\n")
    print("| stemmer | same stem | matched (prefix, fleeting vowel) |")
    print("| --- | --- | --- |")
    for name, stemmer in stemmers.items():
        same = sum(stemmer(words_of(w)[0]) == stemmer(words_of(q)[0]) for w, q in pairs)
        matched = sum(bool(matched_words(w, [q])) for w, q in pairs) if name == "PyStemmer" else 0
        print(f"| {name} | {same / len(pairs):.3f} ({same}) | {matched / len(pairs):.3f} ({matched}) |"
              if name == "PyStemmer" else f"| {name} | {same / len(pairs):.3f} ({same}) | |")  # fmt: skip
    misses = [(w, q) for w, q in pairs if not matched_words(w, [q])]
    print("\nnot matched: " + (", ".join(f"{w} ← {q}" for w, q in misses) or "none"))
    photo_misses = sum(not matched_words(photo.text, [photo.query]) for photo in photos)
    print(f"photos whose query does not match their own drawn text: {photo_misses} of {len(photos)}")


def search_recall(index_dir: Path, photos: Sequence[TextPhoto]) -> dict[str, float]:
    """Per kind, the share of photos among the first 5 hits of a search by their query word (another
    form than written), in an index that holds them among the demo photos."""
    import search

    index = search.open_index(index_dir, device="cpu")
    hits_at_5: dict[str, list[bool]] = {}
    for photo in photos:
        results = index.search(photo.query, k=5)
        found = any(Path(hit.path).resolve() == photo.path.resolve() for hit in results)
        hits_at_5.setdefault(photo.kind, []).append(found)
    return {kind: statistics.fmean(found) for kind, found in hits_at_5.items()}


def build_mixed_index(folder: Path, photos_folder: Path) -> Path:
    """An index of the text photos beside the demo collection (data/demo/photos), built by the real
    build with the demo model and OCR on every photo."""
    from indexer.build import BuildOptions, build_index

    collection = folder / "collection"
    shutil.copytree(REPO_ROOT / "data" / "demo" / "photos", collection / "demo")
    shutil.copytree(photos_folder, collection / "text")
    names = {field.name for field in dataclasses.fields(BuildOptions)}
    if "ocr" not in names:
        raise SystemExit("this build has no OCR stage yet (BuildOptions.ocr): --search needs issue 25's indexer")
    index = folder / "index"
    options = BuildOptions(index_dir=index, model="demo", device="cpu", workers=1, progress=False, ocr="all")
    build_index(collection, options)
    return index


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=120, help="photos to generate (the kinds in turn)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, of: " + ", ".join(ENGINES))
    parser.add_argument("--search", action="store_true", help="also build a mixed index and measure recall@5")
    args = parser.parse_args(argv)
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    flags = sorted({flag for flag in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16") if flag in cpu})
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "?")
    print(f"# {platform.python_version()}, {model}, flags {' '.join(flags)}\n")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        random.seed(args.seed)
        photos = make_text_photos(folder / "photos", args.count, seed=args.seed)
        engine_tables(photos, [name.strip() for name in args.engines.split(",") if name.strip()])
        floor_table(photos)
        stemming_table(photos)
        if args.search:
            index = build_mixed_index(folder, folder / "photos")
            print("\n| kind | recall@5 |\n| --- | --- |")
            for kind, recall in search_recall(index, photos).items():
                print(f"| {kind} | {recall:.3f} |")


if __name__ == "__main__":
    main()
