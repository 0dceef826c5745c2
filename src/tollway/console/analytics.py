"""Analytics: calls, errors and latency over time per API, operation, plan, consumer or
application (charts with their numbers), revenue per plan and API per period with its
source, and the top consumers. The same services as ``/api/v1/analytics``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import InvalidInput
from tollway.http.deps import Conn, Ctx
from tollway.services import analytics, revenue
from tollway.web import FormState, page_router, pages_of

from .access import publisher

router = page_router("/console/analytics")

DEFAULT_DAYS = 30
CHART_GROUPS = 6  # the busiest groups drawn; the table lists every one
GROUP_LABELS = {
    "api": "API",
    "operation": "Operation",
    "plan": "Plan",
    "consumer": "Consumer",
    "application": "Application",
}
GRANULARITY_LABELS = {"hour": "Hour", "day": "Day", "month": "Month"}
LABELS = {"from": "From", "to": "To", "granularity": "Per", "group_by": "Group by"}
ALIASES = {"query.from": "from", "query.to": "to", "query.granularity": "granularity"}


def _dates(form: FormState) -> tuple[date, date] | None:
    found = []
    for name in ("from", "to"):
        try:
            found.append(date.fromisoformat(form.value(name)))
        except ValueError:
            form.add(name, "Enter a date as YYYY-MM-DD.")
    return (found[0], found[1]) if len(found) == 2 else None


def _form(request: Request, today: date) -> FormState:
    params = request.query_params
    values = {
        "from": params.get("from") or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        "to": params.get("to") or today.isoformat(),
        "granularity": params.get("granularity") or "day",
        "group_by": params.get("group_by") or "api",
    }
    form = FormState(values=values, posted=set(values), labels=LABELS)
    if values["granularity"] not in GRANULARITY_LABELS:
        form.add("granularity", "Choose hour, day or month.")
    if values["group_by"] not in GROUP_LABELS:
        form.add("group_by", "Choose API, operation, plan, consumer or application.")
    return form


def chart(usage: dict[str, Any], metric: str) -> dict[str, Any]:
    """One line per group (the busiest ``CHART_GROUPS``) of ``metric`` per bucket: a
    bucket without calls is 0 calls or errors, and a gap in latency."""
    xs = [int(b.timestamp()) for b in usage["buckets"]]
    series = []
    for group in usage["groups"][:CHART_GROUPS]:
        at = {int(p["start"].timestamp()): p for p in group["points"]}
        values: list[Any] = []
        for x in xs:
            point = at.get(x)
            if metric == "errors":
                values.append(point["errors_4xx"] + point["errors_5xx"] if point else 0)
            elif metric == "latency_avg_ms":
                values.append(point["latency_avg_ms"] if point else None)
            else:
                values.append(point["calls"] if point else 0)
        series.append({"label": group["label"], "values": values})
    return {"x": xs, "series": series, "x_kind": "time"}


@router.get("")
def analytics_page(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = publisher(request)
    form = _form(request, ctx.clock.now().date())
    found: dict[str, Any] = {"usage": None, "revenue": None, "top": None, "charts": {}}
    dates = _dates(form)
    if dates is not None and not form.has_errors:
        query = analytics.Query(
            start=datetime.combine(dates[0], time(), UTC),
            end=datetime.combine(dates[1] + timedelta(days=1), time(), UTC),
            granularity=form.value("granularity"),
        )
        try:
            usage = analytics.usage(conn, user, query, form.value("group_by"))
            found = {
                "usage": usage,
                "revenue": revenue.revenue(ctx, conn, user, query),
                "top": analytics.top_consumers(conn, user, query, 10),
                "charts": {m: chart(usage, m) for m in ("calls", "errors", "latency_avg_ms")},
            }
        except InvalidInput as exc:
            form.add_invalid_input(exc, ALIASES)
    context = {
        "form": form,
        "group_options": list(GROUP_LABELS.items()),
        "granularity_options": list(GRANULARITY_LABELS.items()),
        "group_label": GROUP_LABELS.get(form.value("group_by"), "Group"),
        **found,
    }
    status = 422 if form.has_errors else 200
    return pages_of(request).render(request, "console/analytics.html", context, status=status)
