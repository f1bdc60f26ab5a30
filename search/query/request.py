"""What one search asks for, as one validated value: the page, the CLI and PhotoIndex.search build it.

Light (numpy and Pillow's Image type only): a client builds a request before any model is loaded.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt
from PIL import Image

from ..i18n import _
from .language import QueryError, Term, parse_query
from .text_match import OCR_QUERY_MODES, TextQuery, split_quoted

PathLike = str | os.PathLike[str]
# A picture, a file, an indexed image's id, or an image embedding made earlier (model.encode_images)
ImageQuery = Image.Image | str | os.PathLike[str] | int | npt.NDArray[np.float32]


@dataclass(frozen=True)
class Filters:
    """Which photos a search may return: those under `folder`, taken from `date_from` to `date_to`
    (EXIF date, inclusive; photos without one are left out when a date is set), carrying every one
    of `tags` and, with `category`, members of that personal category."""

    folder: PathLike | None = None
    date_from: date | None = None
    date_to: date | None = None
    tags: tuple[str, ...] = ()
    category: str | None = None

    def __post_init__(self) -> None:
        tags = (self.tags,) if isinstance(self.tags, str) else tuple(self.tags or ())
        if not all(isinstance(tag, str) for tag in tags):
            raise QueryError(_("tags are names of tags (strings); got {tags!r}").format(tags=self.tags))
        object.__setattr__(self, "tags", tuple(dict.fromkeys(" ".join(tag.split()) for tag in tags if tag.strip())))
        if self.category is not None and not isinstance(self.category, str):
            raise QueryError(_("category is a category's name; got {category!r}").format(category=self.category))
        if self.category is not None and not self.category.strip():
            object.__setattr__(self, "category", None)

    @property
    def by_place_or_date(self) -> bool:
        return self.folder is not None or self.date_from is not None or self.date_to is not None

    @property
    def by_label(self) -> bool:
        return bool(self.tags) or self.category is not None

    @property
    def active(self) -> bool:
        return self.by_place_or_date or self.by_label


# eq=False: an example image may be a numpy array, which has no plain equality.
@dataclass(frozen=True, eq=False)
class SearchRequest:
    """A text query (see language.py), an example image, or both; how many hits, which photos.

    `image` is a PIL image, a path, an indexed image's id or an embedding; `image_weight` is how
    much it counts against the words. `min_score` drops weaker hits; `collapse_duplicates` keeps
    one hit per near-duplicate group; `exclude` ids are never returned. `ocr`: "auto" looks for the
    query's words in the text read in the photos too and fuses both rankings, "only" looks for the
    words alone, "off" for the meaning alone; a part in quotes («"пароль"») is looked for in the
    text only, and must be there. Checked once, here: a wrong type or a query the language cannot
    read is a QueryError.
    """

    text: str | None = None
    image: ImageQuery | None = None
    image_weight: float = 1.0
    k: int = 20
    filters: Filters = Filters()
    min_score: float | None = None
    collapse_duplicates: bool = False
    exclude: tuple[int, ...] = ()
    ocr: str = "auto"
    terms: tuple[Term, ...] = field(init=False)  # the text for the meaning (its quoted parts left out), parsed
    text_query: TextQuery = field(init=False)  # what is looked for in the photos' text

    def __post_init__(self) -> None:
        # Wrong types as the caller's mistake, said plainly (True is an int to Python, not an id here).
        if isinstance(self.k, bool) or not isinstance(self.k, numbers.Integral):
            raise QueryError(_("k is how many results to return, a whole number; got {k!r}").format(k=self.k))
        if isinstance(self.image, bool):
            raise QueryError(
                _("image is a picture, a file path, an indexed image's id or an embedding; got {image!r}").format(
                    image=self.image
                )
            )
        if self.ocr not in OCR_QUERY_MODES:
            raise QueryError(
                _("ocr is one of {modes}; got {ocr!r}").format(modes=", ".join(OCR_QUERY_MODES), ocr=self.ocr)
            )
        object.__setattr__(self, "exclude", tuple(int(i) for i in self.exclude))
        text = self.text if self.text is not None and self.text.strip() else ""
        free, quoted = (text, ()) if self.ocr == "off" else split_quoted(text)
        object.__setattr__(self, "terms", tuple(parse_query(free)) if free else ())
        positive = " ".join(term.text for term in self.terms if term.weight > 0)
        object.__setattr__(
            self, "text_query", TextQuery((), ()) if self.ocr == "off" else TextQuery.of(positive, quoted)
        )

    @property
    def words_only(self) -> bool:
        """Whether only the photos' text is searched: asked so, or a query of quoted words alone."""
        if self.ocr == "only":
            return True
        return not self.terms and self.image is None and bool(self.text_query.required)

    @classmethod
    def of(
        cls,
        text: str | None = None,
        *,
        image: ImageQuery | None = None,
        k: int = 20,
        folder: PathLike | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        min_score: float | None = None,
        image_weight: float = 1.0,
        exclude: Iterable[int] = (),
        collapse_duplicates: bool = False,
        tags: Iterable[str] | str = (),
        category: str | None = None,
        ocr: str = "auto",
    ) -> SearchRequest:
        """A request from PhotoIndex.search's keyword arguments (the filters given one by one)."""
        return cls(
            text,
            image=image,
            image_weight=image_weight,
            k=k,
            filters=Filters(
                folder, date_from, date_to, tuple(tags) if not isinstance(tags, str) else (tags,), category
            ),
            min_score=min_score,
            collapse_duplicates=collapse_duplicates,
            exclude=tuple(exclude),
            ocr=ocr,
        )
