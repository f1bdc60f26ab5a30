"""What an index holds, in lines for the CLI."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from search.store import DATABASE_FILE, FAILED, INDEXED, ImageRow, Root, get_meta, open_database
from search.vectors import FAISS_FILE_KEY


def index_stats(folder: Path) -> list[str]:
    factory = open_database(folder, create=False)
    with factory() as session:
        counts = dict(session.execute(select(ImageRow.state, func.count()).group_by(ImageRow.state)).all())
        reasons = session.execute(
            select(ImageRow.reason, func.count()).where(ImageRow.state == FAILED).group_by(ImageRow.reason)
        ).all()
        roots = session.scalars(select(Root.path)).all()
        dates = session.execute(select(func.min(ImageRow.taken_at), func.max(ImageRow.taken_at))).one()
        lines = [
            f"index      {Path(folder).resolve()}",
            f"model      {get_meta(session, 'model_name')} (dim {get_meta(session, 'embed_dim')}, "
            f"weights sha256 {str(get_meta(session, 'model_fingerprint'))[:12]}…)",
            f"photos     {counts.get(INDEXED, 0)} searchable, {counts.get(FAILED, 0)} failed",
        ]
        lines += [f"             {count} × {reason}" for reason, count in sorted(reasons, key=lambda r: -r[1])]
        if dates[0]:
            lines.append(f"taken      {dates[0]:%Y-%m-%d} … {dates[1]:%Y-%m-%d} (EXIF)")
        lines += [f"folder     {root}" for root in roots]
        name = get_meta(session, FAISS_FILE_KEY)
    sizes = {n: (Path(folder) / n).stat().st_size for n in (DATABASE_FILE, name) if n and (Path(folder) / n).exists()}
    lines.append("disk       " + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in sizes.items()))
    return lines
