"""BuildSummary: what a build did, counted by the runner (indexer/build.py), and its lines as the
CLI prints them (the watcher's rounds word it in one line of their own)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from search.commands import indexer_command
from search.i18n import _, ngettext

from .ocr import TextOutcome
from .plan import Plan
from .scan import ScanResult
from .stages import StageTimes


@dataclass
class BuildSummary:
    root: Path
    scanned: int = 0
    unchanged: int = 0
    new: int = 0
    changed: int = 0
    renamed: int = 0
    deleted: int = 0
    indexed: int = 0
    reused: int = 0  # of those indexed, identical to a photo already indexed: not encoded again
    labelled: int = 0  # photos given their tags and categories (indexer/label.py)
    tags_renewed: bool = False  # the vocabulary was embedded anew (a new vocabulary, threshold or model)
    texts: TextOutcome = field(default_factory=TextOutcome)  # the OCR stage's counts (indexer/ocr.py)
    printed: int = 0  # unchanged photos decoded again for their pictures' prints alone (indexer/prints.py)
    failed: Counter[str] = field(default_factory=Counter)
    still_failing: int = 0  # unchanged files that failed in an earlier build (not tried again)
    deletion_refused: str | None = None
    stopped: bool = False  # stop_requested ended it before every file was encoded
    unreadable_folders: list[str] = field(default_factory=list)
    skipped: str | None = None  # the scan's "skipped N files that are not images: ..." line
    seconds: float = 0.0
    total_indexed: int = 0
    stages: StageTimes = field(default_factory=StageTimes)

    def add_scan_and_plan(self, scan: ScanResult, plan: Plan) -> None:
        self.scanned, self.unreadable_folders = len(scan.files), scan.unreadable_folders
        self.skipped = scan.skipped_line()
        self.unchanged, self.new, self.changed = plan.unchanged, len(plan.new), len(plan.changed)
        self.renamed = len(plan.renamed)
        self.still_failing = plan.unchanged_failed
        self.deleted = 0 if plan.deletion_refused else len(plan.vanished)
        self.deletion_refused = plan.deletion_refused

    @property
    def changed_nothing(self) -> bool:
        """Whether the run found nothing to do: no file encoded, tried, moved, removed or decoded again."""
        return not (
            self.new or self.changed or self.renamed or self.deleted or self.indexed or self.failed or self.printed
        )

    def lines(self) -> list[str]:
        out = [
            _("scanned {scanned} files in {root}").format(scanned=self.scanned, root=self.root),
            *([f"  {self.skipped}"] if self.skipped else []),
            "  "
            + _("unchanged {unchanged}, new {new}, changed {changed}, renamed {renamed}, deleted {deleted}").format(
                unchanged=self.unchanged,
                new=self.new,
                changed=self.changed,
                renamed=self.renamed,
                deleted=self.deleted,
            ),
        ]
        # A run with nothing to do has no rate to show, and its "failed 0" would hide the files that
        # failed before and still do (they are unchanged, so not tried again): it says those instead.
        if self.changed_nothing:
            out.append("  " + _("nothing changed since the last build"))
        elif self.seconds and self.indexed:
            # A rate is shown only for photos that were encoded: "0.0 images/s" would say nothing.
            out.append(
                "  "
                + _("indexed {indexed} ({rate:.1f} images/s), failed {failed}").format(
                    indexed=self.indexed, rate=self.indexed / self.seconds, failed=sum(self.failed.values())
                )
            )
        else:
            out.append(
                "  "
                + _("indexed {indexed}, failed {failed}").format(indexed=self.indexed, failed=sum(self.failed.values()))
            )
        if self.reused:
            out.append(
                "    "
                + _("{reused} of them identical to photos already indexed: kept as copies, not encoded again").format(
                    reused=self.reused
                )
            )
        out += [f"    {count} × {_(reason)}" for reason, count in self.failed.most_common()]  # an ImageProblem
        if self.still_failing:
            out.append(
                "  "
                + ngettext(
                    "{count} file still fails, unchanged since an earlier build ({command} stats lists it)",
                    "{count} files still fail, unchanged since an earlier build ({command} stats lists them)",
                    self.still_failing,
                ).format(count=self.still_failing, command=indexer_command())
            )
        if self.tags_renewed and self.labelled:
            out.append(
                "  "
                + ngettext(
                    "tags: the vocabulary embedded for this model, {count} photo tagged",
                    "tags: the vocabulary embedded for this model, {count} photos tagged",
                    self.labelled,
                ).format(count=self.labelled)
            )
        out += self._text_lines()
        if self.printed:
            out.append(
                "  "
                + _("{printed} unchanged photos decoded again for their near-duplicate prints (not encoded)").format(
                    printed=self.printed
                )
            )
        if self.deletion_refused:
            out.append(
                "  "
                + _("deletions refused: {why} (use --allow-mass-deletion if it is real)").format(
                    why=self.deletion_refused
                )
            )
        out += ["  " + _("could not read folder {folder}").format(folder=folder) for folder in self.unreadable_folders]
        # The stage rates say which stage to give more cores; a run that decoded nothing (an
        # unchanged re-run, deletions only) has none to compare, so it shows none.
        decoded_any = self.indexed or sum(self.failed.values())
        if decoded_any and (rates := self.stages.line()) is not None:
            out.append(f"  {rates}")
        out.append(
            "  "
            + _("{total} images searchable; took {seconds:.1f} s").format(
                total=self.total_indexed, seconds=self.seconds
            )
        )
        return out

    def _text_lines(self) -> list[str]:
        texts = self.texts
        out = []
        if texts.read or texts.copied or texts.failed:
            out.append(
                "  "
                + _(
                    "text in photos: read {read} ({words} with words), {skipped} judged textless, {failed} failed"
                ).format(
                    read=texts.read + texts.copied, words=texts.with_words, skipped=texts.skipped, failed=texts.failed
                )
            )
        if texts.unavailable and texts.waiting:
            out.append(
                "  "
                + ngettext(
                    "the text of {count} photo is not read: {why}",
                    "the text of {count} photos is not read: {why}",
                    texts.waiting,
                ).format(count=texts.waiting, why=texts.unavailable)
            )
        return out
