"""Publisher analytics: calls, errors and latency over time per API, operation, plan,
consumer or application, and the top consumers of a range (aggregated in SQL by
``store.analytics_repo``). Publishers see their organization's APIs; an admin sees every
organization or the one asked for; consumers are refused. The REST API
(``/api/v1/analytics``) and the console's analytics page call these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection

from tollway.domain.errors import InvalidInput, NotFound
from tollway.domain.principal import Principal
from tollway.store import analytics_repo, apis_repo, plans_repo
from tollway.store.analytics_repo import DAY_MS, HOUR_MS, Counts, Scope

GRANULARITIES = analytics_repo.GRANULARITIES
GROUPS = analytics_repo.GROUPS
#: the most buckets one series may have (an hourly year is 8,784)
MAX_BUCKETS = 10_000
MAX_TOP = 100
_TENTH = Decimal("0.1")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Query:
    """What the caller asked for (``start`` inclusive, ``end`` exclusive, UTC)."""

    start: datetime
    end: datetime
    granularity: str = "day"
    organization_id: str | None = None
    api_id: str | None = None
    plan_id: str | None = None
    consumer_id: str | None = None
    application_id: str | None = None
    operation_id: str | None = None


def _ms(at: datetime) -> int:
    """Epoch milliseconds of ``at`` (a time without a zone is taken as UTC)."""
    utc = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return (utc - _EPOCH) // timedelta(milliseconds=1)


def _at(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def bucket_start(ms: int, granularity: str) -> int:
    """The start of the UTC hour, day or month holding ``ms`` (what the SQL computes)."""
    if granularity == "hour":
        return ms - ms % HOUR_MS
    if granularity == "day":
        return ms - ms % DAY_MS
    at = _at(ms)
    return _ms(datetime(at.year, at.month, 1, tzinfo=UTC))


def next_bucket(ms: int, granularity: str) -> int:
    if granularity == "hour":
        return ms + HOUR_MS
    if granularity == "day":
        return ms + DAY_MS
    at = _at(ms)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return _ms(datetime(year, month, 1, tzinfo=UTC))


def bucket_count(start_ms: int, end_ms: int, granularity: str) -> int:
    """How many buckets ``[start, end)`` touches."""
    first, last = bucket_start(start_ms, granularity), bucket_start(end_ms - 1, granularity)
    if granularity == "hour":
        return (last - first) // HOUR_MS + 1
    if granularity == "day":
        return (last - first) // DAY_MS + 1
    a, b = _at(first), _at(last)
    return (b.year - a.year) * 12 + b.month - a.month + 1


def buckets(start_ms: int, end_ms: int, granularity: str) -> list[int]:
    """Every bucket start of ``[start, end)``, in order."""
    out, at = [], bucket_start(start_ms, granularity)
    while at < end_ms:
        out.append(at)
        at = next_bucket(at, granularity)
    return out


def scope(conn: Connection, caller: Principal, query: Query) -> Scope:
    """The ledger scope the caller may see for ``query``; checks every argument (a bad
    range or too many buckets: 422 at the field; another organization's API or plan:
    404; a consumer: 403)."""
    caller.require("publisher")
    if query.granularity not in GRANULARITIES:
        raise InvalidInput.at(("query", "granularity"), f"must be one of {GRANULARITIES}")
    start_ms, end_ms = _ms(query.start), _ms(query.end)
    if end_ms <= start_ms:
        raise InvalidInput.at(("query", "to"), "must be after 'from'")
    if bucket_count(start_ms, end_ms, query.granularity) > MAX_BUCKETS:
        raise InvalidInput.at(
            ("query", "granularity"),
            f"the range has more than {MAX_BUCKETS:,} {query.granularity}s; "
            "choose a coarser granularity or a shorter range",
        )
    org = query.organization_id if caller.is_admin else caller.organization_id
    if query.organization_id is not None and query.organization_id != org:
        raise NotFound(f"organization {query.organization_id} not found")
    if query.api_id is not None:
        apis_repo.get(conn, query.api_id, caller)
    if query.plan_id is not None:
        plans_repo.get(conn, query.plan_id, caller)
    return Scope(
        organization_id=org,
        start_ms=start_ms,
        end_ms=end_ms,
        api_id=query.api_id,
        plan_id=query.plan_id,
        consumer_id=query.consumer_id,
        application_id=query.application_id,
        operation_id=query.operation_id,
    )


def _figures(c: Counts) -> dict[str, Any]:
    avg = (Decimal(c.latency_sum_ms) / c.calls).quantize(_TENTH, ROUND_HALF_UP) if c.calls else None
    return {
        "calls": c.calls,
        "errors_4xx": c.errors_4xx,
        "errors_5xx": c.errors_5xx,
        "latency_avg_ms": avg,
        "latency_max_ms": c.latency_max_ms if c.calls else None,
    }


def _total(key: str | None, counts: list[Counts]) -> Counts:
    return Counts(
        key=key,
        start_ms=0,
        calls=sum(c.calls for c in counts),
        errors_4xx=sum(c.errors_4xx for c in counts),
        errors_5xx=sum(c.errors_5xx for c in counts),
        latency_sum_ms=sum(c.latency_sum_ms for c in counts),
        latency_max_ms=max((c.latency_max_ms for c in counts), default=0),
    )


def usage(
    conn: Connection, caller: Principal, query: Query, group_by: str | None
) -> dict[str, Any]:
    """Calls, 4xx and 5xx errors, average and maximum latency per bucket, for each group
    (most calls first) and in total. Points are listed for non-empty buckets only;
    ``buckets`` lists every bucket start of the range."""
    if group_by is not None and group_by not in GROUPS:
        raise InvalidInput.at(("query", "group_by"), f"must be one of {GROUPS}")
    sc = scope(conn, caller, query)
    rows = analytics_repo.usage(conn, sc, query.granularity, group_by)
    by_key: dict[str | None, list[Counts]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    names = analytics_repo.labels(conn, group_by, [k for k in by_key if k]) if group_by else {}
    groups: list[dict[str, Any]] = [
        {
            "key": key,
            "label": names.get(key, key) if key is not None else _no_key(group_by),
            "totals": _figures(_total(key, counts)),
            "points": [{"start": _at(c.start_ms), **_figures(c)} for c in counts],
        }
        for key, counts in by_key.items()
    ]
    groups.sort(key=lambda g: (-g["totals"]["calls"], g["key"] or ""))
    return {
        "from": query.start,
        "to": query.end,
        "granularity": query.granularity,
        "group_by": group_by,
        "buckets": [_at(b) for b in buckets(sc.start_ms, sc.end_ms, query.granularity)],
        "totals": _figures(_total(None, rows)),
        "groups": groups,
    }


def _no_key(group_by: str | None) -> str:
    return "No operation (passthrough)" if group_by == "operation" else "All calls"


def top_consumers(conn: Connection, caller: Principal, query: Query, limit: int) -> dict[str, Any]:
    """The consumers with the most calls in the range (most first), with their errors
    and latency."""
    if not 1 <= limit <= MAX_TOP:
        raise InvalidInput.at(("query", "limit"), f"must be between 1 and {MAX_TOP}")
    sc = scope(conn, caller, query)
    rows = analytics_repo.top_consumers(conn, sc, limit)
    emails = analytics_repo.labels(conn, "consumer", [r.key for r in rows if r.key])
    return {
        "from": query.start,
        "to": query.end,
        "consumers": [
            {"consumer_id": r.key, "email": emails.get(r.key or "", ""), **_figures(r)}
            for r in rows
        ],
    }
