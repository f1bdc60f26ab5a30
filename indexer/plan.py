"""Scan result + the index's known rows -> what a build must do: new, changed, renamed, vanished,
unchanged; and whether deleting the vanished rows is safe.

No I/O but one: comparing (path, size, mtime) opens no image; only a new file whose size matches a
vanished photo's is hashed, to recognise a rename or move and keep its vector.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field

from search.i18n import _
from search.images.facts import file_hash
from search.store import KnownRow

from .scan import FoundFile

# A sweep that would delete more than this share of a root's photos (and at least the count) is
# refused: an unmounted disk or a network outage looks exactly like a mass deletion.
MASS_DELETION_SHARE = 0.5
MASS_DELETION_MIN_FILES = 20


@dataclass
class Plan:
    unchanged: int = 0
    unchanged_failed: int = 0  # of the unchanged, files that failed before and are not tried again
    new: list[FoundFile] = field(default_factory=list)
    changed: list[tuple[FoundFile, int]] = field(default_factory=list)  # (file, row id)
    renamed: list[tuple[FoundFile, int]] = field(default_factory=list)  # (file at its new path, row id)
    vanished: list[int] = field(default_factory=list)  # row ids
    # Unchanged indexed files without the picture's print (an older schema, the GPU route): decoded
    # again for the print alone, their vectors kept.
    unprinted: list[tuple[FoundFile, int]] = field(default_factory=list)  # (file, row id)
    deletion_refused: str | None = None  # why the vanished rows are kept, when they are

    @property
    def to_decode(self) -> list[FoundFile]:
        return [*self.new, *(found for found, _ in self.changed)]

    @property
    def changes_anything(self) -> bool:
        """Whether the index must be written: files to encode, rows to move, or deletions allowed."""
        return bool(
            self.new or self.changed or self.renamed or self.unprinted or (self.vanished and not self.deletion_refused)
        )


def make_plan(found: list[FoundFile], known: dict[bytes, KnownRow], *, allow_mass_deletion: bool = False) -> Plan:
    """Compare a scan with the rows the index knows under the same folder (keyed by path bytes)."""
    plan = Plan()
    not_seen = dict(known)  # what is left in it at the end vanished
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # os.fsencode's, inlined
    for item in found:
        row = not_seen.pop(item.path.encode(encoding, errors), None)
        if row is None:
            plan.new.append(item)
        elif row.size == item.size and row.mtime_ns == item.mtime_ns and not row.retry:
            plan.unchanged += 1
            plan.unchanged_failed += not row.indexed
            if row.unprinted:
                plan.unprinted.append((item, row.id))
        else:
            plan.changed.append((item, row.id))
    vanished = list(not_seen.values())

    # Renames: a new file with the size and content of a vanished indexed photo is that photo.
    by_size: dict[int, list[KnownRow]] = defaultdict(list)
    for row in vanished:
        if row.indexed and row.content_hash:
            by_size[row.size].append(row)
    if by_size:
        still_new = []
        for item in plan.new:
            candidates = by_size.get(item.size)
            match = None
            if candidates:
                try:
                    digest = file_hash(item.path)
                except OSError:
                    digest = None
                match = next((row for row in candidates if row.content_hash == digest), None)
            if match is None:
                still_new.append(item)
            else:
                candidates.remove(match)
                plan.renamed.append((item, match.id))
        plan.new = still_new
        reused = {row_id for _, row_id in plan.renamed}
        vanished = [row for row in vanished if row.id not in reused]

    plan.vanished = [row.id for row in vanished]
    if plan.vanished and not allow_mass_deletion:
        if not found:
            plan.deletion_refused = _(
                "the folder has no images now but the index knows {known}: an unmounted disk or an outage "
                "looks like this, so nothing was removed"
            ).format(known=len(known))
        elif len(plan.vanished) >= MASS_DELETION_MIN_FILES and len(plan.vanished) > MASS_DELETION_SHARE * len(known):
            plan.deletion_refused = _(
                "{vanished} of {known} indexed files vanished at once, so nothing was removed"
            ).format(vanished=len(plan.vanished), known=len(known))
    return plan
