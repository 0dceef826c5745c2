"""Chart data for the ``ui.chart`` macro: the JSON the script draws and the table of numbers.

A series is ``{"x": [...], "series": [{"label": str, "values": [...]}], "x_kind": "time"
| "category"}``; time ``x`` values are Unix seconds (UTC). Values may be ``int``,
``Decimal`` or ``None`` (a gap). The drawing gets floats (pixels need no exactness); the
table shows every value exactly as given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

DAY = 86400


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} cannot be drawn")


def chart_json(series: Mapping[str, Any]) -> str:
    return json.dumps(series, default=_jsonable, separators=(",", ":"))


def _x_label(x: Any, kind: str, daily: bool) -> str:
    if kind != "time":
        return str(x)
    moment = datetime.fromtimestamp(int(x), tz=UTC)
    return moment.strftime("%Y-%m-%d") if daily else moment.strftime("%Y-%m-%d %H:%M")


def chart_rows(series: Mapping[str, Any]) -> list[list[str]]:
    """One row per ``x``: its label, then each series' value (``—`` for a gap)."""
    kind = series.get("x_kind", "time")
    xs = list(series["x"])
    daily = all(int(x) % DAY == 0 for x in xs) if kind == "time" else False
    rows = []
    for i, x in enumerate(xs):
        row = [_x_label(x, kind, daily)]
        for s in series["series"]:
            value = s["values"][i] if i < len(s["values"]) else None
            row.append(
                "—" if value is None else f"{value:,}" if isinstance(value, int) else str(value)
            )
        rows.append(row)
    return rows
