"""Job records with a visible status (``jobs`` table): queued -> running -> succeeded|failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from tollway.domain.ids import new_id
from tollway.store.billing_tables import jobs

PUBLISH_USAGE = "publish_usage"


def create(conn: Connection, kind: str, requested_by: str | None, now: datetime) -> str:
    job_id = new_id("job")
    conn.execute(
        jobs.insert().values(
            id=job_id,
            kind=kind,
            state="queued",
            requested_by=requested_by,
            created_at=now,
            events=0,
            errors=0,
        )
    )
    return job_id


def start(db: Engine, job_id: str, now: datetime) -> None:
    with db.begin() as conn:
        conn.execute(
            update(jobs).where(jobs.c.id == job_id).values(state="running", started_at=now)
        )


def finish(
    db: Engine,
    job_id: str,
    now: datetime,
    *,
    events: int,
    errors: list[str],
    detail: dict[str, Any] | None = None,
) -> None:
    with db.begin() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                state="failed" if errors else "succeeded",
                finished_at=now,
                events=events,
                errors=len(errors),
                detail={**(detail or {}), "error_messages": errors[:50]},
            )
        )


def get(conn: Connection, job_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    return None if row is None else dict(row._mapping)


def last(conn: Connection, kind: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(jobs).where(jobs.c.kind == kind).order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
    ).first()
    return None if row is None else dict(row._mapping)
