"""Reading and writing one fact of the `meta` table inside a caller's transaction: shared by
IndexStore, LabelStore and TextStore, which open sessions on the same engine."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .layout import MetaKey
from .schema import Meta


def read_meta(session: Session, key: MetaKey) -> str | None:
    if not isinstance(key, MetaKey):
        raise TypeError(f"metadata keys are MetaKey members, not {key!r}")
    row = session.get(Meta, key.value)
    return None if row is None else row.value


def write_meta(session: Session, key: MetaKey, value: object) -> None:
    if not isinstance(key, MetaKey):
        raise TypeError(f"metadata keys are MetaKey members, not {key!r}")
    session.merge(Meta(key=key.value, value=str(value)))
