"""CollectionLabels: the tags and categories of one index, as the API, the CLI and the page use them.

    labels = search.open_labels("data/index")          # no model loaded until one is needed
    labels.tags()                                       # every tag with its count and cover photo
    labels.add_category("Барсик", examples=[12, 40, "/photos/cat.jpg"])
    labels.correct_category("Барсик", not_examples=[77])    # «не то»: retrained at once

Tags come from the build (indexer/label.py); a user's own tag (`add_tag`) is embedded and applied to
every photo at once. A category is a linear probe (search/classify/category.py) fitted on the
stored vectors in about a second and applied to the whole collection; the build applies it to
photos that come later. A category fitted on another model's vectors is never applied: using it
is a LabelError (OTHER_MODEL).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..classify.category import background_sample, train_category
from ..classify.probe import ProbeUnavailable
from ..classify.tag_vocabulary import USER_GROUP
from ..commands import indexer_command
from ..errors import LabelError, LabelProblem
from ..i18n import _
from ..settings import settings
from ..store import IndexStore
from ..store.labels import CategoryRecord, TagSource
from .apply import ScaledTextEncoder, embed_tag, members_of, stored_tag_vectors, write_tags
from .results import CategorySummary, Member, TagSummary

Example = int | str | os.PathLike[str]  # an indexed photo's id or path
NAME_LIMIT = 80  # characters of a tag's or category's name


def _clean_name(name: str, what: str) -> str:
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > NAME_LIMIT or "|" in cleaned:
        raise LabelError(
            _("A {what} name is 1 to {limit} characters without «|»; got {name!r}.").format(
                what=what, limit=NAME_LIMIT, name=name
            ),
            LabelProblem.BAD_NAME,
        )
    return cleaned


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return _(" Did you mean: {names}?").format(names=", ".join(close)) if close else ""


class CollectionLabels:
    """The tags and categories of one index (see the module's docstring). Thread-safe as IndexStore is."""

    def __init__(self, store: IndexStore, model: Callable[[], ScaledTextEncoder], fingerprint: str):
        self._store = store
        self._model = model  # called only when text must be embedded (a user's tag, a category's words)
        self.fingerprint = fingerprint
        self._owned: IndexStore | None = None  # the store open_labels opened, closed by close()
        self._tags: tuple[tuple[int, int], tuple[TagSummary, ...]] | None = None  # (counters, tags())

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> CollectionLabels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- tags ------------------------------------------------------------------------------------

    def tags(self) -> list[TagSummary]:
        """Every tag, the vocabulary's in its order then the user's own, with counts and covers.

        Counted again only when a photo or a label changed since the last call: the page asks on
        every interaction, and counting a large collection's tags takes a good part of a second."""
        key = (self._store.change_counter(), self._store.labels.changes())
        cached = self._tags
        if cached is not None and cached[0] == key:
            return list(cached[1])
        tags = [
            TagSummary(tag.name, tag.group, tag.count, tag.cover_id, tag.source == TagSource.USER)
            for tag in self._store.labels.tag_counts()
        ]
        self._tags = (key, tuple(tags))  # one assignment: another thread sees the old pair or the new
        return tags

    def tag_ids(self, names: Sequence[str]) -> list[int]:
        """The stored ids of these tags; LabelError naming the first unknown one."""
        known = {tag.name: tag.id for tag in self._store.labels.tags()}
        if not known:
            raise LabelError(
                _("The photos of this index have no tags yet: run {command} build once to tag them.").format(
                    command=indexer_command()
                ),
                LabelProblem.NOT_TAGGED,
            )
        ids = []
        for name in names:
            cleaned = " ".join(str(name).split())
            if cleaned not in known:
                raise LabelError(
                    _("No tag {name!r} in this index.{hint} {command} tags lists them all.").format(
                        name=name, hint=_did_you_mean(cleaned, known), command=indexer_command()
                    ),
                    LabelProblem.UNKNOWN_TAG,
                )
            ids.append(known[cleaned])
        return ids

    def add_tag(self, name: str, phrasings: Sequence[str] = ()) -> TagSummary:
        """A tag of the user's own («гитара»): embedded like the vocabulary's (its name and any other
        `phrasings`, in every template) and applied to every photo now; builds apply it to new ones."""
        name = _clean_name(name, _("tag"))
        if any(tag.name == name for tag in self._store.labels.tags()):
            raise LabelError(_("There is already a tag {name!r}.").format(name=name), LabelProblem.BAD_NAME)
        if stored_tag_vectors(self._store) is None:
            self.tag_ids([name])  # NOT_TAGGED: the vocabulary comes with a build
        words = tuple(dict.fromkeys([name, *(" ".join(p.split()) for p in phrasings if p.strip())]))
        self._store.labels.add_tag(name, USER_GROUP, words, embed_tag(self._model(), words))
        tags = stored_tag_vectors(self._store)
        assert tags is not None
        threshold = settings().tag_threshold
        now, chunks = self._store.labels.changed_vectors(0)
        # The user's tags share one group, so adding one changes the others' shares too: all are redone.
        own = [tid for tid, tag in zip(tags.ids, tags.vectors.groups, strict=True) if tag == USER_GROUP]
        for ids, vectors in chunks:
            write_tags(self._store, tags, ids, vectors, threshold, only=own)
        return next(tag for tag in self.tags() if tag.name == name)

    def remove_tag(self, name: str) -> None:
        """Remove a tag of the user's own (the vocabulary's cannot be: they come back with a build)."""
        (tag_id,) = self.tag_ids([name])
        tag = next(tag for tag in self._store.labels.tags() if tag.id == tag_id)
        if tag.source != TagSource.USER:
            raise LabelError(
                _(
                    "{name!r} is a tag of the vocabulary; only your own tags (added with tags add) can be removed."
                ).format(name=tag.name),
                LabelProblem.VOCABULARY_TAG,
            )
        self._store.labels.remove_tag(tag_id)

    def tag_scores(self, names: Sequence[str]) -> dict[int, float]:
        """Photo id -> its smallest share among these tags, for the photos that carry them all."""
        return self._store.labels.tag_scores(self.tag_ids(names))

    def tags_of(self, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        return self._store.labels.tags_of(ids)

    # --- categories ------------------------------------------------------------------------------

    def categories(self) -> list[CategorySummary]:
        return [self._summary(record) for record in self._store.labels.categories()]

    def category(self, name: str) -> CategorySummary:
        return self._summary(self._record(name))

    def members(self, name: str, limit: int | None = None) -> list[Member]:
        """The category's photos, the most certain first."""
        record = self._usable(self._record(name))
        scores = self._store.labels.member_scores(record.id)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return [Member(i, s) for i, s in ranked[:limit]]

    def member_scores(self, name: str) -> dict[int, float]:
        """Member id -> score (what a search filtered by the category ranks by)."""
        return self._store.labels.member_scores(self._usable(self._record(name)).id)

    def paths_of(self, ids: Sequence[int]) -> dict[int, str]:
        """Id -> the path of the indexed photo (for listing members)."""
        return {i: row.path for i, row in self._store.hit_rows(list(ids)).items()}

    def categories_of(self, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        return self._store.labels.categories_of(ids)

    def add_category(
        self,
        name: str,
        examples: Sequence[Example],
        not_examples: Sequence[Example] = (),
        text: str | None = None,
    ) -> CategorySummary:
        """Teach a category from example photos (ids or paths of this index), optionally photos it is
        not («не то») and words that describe it; applied to every photo now."""
        name = _clean_name(name, _("category"))
        if self._store.labels.category(name) is not None:
            raise LabelError(
                _("There is already a category {name!r}: add examples to it, or remove it first.").format(name=name),
                LabelProblem.BAD_NAME,
            )
        return self._train(name, self._ids(examples), self._ids(not_examples), text)

    def correct_category(
        self, name: str, examples: Sequence[Example] = (), not_examples: Sequence[Example] = ()
    ) -> CategorySummary:
        """More examples, or photos marked «не то» (a wrong member, or a photo the user rules out);
        the category is fitted again on all of them and applied to every photo."""
        record = self._usable(self._record(name))
        added, ruled_out = self._ids(examples), self._ids(not_examples)
        positives = [i for i in (*record.positives, *added) if i not in set(ruled_out)]
        negatives = [i for i in (*record.negatives, *ruled_out) if i not in set(added)]
        return self._train(record.name, positives, negatives, record.text)

    def remove_category(self, name: str) -> None:
        self._store.labels.remove_category(self._record(name).id)

    # --- helpers ---------------------------------------------------------------------------------

    def _record(self, name: str) -> CategoryRecord:
        cleaned = " ".join(str(name).split())
        record = self._store.labels.category(cleaned)
        if record is None:
            known = [category.name for category in self._store.labels.categories()]
            raise LabelError(
                _("No category {name!r} in this index.{hint} {command} category list shows them.").format(
                    name=name, hint=_did_you_mean(cleaned, known), command=indexer_command()
                ),
                LabelProblem.UNKNOWN_CATEGORY,
            )
        return record

    def _usable(self, record: CategoryRecord) -> CategoryRecord:
        if record.model_fingerprint != self.fingerprint:
            raise LabelError(
                _(
                    "The category {name!r} was taught on another model's vectors, which mean nothing to this "
                    "index's model. Remove it and teach it again from its examples."
                ).format(name=record.name),
                LabelProblem.OTHER_MODEL,
            )
        return record

    def _summary(self, record: CategoryRecord) -> CategorySummary:
        return CategorySummary(
            record.name,
            record.text,
            record.positives,
            record.negatives,
            record.members,
            record.cover_id,
            record.trained_at,
            record.model_fingerprint == self.fingerprint,
        )

    def _ids(self, examples: Sequence[Example]) -> list[int]:
        """Ids of indexed photos (a path of an identical copy gives its photo's id); LabelError for
        anything else, naming it."""
        if isinstance(examples, (str, int, os.PathLike)):
            examples = [examples]
        ids: list[int] = []
        for example in examples:
            if isinstance(example, bool):
                raise LabelError(_("{value!r} is no photo.").format(value=example), LabelProblem.NOT_IN_INDEX)
            if isinstance(example, (int, np.integer)):
                found = int(example) if self._store.labels.indexed_vectors_of([int(example)]) else None
            elif isinstance(example, str) and example.strip().isdigit() and not os.path.exists(example):
                found = int(example) if self._store.labels.indexed_vectors_of([int(example)]) else None
            else:
                found = self._store.id_of(os.path.expanduser(os.fspath(example)))
            if found is None:
                raise LabelError(
                    _(
                        "{example} is not a photo of this index (an id from search --json, or the path of an "
                        "indexed photo)."
                    ).format(example=example),
                    LabelProblem.NOT_IN_INDEX,
                )
            ids.append(found)
        return list(dict.fromkeys(ids))

    def _train(self, name: str, positives: list[int], negatives: list[int], text: str | None) -> CategorySummary:
        if not positives:
            raise LabelError(
                _("A category needs at least one example photo of it (--example PATH_OR_ID)."), LabelProblem.NO_EXAMPLES
            )
        text = " ".join(text.split()) if text and text.strip() else None
        found = self._store.labels.indexed_vectors_of([*positives, *negatives])
        all_ids = self._store.indexed_vectors()
        seq, ids, vectors = all_ids
        assert vectors is not None  # the examples are indexed photos
        index_of = {int(i): row for row, i in enumerate(ids.tolist())}
        background = background_sample(ids, set(positives) | set(negatives), seed=len(name))
        text_vector = embed_tag(self._model(), [text]) if text else None
        try:
            model = train_category(
                np.vstack([found[i] for i in positives]),
                np.vstack([found[i] for i in negatives]) if negatives else np.empty((0, vectors.shape[1]), np.float32),
                vectors[[index_of[int(i)] for i in background]]
                if len(background)
                else np.empty((0, vectors.shape[1]), np.float32),
                text_vector,
            )
        except ProbeUnavailable as exc:
            raise LabelError(str(exc), LabelProblem.PROBE_UNAVAILABLE) from None
        except ValueError:
            raise LabelError(
                _("A category needs photos that are not in it too: this index holds only its examples."),
                LabelProblem.NO_EXAMPLES,
            ) from None
        members = members_of(model, ids, vectors)
        self._store.labels.save_category(
            name, text, self.fingerprint, model.weights, model.bias, positives, negatives, members
        )
        return self.category(name)


def open_labels(folder: str | os.PathLike[str]) -> CollectionLabels:
    """The tags and categories of an index folder, without loading its model until words must be
    embedded (a tag of your own, a category's text). Close it with `close()` (or use `with`)."""
    from ..clip.encoder import load_model
    from ..errors import IndexStoreError, StoreProblem

    store = IndexStore(folder)
    recorded = store.model_record()
    if recorded is None:
        store.close()
        raise IndexStoreError(
            _("{folder} holds no finished build yet; run {value} build PHOTOS --index {folder} first.").format(
                folder=folder, value=indexer_command()
            ),
            StoreProblem.NOT_BUILT,
        )
    loaded: list[ScaledTextEncoder] = []

    def model() -> ScaledTextEncoder:
        if not loaded:
            loaded.append(load_model(recorded.name))
        return loaded[0]

    labels = CollectionLabels(store, model, recorded.fingerprint)
    labels._owned = store
    return labels
