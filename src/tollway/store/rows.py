"""Small helpers shared by repositories: fetch-or-404, keyset pagination."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, select

from tollway.domain.errors import NotFound
from tollway.domain.paging import Page


def one_or_404(
    conn: Connection, table: Table, ident: str, what: str, *where: ColumnElement[bool]
) -> dict[str, Any]:
    row = conn.execute(select(table).where(table.c.id == ident, *where)).mappings().first()
    if row is None:
        raise NotFound(f"{what} '{ident}' not found")
    return dict(row)


def paginate(
    conn: Connection,
    query: Select[Any],
    id_col: ColumnElement[Any],
    *,
    limit: int,
    after: str | None,
) -> Page:
    """Keyset pagination on a time-ordered id column (ULIDs sort by creation)."""
    if after:
        query = query.where(id_col > after)
    rows = conn.execute(query.order_by(id_col).limit(limit + 1)).mappings().all()
    items = [dict(r) for r in rows[:limit]]
    has_more = len(rows) > limit
    return Page(items, has_more, items[-1]["id"] if has_more and items else None)
