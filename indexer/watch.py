"""`python -m indexer watch PHOTOS`: keep the index current while photos come, change, move and go.

The design reuses the build instead of applying events one by one. A round is an incremental
build of the whole folder (indexer.build.build_index): its scan and plan cost ~0.15 s for 200
photos and ~1.7 s for 100 000 (BENCHMARKS.md), and the plan already tells new, changed, renamed and
deleted files apart, with the deletion guard (an unmounted disk deletes nothing). Events only say
*when* to run a round:

- watchdog reports file-system events (inotify on Linux) for files and for folders created, moved
  or deleted; only those on paths the scan would look at count (the build's PhotoFilter: a photo
  suffix, no hidden part, not in the index folder);
- a round starts once no event came for `settle` seconds, so a camera import of 500 files is one
  round, not 500 (and a stream that never pauses still gets a round every `max_delay` seconds);
- a round also runs every `rescan_every` seconds without any event: network drives send none;
- the first round runs at start, so whatever changed while nothing watched is caught up.

The network stays loaded between rounds (BuildHooks.model_cache); the writer lock is taken per
round, so a `build` run by hand while watch is idle works as usual (and one that is running makes
the next round wait for it). If PHOTOS disappears (an unplugged disk, a network outage), watch says
so once, removes nothing, and carries on when the folder is back.

Stopping: Ctrl-C or SIGTERM only sets a flag. Idle, watch stops at once; during a round, the build
checks the flag before writing each batch (BuildHooks.stop_requested) and stops there: every
batch written so far is committed and checkpointed, the rest is left for the next run. So no
signal ever lands in the middle of a SQLite commit. A second Ctrl-C stops at once (a
KeyboardInterrupt, as in `build`: the batch in flight is rolled back, the committed ones are kept).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from search.commands import indexer_command
from search.errors import IndexStoreError, RuClipError, StoreProblem
from search.i18n import _

from . import model_choice
from .build import BuildHooks, BuildOptions, build_index, photo_filter
from .errors import BadOptionError, PhotoFolderError
from .model_choice import ModelCache
from .scan import PhotoFilter
from .summary import BuildSummary

if TYPE_CHECKING:  # watchdog itself is imported when watching starts: `python -m indexer build` never pays for it
    from watchdog.events import FileSystemEvent
    from watchdog.observers.api import BaseObserver

DEFAULT_SETTLE_S = 2.0
DEFAULT_RESCAN_EVERY_S = 300.0
TICK_S = 0.2  # how often the loop looks at its events, the folder and the stop flag
BUSY_RETRY_S = 5.0  # another build holds the index: look again this often
ROUND_PROGRESS_FROM = 50  # a round with at least this many files to encode shows a progress bar

# What a change to a file looks like to watchdog. Opening and reading (the decoders do) are not.
_CHANGES = frozenset({"created", "modified", "moved", "deleted", "closed"})
_FOLDER_CHANGES = frozenset({"created", "moved", "deleted"})  # "modified" on a folder: a file in it did


@dataclass(frozen=True)
class WatchOptions:
    """What `watch` is asked to do: the build each round runs, and when rounds run. Validated when made."""

    build: BuildOptions = field(default_factory=BuildOptions)
    settle_s: float = DEFAULT_SETTLE_S  # a round starts once no event came for this long
    rescan_every_s: float = DEFAULT_RESCAN_EVERY_S  # a round also runs this often without events
    max_delay_s: float | None = None  # None: max(30 s, 10 × settle)

    def __post_init__(self) -> None:
        for name in ("settle_s", "rescan_every_s") + (("max_delay_s",) if self.max_delay_s is not None else ()):
            if not getattr(self, name) > 0:
                raise BadOptionError(
                    _("{name} must be a number of seconds above 0, not {value!r}.").format(
                        name=name, value=getattr(self, name)
                    )
                )

    @property
    def longest_wait_s(self) -> float:
        return self.max_delay_s if self.max_delay_s is not None else max(30.0, 10 * self.settle_s)


class EventLog:
    """What watchdog reported since the last round: when the first and the last relevant event came.

    A watchdog event handler (its observer calls `dispatch`, in its own thread); read by the main
    loop, under a lock."""

    def __init__(self, photos: PhotoFilter):
        self.photos = photos
        self._lock = threading.Lock()
        self._first: float | None = None
        self._last: float | None = None

    def dispatch(self, event: FileSystemEvent) -> None:
        """Every event watchdog reports comes here (in its thread); the relevant ones are noted."""
        folder = event.is_directory
        if event.event_type not in (_FOLDER_CHANGES if folder else _CHANGES):
            return
        paths = (os.fsdecode(path) for path in (event.src_path, event.dest_path) if path)
        if any(self.photos.looks_at(path, folder) for path in paths):
            self.note()

    def note(self, when: float | None = None) -> None:
        when = time.monotonic() if when is None else when
        with self._lock:
            self._first = when if self._first is None else self._first
            self._last = when

    def due(self, now: float, settle_s: float, longest_wait_s: float) -> bool:
        """Events are waiting, and either none came for `settle_s` or the first waited `longest_wait_s`."""
        with self._lock:
            if self._first is None or self._last is None:
                return False
            return now - self._last >= settle_s or now - self._first >= longest_wait_s

    def take(self) -> None:
        """A round starts: what it will see covers every event so far."""
        with self._lock:
            self._first = self._last = None


class StopFlag:
    """Set by SIGINT or SIGTERM. The handler only sets a flag (it never raises inside a commit); a
    second signal while a round is running raises KeyboardInterrupt, for a user who will not wait."""

    def __init__(self) -> None:
        self.requested = False
        self.in_round = False

    def __call__(self) -> bool:
        return self.requested

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and self.in_round:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _identity(root: Path) -> tuple[int, int] | None:
    """(device, inode) of the folder, or None when it is not there: a remounted disk or a folder
    put back in place is another identity, and the observer must be armed on it again."""
    try:
        info = os.stat(root)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if os.path.isdir(root) else None


def round_line(summary: BuildSummary) -> str | None:
    """One line for a round that changed something ("+3 new, 1 changed, ...; 1234 searchable (0.8 s)"),
    or None when it changed nothing (a rescan that found nothing new says nothing)."""
    parts = [
        text
        for count, text in (
            (summary.new, _("+{new} new").format(new=summary.new)),
            (summary.changed, _("{changed} changed").format(changed=summary.changed)),
            (summary.renamed, _("{renamed} renamed").format(renamed=summary.renamed)),
            (summary.deleted, _("{deleted} deleted").format(deleted=summary.deleted)),
        )
        if count
    ]
    failed = sum(summary.failed.values())
    if failed:
        parts.append(
            _("{failed} could not be read ({command} stats says why)").format(failed=failed, command=indexer_command())
        )
    if not parts:
        return None
    return _("{changes}; {total_indexed} searchable ({seconds:.1f} s)").format(
        changes=", ".join(parts), total_indexed=summary.total_indexed, seconds=summary.seconds
    )


class SaidOnce(logging.Filter):
    """Lets a record through only when its message is not the one it let through last. Every round's
    build chooses its model again and warns again when the index's model is not the configured one
    (model_choice): watch says that once per session, and again only if it changes."""

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message == self.last:
            return False
        self.last = message
        return True


class Watcher:
    """The loop: rounds when events settle, on a timer, and when the folder comes back."""

    def __init__(
        self,
        photos: Path,
        options: WatchOptions,
        say: Callable[[str], None],
    ):
        self.root = Path(os.path.abspath(photos))
        self.options = options
        self.say = say
        self.stop = StopFlag()
        # Each round's build: the network kept loaded between rounds, stopped by the flag before a batch.
        self.hooks = BuildHooks(model_cache=ModelCache(), stop_requested=self.stop)
        self.events = EventLog(photo_filter(self.root, Path(options.build.index_dir).resolve()))
        self.observer: BaseObserver | None = None
        self.identity: tuple[int, int] | None = None
        self.up_to_date_as_of: datetime | None = None  # the start of the last round that finished
        self.round_stopped = False
        self.away = False  # the folder is gone (said once), until it is back
        self._notes: set[str] = set()  # what the last round noted (deletions refused ...): said when new
        self._problems: set[str] = set()  # why rounds could not run: each said once, until a round runs

    def run(self) -> int:
        said_once = SaidOnce()
        model_choice.log.addFilter(said_once)
        with self.stop.installed():
            try:
                if not self._first_round():
                    return self._stopped()
                self.say(
                    _(
                        "watching {root} (a change is indexed {settle_s:g} s after the last event; a full rescan "
                        "every {rescan_every_s:g} s); Ctrl-C to stop"
                    ).format(root=self.root, settle_s=self.options.settle_s, rescan_every_s=self.options.rescan_every_s)
                )
                self._loop()
            finally:
                self._disarm()
                model_choice.log.removeFilter(said_once)
        return self._stopped()

    def _first_round(self) -> bool:
        """The catch-up build at start, with the usual summary. False when stopped before it ran."""
        while not self.stop():
            summary = self._round(first=True)
            if summary is not None:
                self.say("\n".join(summary.lines()))
                self._notes = set(self._notes_of(summary))  # said in the summary: not again next round
                return True
            self._sleep(BUSY_RETRY_S)  # another build holds the index: said once, try again
        return False

    def _loop(self) -> None:
        self._arm()
        next_rescan = time.monotonic() + self.options.rescan_every_s
        retry_at: float | None = None
        while not self.stop():
            time.sleep(TICK_S)
            now = time.monotonic()
            identity = _identity(self.root)
            if identity is None:
                if not self.away:
                    self.say(
                        _("{root} is not reachable; waiting for it to come back; nothing removed").format(
                            root=self.root
                        )
                    )
                    self.away = True
                self._disarm()
                self.identity = None  # whatever is there when it is back is watched afresh
                continue
            back = identity != self.identity
            if back:  # back after an outage, or remounted: watch the folder that is there now
                self._disarm()
                self._arm()
                if self.away:
                    self.say(_("{root} is back; catching up").format(root=self.root))
                    self.away = False
            due = back or self.events.due(now, self.options.settle_s, self.options.longest_wait_s)
            due = due or now >= next_rescan or (retry_at is not None and now >= retry_at)
            if not due:
                continue
            self.events.take()
            next_rescan = now + self.options.rescan_every_s
            summary = self._round(first=False)
            retry_at = now + BUSY_RETRY_S if summary is None else None
            if summary is not None:
                self._report(summary)

    def _round(self, *, first: bool) -> BuildSummary | None:
        """One incremental build. None when it could not run now (another build holds the index,
        the folder is gone, or an error that was said and is retried at the next change)."""
        started = datetime.now()
        hooks = replace(self.hooks, progress_min_files=1 if first else ROUND_PROGRESS_FROM)
        self.stop.in_round = True
        try:
            summary = build_index(self.root, self.options.build, hooks)
        except IndexStoreError as exc:
            if exc.reason is StoreProblem.BUSY:
                self._once(_("{exc} (watch waits for it)").format(exc=exc))
                return None
            if first:
                raise  # at start, every problem is the build's: one message, exit 2
            self._once(_("error: {exc} (still watching; tried again at the next change)").format(exc=exc))
            return None
        except PhotoFolderError:
            if first:
                raise
            return None  # the loop sees the folder gone (or unreadable) and says so
        except RuClipError as exc:
            if first:
                raise
            self._once(_("error: {exc} (still watching; tried again at the next change)").format(exc=exc))
            return None
        finally:
            self.stop.in_round = False
        self.round_stopped = summary.stopped
        if not summary.stopped:
            self.up_to_date_as_of = started
        self._problems.clear()  # a round ran: a problem that comes back is said again
        return summary

    def _report(self, summary: BuildSummary) -> None:
        """The round's line, and its notes that the previous round did not already give."""
        if (line := round_line(summary)) is not None:
            self.say(f"{datetime.now():%H:%M:%S} {line}")
        notes = self._notes_of(summary)
        for note in notes:
            if note not in self._notes:
                self.say(note)
        self._notes = set(notes)

    @staticmethod
    def _notes_of(summary: BuildSummary) -> list[str]:
        notes = [_("could not read folder {folder}").format(folder=folder) for folder in summary.unreadable_folders]
        if summary.deletion_refused:
            notes.append(_("deletions refused: {deletion_refused}").format(deletion_refused=summary.deletion_refused))
        return notes

    def _once(self, problem: str) -> None:
        if problem not in self._problems:
            self._problems.add(problem)
            self.say(problem)

    def _arm(self) -> None:
        """Watch the folder that is at the root's path now (recursively)."""
        from watchdog.observers import Observer  # inotify on Linux, FSEvents on macOS, ...

        self.identity = _identity(self.root)
        observer = Observer()
        observer.schedule(self.events, str(self.root), recursive=True)
        try:
            observer.start()
        except OSError as exc:
            if _identity(self.root) is None:
                self.identity = None  # gone meanwhile: the loop says so, and arms again when it is back
                return
            # e.g. the inotify watch limit: the rescan still catches every change, later
            self._once(
                _(
                    "cannot watch {root} for events ({value}; on Linux raise fs.inotify.max_user_watches); "
                    "changes are found by the rescan every {rescan_every_s:g} s instead"
                ).format(root=self.root, value=exc.strerror or exc, rescan_every_s=self.options.rescan_every_s)
            )
            return
        self.observer = observer

    def _disarm(self) -> None:
        observer, self.observer = self.observer, None
        if observer is not None:
            observer.stop()
            observer.join(5)

    def _sleep(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while not self.stop() and time.monotonic() < until:
            time.sleep(TICK_S)

    def _stopped(self) -> int:
        when = f"{self.up_to_date_as_of:%H:%M:%S}" if self.up_to_date_as_of else None
        if self.round_stopped:
            self.say(
                _(
                    "stopped watching in the middle of a round: every batch it wrote is kept; the rest is "
                    "indexed when watch or build runs next"
                )
                + (_("; index up to date as of {when} before it").format(when=when) if when else "")
            )
        elif when is not None:
            self.say(_("stopped watching; index up to date as of {when}").format(when=when))
        else:
            self.say(_("stopped watching before the first round ran; nothing was changed"))
        return 0


def watch(
    photos: Path,
    options: WatchOptions,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> int:
    """Keep the index of `photos` current until Ctrl-C or SIGTERM; returns the exit code (0)."""
    return Watcher(photos, options, say).run()
