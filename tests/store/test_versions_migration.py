"""Migration ``0019_tax_versions`` keeps existing data working: every existing plan
becomes version 1 (its pricing and limits), its Stripe prices are v1's and its
subscribers are on v1. (SQLite, a fresh database migrated step by step.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from tests.support.rows import new_subscription, seed_world
from tollway.store import db, plan_versions_repo
from tollway.store.billing_tables import billing_plans
from tollway.store.selling_tables import plan_version_prices, plan_versions

PRICING = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"}}


def test_existing_plans_become_version_1(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade(engine, "0017_plans_sell")
    world = seed_world(engine, PRICING)
    sub_id = new_subscription(engine, world, state="active")
    with engine.begin() as conn:
        conn.execute(
            billing_plans.insert().values(
                api_id=world.api_id,
                plan_id=world.plan_id,
                product_id="prod_1",
                flat_price_id=None,
                usage_price_id="price_1",
                pricing_hash="x",
                active=True,
                updated_at=datetime.now(UTC),
            )
        )
    db.upgrade(engine)
    with engine.connect() as conn:
        (v1,) = conn.execute(select(plan_versions)).fetchall()
        assert (v1.plan_id, v1.version, v1.existing_subscribers) == (world.plan_id, 1, "stay")
        assert v1.pricing["usage"]["unit_amount"] == "0.01"
        assert set(v1.limits) == set(plan_versions_repo.LIMIT_COLUMNS)
        (prices,) = conn.execute(select(plan_version_prices)).fetchall()
        assert (prices.version, prices.usage_price_id) == (1, "price_1")
        at = plan_versions_repo.of_subscription(conn, sub_id, world.plan_id)
        assert (at.version, at.latest, at.next_version) == (1, 1, None)
    engine.dispose()
