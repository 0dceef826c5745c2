"""Analytics in the console: the figures the page shows equal the API's, the tables are
there without JavaScript, bad dates are answered on the page, consumers are refused."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.rows import insert_usage, new_subscription, seed_world

PRICING = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"}}


def _cells(html: str, table_id: str, attr: str) -> list[str]:
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return re.findall(rf"<td [^>]*{attr}[^>]*>(.*?)</td>", table, re.S)


def test_the_page_shows_the_apis_figures(
    ctx: Any, make_actor: Any, browser_for: Any, admin: Any
) -> None:
    pub = make_actor("publisher")
    world = seed_world(ctx.engine, PRICING)
    sub_id = new_subscription(ctx.engine, world, state="active")
    now_ms = int(time.time() * 1000)
    insert_usage(ctx.engine, world, sub_id, [now_ms + i for i in range(1, 8)])
    insert_usage(ctx.engine, world, sub_id, [now_ms + 8], status=503)
    today = datetime.now(UTC).date()
    params = {"from": (today - timedelta(days=2)).isoformat(), "to": today.isoformat()}
    page = browser_for(pub.email).get(
        "/console/analytics", params={**params, "granularity": "day", "group_by": "api"}
    )
    assert page.status_code == 200, page.text
    api = pub.get(
        "/api/v1/analytics/usage",
        params={
            "from": f"{params['from']}T00:00:00Z",
            "to": f"{(today + timedelta(days=1)).isoformat()}T00:00:00Z",
            "group_by": "api",
        },
    ).json()
    assert api["totals"]["calls"] == 8
    assert _cells(page.text, "groups-table", "data-calls") == ["8"]
    assert 'data-total="errors">0 / 1<' in page.text
    assert _cells(page.text, "top-table", "data-calls") == ["8"]
    assert 'data-source="tollway_estimate">Tollway estimate<' in page.text
    assert re.search(r"data-amount><data class=\"money\" value=\"0\.07\d*\">\$0\.07<", page.text)
    assert 'id="calls-chart"' in page.text and "Show the numbers" in page.text
    assert 'aria-current="page">Analytics<' in page.text


def test_bad_dates_are_answered_on_the_page(make_actor: Any, browser_for: Any) -> None:
    browser = browser_for(make_actor("publisher").email)
    page = browser.get("/console/analytics", params={"from": "31/01/2026", "to": "2026-01-01"})
    assert page.status_code == 422
    assert "Enter a date as YYYY-MM-DD." in page.text
    backwards = browser.get("/console/analytics", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert backwards.status_code == 422 and "must be after" in backwards.text
    too_many = browser.get(
        "/console/analytics",
        params={"from": "2020-01-01", "to": "2026-01-01", "granularity": "hour"},
    )
    assert too_many.status_code == 422 and "more than 10,000 hours" in too_many.text
    assert browser.get("/console/analytics", params={"group_by": "x"}).status_code == 422


def test_consumers_never_reach_it(make_actor: Any, browser_for: Any) -> None:
    page = browser_for(make_actor("consumer").email).get("/console/analytics")
    assert page.status_code == 403 and "developer portal" in page.text
