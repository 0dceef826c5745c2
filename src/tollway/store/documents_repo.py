"""The portal's view of the catalog: published APIs (for anonymous visitors too), their
stored OpenAPI documents and tags."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from tollway.domain.lifecycle import REACHABLE
from tollway.store.tables import api_documents, apis

MAX_LISTED = 500


def store(
    conn: Connection, api_id: str, document_json: str, tags: list[str], now: datetime
) -> None:
    conn.execute(
        api_documents.insert().values(
            api_id=api_id, document=document_json, tags=tags, stored_at=now
        )
    )


def document(conn: Connection, api_id: str) -> dict[str, Any] | None:
    text = conn.execute(
        select(api_documents.c.document).where(api_documents.c.api_id == api_id)
    ).scalar_one_or_none()
    if text is None:
        return None
    loaded = json.loads(text)
    return loaded if isinstance(loaded, dict) else None


def tags_of(conn: Connection, api_ids: list[str]) -> dict[str, list[str]]:
    if not api_ids:
        return {}
    rows = conn.execute(
        select(api_documents.c.api_id, api_documents.c.tags).where(
            api_documents.c.api_id.in_(api_ids)
        )
    )
    return {str(r.api_id): list(r.tags or []) for r in rows}


def published(conn: Connection, *, text: str = "") -> list[dict[str, Any]]:
    """Published and deprecated APIs by name; ``text`` matches name, description or
    context (case-insensitive)."""
    query = select(apis).where(apis.c.lifecycle.in_([s.value for s in REACHABLE]))
    if text:
        pattern = (
            "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        query = query.where(
            or_(
                func.lower(apis.c.name).like(pattern, escape="\\"),
                func.lower(apis.c.description).like(pattern, escape="\\"),
                func.lower(apis.c.context).like(pattern, escape="\\"),
            )
        )
    query = query.order_by(apis.c.name, apis.c.version).limit(MAX_LISTED)
    return [dict(r) for r in conn.execute(query).mappings()]


def published_one(conn: Connection, api_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(apis).where(
                apis.c.id == api_id, apis.c.lifecycle.in_([s.value for s in REACHABLE])
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
