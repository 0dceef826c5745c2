"""The gateway's snapshot holds a subscription on an older plan version to that
version's limits and counts its budget on that version's pricing; a subscription on the
latest version (or one moved to it) gets the plan row's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, update

from tests.gateway.conftest import private_engine
from tests.gateway.sql_catalog import seed
from tollway.gateway.snapshot_sql import load_snapshot
from tollway.store import tables as t
from tollway.store.selling_tables import plan_versions, subscription_versions


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with private_engine(tmp_path) as engine:
        yield engine


def _unit(amount: str) -> dict[str, object]:
    return {"usage": {"meter": "requests", "model": "unit", "unit_amount": amount}}


def test_pinned_version_limits_and_budget(engine: Engine) -> None:
    seed(engine, "http://127.0.0.1:9", rate_limit=2, rate_unit="hour", quota=100)
    now = datetime.now(UTC)
    old = {"rate_limit_count": None, "rate_limit_unit": None, "quota_limit": 1000,
           "quota_mode": "hard"}  # fmt: skip
    new = {"rate_limit_count": 2, "rate_limit_unit": "hour", "quota_limit": 100,
           "quota_mode": "hard"}  # fmt: skip
    with engine.begin() as c:
        c.execute(update(t.plans).values(pricing=_unit("0.03"), currency="USD"))
        for version, limits, price in ((1, old, "0.01"), (2, new, "0.03")):
            c.execute(
                insert(plan_versions).values(
                    plan_id="plan_1",
                    version=version,
                    limits=limits,
                    pricing=_unit(price),
                    existing_subscribers="stay",
                    created_at=now,
                )  # fmt: skip
            )
        c.execute(insert(subscription_versions).values(subscription_id="sub_1",
                                                       plan_id="plan_1", version=1))  # fmt: skip
        c.execute(insert(t.subscription_budgets).values(subscription_id="sub_1", amount="0.10",
                                                        currency="USD", set_by="usr_1",
                                                        updated_at=now))  # fmt: skip
    snap = load_snapshot(engine)
    sub = snap.subscription_for("app_1", "api_1")
    assert sub is not None and sub.plan_id == "plan_1@v1"
    plan = snap.plans[sub.plan_id]
    assert (plan.rate_limit_count, plan.hard_quota) == (None, 1000)
    assert sub.budget is not None and sub.budget.calls == 10  # $0.10 at v1's $0.01
    assert snap.plans["plan_1"].rate_limit_count == 2  # the plan sells v2

    with engine.begin() as c:  # moved to v2 at its renewal
        c.execute(update(subscription_versions).values(version=2))
    sub = load_snapshot(engine).subscription_for("app_1", "api_1")
    assert sub is not None and sub.plan_id == "plan_1"
    assert sub.budget is not None and sub.budget.calls == 3  # $0.10 at $0.03: 3 calls
    assert sub.budget.amount == Decimal("0.10")
