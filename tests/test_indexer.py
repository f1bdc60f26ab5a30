"""`python -m indexer` over real files, good and bad, on the tiny golden model: the CLI's main() in this
process (helpers.indexer), and a process of its own where only one shows it (kill -9 mid-build)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import search
from search.store import DATABASE_FILE

from .helpers import GOLDEN, REPO_ROOT, TINY_MODEL, fresh_picture_jpeg, indexer

# Each test builds real indexes through the CLI.
pytestmark = pytest.mark.slow

PHOTOS = GOLDEN / "images"  # astronaut, chelsea, camera, horse (PNG), rocket (JPEG), cell


def build(photos: Path, index: Path, *extra: str | Path) -> subprocess.CompletedProcess:
    return indexer("build", photos, "--index", index, "--model", TINY_MODEL, "--device", "cpu", "--quiet", *extra)


def rows(index: Path) -> dict[str, tuple]:
    """path -> (id, state, reason, vector bytes, width, height), read with plain sqlite3."""
    with sqlite3.connect(index / DATABASE_FILE) as db:
        found = db.execute("SELECT path, id, state, reason, vector, width, height FROM images").fetchall()
    return {os.fsdecode(path): tuple(rest) for path, *rest in found}


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height pixels, with one tiny data chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


def make_good_photos(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    names = ["astronaut.png", "chelsea.png", "camera.png", "rocket.jpg"]
    copied = [Path(shutil.copy(PHOTOS / name, folder / name)) for name in names]
    nested = folder / "2024" / "лето"
    nested.mkdir(parents=True)
    copied.append(Path(shutil.copy(PHOTOS / "horse.png", nested / "лошадь.png")))
    return copied


def test_bad_files_fail_alone_and_good_ones_are_indexed(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    good = make_good_photos(photos)
    upper = photos / "UPPER.JPG"
    Image.open(PHOTOS / "rocket.jpg").save(upper)
    good.append(upper)
    # A picture whose halves differ (white left, black right), stored sideways with EXIF
    # orientation 6 (rotate 90° clockwise to view): upright it is left/right, sideways top/bottom.
    upright = Image.new("RGB", (256, 128), (0, 0, 0))
    upright.paste((255, 255, 255), (0, 0, 128, 128))
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = photos / "rotated.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(rotated, quality=95, exif=exif)
    upright.save(photos / "upright_copy.jpg", quality=95)
    good += [rotated, photos / "upright_copy.jpg"]
    non_utf8 = os.path.join(os.fsencode(photos), b"caf\xe9.jpg")  # Latin-1 name, invalid UTF-8
    with open(non_utf8, "wb") as handle:
        handle.write((PHOTOS / "rocket.jpg").read_bytes())
    good.append(Path(os.fsdecode(non_utf8)))

    import pillow_heif

    pillow_heif.register_heif_opener()
    heic = photos / "iphone.HEIC"
    Image.open(PHOTOS / "astronaut.png").convert("RGB").save(heic)
    good.append(heic)
    dated = photos / "dated.jpg"
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D"
    exif.get_ifd(0x8769)[0x9003] = "2023:07:14 18:30:05"
    Image.open(PHOTOS / "rocket.jpg").save(dated, exif=exif)
    good.append(dated)
    (photos / "2024" / "loop").symlink_to(photos, target_is_directory=True)  # a symlink loop

    (photos / "empty.jpg").write_bytes(b"")
    (photos / "truncated.jpg").write_bytes((PHOTOS / "rocket.jpg").read_bytes()[:3000])
    (photos / "notes.jpg").write_text("это не картинка", encoding="utf-8")
    (photos / "huge.png").write_bytes(png_claiming(100_000, 100_000))
    (photos / "readme.txt").write_text("not an image suffix: never scanned")
    (photos / ".hidden").mkdir()
    shutil.copy(PHOTOS / "rocket.jpg", photos / ".hidden" / "secret.jpg")

    result = build(photos, index)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    table = rows(index)
    twins = {str(photos / "rocket.jpg"), os.fsdecode(non_utf8)}  # the same bytes: one photo and its copy
    for path in good:
        if str(path) not in twins:
            assert table[str(path)][1] == "indexed", (path, table.get(str(path)))
    assert sorted(table[path][1] for path in twins) == ["copy", "indexed"]
    reasons = {Path(p).name: r[2] for p, r in table.items() if r[1] == "failed"}
    assert reasons == {
        "empty.jpg": "not a readable image",
        "truncated.jpg": "not a readable image",
        "notes.jpg": "not a readable image",
        "huge.png": "too large",
    }
    assert not any("secret" in p or "readme" in p for p in table)
    assert f"indexed {len(good)}" in result.stdout and "failed 4" in result.stdout

    # Upright: the rotated file's vector is the upright picture's, not the sideways one's.
    def vector(path: Path) -> np.ndarray:
        return np.frombuffer(table[str(path)][3], dtype=np.float32)

    model = search.load_model(TINY_MODEL, device="cpu")
    sideways = model.encode_images([upright.transpose(Image.Transpose.ROTATE_90)])[0]
    to_upright = np.linalg.norm(vector(rotated) - vector(photos / "upright_copy.jpg"))
    to_sideways = np.linalg.norm(vector(rotated) - sideways)
    assert to_upright < 0.2 * to_sideways, (to_upright, to_sideways)
    assert table[str(rotated)][4:] == (upright.width, upright.height)

    with sqlite3.connect(index / DATABASE_FILE) as db:
        taken, camera = db.execute("SELECT taken_at, camera FROM images WHERE path = ?", (bytes(dated),)).fetchone()
    assert taken.startswith("2023-07-14 18:30:05") and camera == "Canon EOS 5D"

    verified = indexer("verify", "--index", index)
    assert verified.returncode == 0, verified.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_an_unreadable_file_is_recorded(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    make_good_photos(photos)
    locked = photos / "locked.jpg"
    shutil.copy(PHOTOS / "rocket.jpg", locked)
    locked.chmod(0)
    result = build(photos, index)
    assert result.returncode == 0, result.stderr
    assert rows(index)[str(locked)][2] == "permission denied"


def test_incremental_runs_see_every_kind_of_change(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    astronaut, chelsea, camera, rocket, horse = make_good_photos(photos)
    assert build(photos, index).returncode == 0
    before = rows(index)

    # Unchanged: garbage with the same size and mtime would fail if the build opened the file.
    stat = camera.stat()
    camera.write_bytes(b"\0" * stat.st_size)
    os.utime(camera, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = build(photos, index)
    assert again.returncode == 0 and "unchanged 5, new 0, changed 0" in again.stdout
    assert rows(index) == before

    # Delete one, change one, add one, rename one.
    astronaut.unlink()
    Image.open(PHOTOS / "cell.png").convert("RGB").save(chelsea, format="PNG")
    added = Path(shutil.copy(PHOTOS / "cell.png", photos / "new.png"))
    moved = photos / "2024" / "ракета.jpg"
    rocket.rename(moved)
    result = build(photos, index)
    assert result.returncode == 0, result.stderr
    assert "unchanged 2, new 1, changed 1, renamed 1, deleted 1" in result.stdout
    after = rows(index)
    assert str(astronaut) not in after and str(rocket) not in after
    assert after[str(added)][1] == "indexed"
    assert after[str(moved)][0] == before[str(rocket)][0], "a rename keeps the row"
    assert after[str(moved)][3] == before[str(rocket)][3], "a rename keeps the vector"
    assert after[str(chelsea)][3] != before[str(chelsea)][3], "a changed file is encoded again"
    assert after[str(camera)] == before[str(camera)], "same size and mtime: still never opened"
    assert indexer("verify", "--index", index).returncode == 0


def test_missing_or_emptied_root_deletes_nothing(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    make_good_photos(photos)
    assert build(photos, index).returncode == 0
    before = rows(index)

    gone = build(tmp_path / "unmounted", index)
    assert gone.returncode == 2 and "does not exist" in gone.stderr and "Traceback" not in gone.stderr

    hidden = tmp_path / "elsewhere"
    photos.rename(hidden)
    photos.mkdir()  # an empty mount point
    emptied = build(photos, index)
    assert emptied.returncode == 0, emptied.stderr
    assert "deletions refused" in emptied.stdout and "deleted 0" in emptied.stdout
    assert rows(index) == before

    # The disk comes back: everything is still there and nothing is re-encoded.
    photos.rmdir()
    hidden.rename(photos)
    back = build(photos, index)
    assert "unchanged 5" in back.stdout and rows(index) == before


def test_a_file_that_vanishes_and_returns_is_searchable_again(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    files = make_good_photos(photos)
    assert build(photos, index).returncode == 0
    keep = tmp_path / "aside.png"
    files[1].rename(keep)
    assert "deleted 1" in build(photos, index).stdout
    assert str(files[1]) not in rows(index)
    keep.rename(files[1])
    assert "new 1" in build(photos, index).stdout
    opened = search.open_index(index, device="cpu")
    hits = opened.search(image=files[1], k=1)
    assert hits[0].path == str(files[1]) and hits[0].score > 0.99
    assert len(opened) == len(files)


def test_kill_9_mid_build_then_resume_leaves_no_duplicates_or_orphans(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    photos.mkdir()
    source = Image.open(PHOTOS / "astronaut.png").convert("RGB").resize((96, 96))
    for i in range(160):  # distinct pictures: a shifted crop each
        source.rotate(i * 2.25).save(photos / f"img_{i:03d}.png")
    command = [sys.executable, "-m", "indexer", "build", str(photos), "--index", str(index), "--model", str(TINY_MODEL)]
    command += ["--device", "cpu", "--quiet", "--batch-size", "4", "--checkpoint-every", "8", "--workers", "1"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    indexed = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        try:
            with sqlite3.connect(index / DATABASE_FILE, timeout=5) as db:
                indexed = db.execute("SELECT count(*) FROM images").fetchone()[0]
        except sqlite3.Error:
            continue
        if indexed >= 40:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(30)
    assert process.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    assert 0 < indexed < 160

    resumed = build(photos, index)
    assert resumed.returncode == 0, resumed.stderr
    assert "new" in resumed.stdout
    table = rows(index)
    assert len(table) == 160 and all(r[1] == "indexed" for r in table.values())
    verified = indexer("verify", "--index", index)
    assert verified.returncode == 0, verified.stdout
    assert "160 indexed rows, 160 vectors" in verified.stdout


def test_verify_reports_a_broken_index(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    make_good_photos(photos)
    assert build(photos, index).returncode == 0
    with sqlite3.connect(index / DATABASE_FILE) as db:  # a vector silently changed in SQLite
        row_id, blob = db.execute("SELECT id, vector FROM images LIMIT 1").fetchone()
        flipped = (-np.frombuffer(blob, dtype=np.float32)).tobytes()
        db.execute("UPDATE images SET vector = ? WHERE id = ?", (flipped, row_id))
    result = indexer("verify", "--index", index)
    assert result.returncode == 1
    assert f"row {row_id}: FAISS and SQLite hold different vectors" in result.stdout


def test_search_command_and_json(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    make_good_photos(photos)
    assert build(photos, index).returncode == 0
    result = indexer("search", "рыжий кот", "--index", index, "-k", "3", "--json", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    lines = [__import__("json").loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and lines[0]["score"] >= lines[1]["score"] >= lines[2]["score"]
    missing = indexer("search", "кот", "--index", tmp_path / "nowhere")
    assert missing.returncode == 2 and "python -m indexer build PHOTOS --index" in missing.stderr


def test_help_teaches(tmp_path):
    result = indexer("build", "--help")
    assert result.returncode == 0
    for flag in ("--index", "--model", "--device", "--batch-size", "--workers", "--allow-mass-deletion"):
        assert flag in result.stdout


SELF = "python -m indexer"  # the CLI's hints name the program the user ran: here, as `python -m indexer`


def _demo_build(photos: Path, index: Path) -> subprocess.CompletedProcess:
    return indexer("build", photos, "--index", index, "--model", "demo", "--device", "cpu", "--quiet")


def test_a_run_that_changed_nothing_says_so_and_that_files_still_fail(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    photos.mkdir()
    (photos / "звезда.jpg").write_bytes(fresh_picture_jpeg("красный", "звезда"))
    for number in range(4):
        (photos / f"broken{number}.jpg").write_bytes(b"not a picture")
    first = _demo_build(photos, index)
    assert first.returncode == 0 and "indexed 1 (" in first.stdout and "failed 4" in first.stdout, first.stdout
    still = f"  4 files still fail, unchanged since an earlier build ({SELF} stats lists them)"
    assert still not in first.stdout.splitlines()  # they failed in this run: its own reasons say so

    again = _demo_build(photos, index)
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert "  unchanged 5, new 0, changed 0, renamed 0, deleted 0" in lines
    assert "  nothing changed since the last build" in lines and still in lines, again.stdout
    assert "images/s" not in again.stdout and "failed 0" not in again.stdout, again.stdout

    # A run that did something still says the old failures, beside its own count.
    (photos / "круг.jpg").write_bytes(fresh_picture_jpeg("синий", "круг"))
    added = _demo_build(photos, index)
    lines = added.stdout.splitlines()
    assert any(line.startswith("  indexed 1 (") and line.endswith("failed 0") for line in lines), added.stdout
    assert still in lines and "  nothing changed since the last build" not in lines


def test_stats_lists_the_failed_files_with_their_reasons_in_a_section_of_their_own(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    photos.mkdir()
    (photos / "звезда.jpg").write_bytes(fresh_picture_jpeg("красный", "звезда"))
    (photos / "копия звезды.jpg").write_bytes(fresh_picture_jpeg("красный", "звезда"))  # the same bytes
    broken = [photos / f"broken{number:02}.jpg" for number in range(12)]
    for path in broken:
        path.write_bytes(b"not a picture")
    huge = photos / "huge.png"
    huge.write_bytes(png_claiming(100_000, 100_000))
    assert _demo_build(photos, index).returncode == 0

    shown = indexer("stats", "--index", index)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[2:4] == ["photos     1 searchable, 13 failed", lines[3]] and lines[3].startswith("copies     1 ")
    start = next(number for number, line in enumerate(lines) if line.startswith("failed "))
    assert not any("×" in line for line in lines[:start])  # no reason under copies (or any other line)
    assert lines[start : start + 2] == ["failed     12 × not a readable image", "           1 × too large"]
    listed = lines[start + 2 :]
    assert len(listed) == 11, shown.stdout  # the ten most recent, and how many more
    assert listed[-1] == f"             … and 3 more ({SELF} stats --failed lists them all)"
    failed = {str(path): "not a readable image" for path in broken} | {str(huge): "too large"}
    for line in listed[:-1]:
        path, _, message = line.strip().partition(": ")
        assert path in failed and message.startswith(failed[path]), line

    every = indexer("stats", "--index", index, "--failed")
    assert every.returncode == 0, every.stderr
    everything = every.stdout.splitlines()[start + 2 :]
    assert {line.strip().partition(": ")[0] for line in everything} == set(failed), every.stdout
