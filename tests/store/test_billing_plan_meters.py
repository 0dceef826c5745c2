"""The usage prices of provisioned plans (``billing_plan_meters``): the migration carries
the one meter of plans provisioned before it, and a plan that bills several meters is
one billed row per meter for the usage sync and the reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import select

from tests.support.rows import new_subscription, seed_world
from tollway.store import billing_meters_repo, billing_repo, db
from tollway.store.billing_meters_repo import PlanMeterRow
from tollway.store.billing_tables import billing_plan_meters, billing_plans

NOW = datetime(2026, 1, 5, tzinfo=UTC)
PRICING = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.002"}}


def _provisioned(conn: Any, api_id: str, plan_id: str) -> None:
    billing_repo.save_provisioned(
        conn,
        api_id,
        plan_id,
        {
            "product_id": "prod_1",
            "flat_price_id": None,
            "usage_price_id": "price_req",
            "meter_id": "mtr_req",
            "meter_event_name": "tollway.a.p.requests",
            "meter_key": "requests",
            "meter_aggregation": "sum",
            "pricing_hash": "-|price_req",
            "active": True,
            "updated_at": NOW,
        },
    )


def test_migration_carries_the_meter_of_plans_provisioned_before(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        cfg = db.alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0017_plans_sell")
        w = seed_world(engine, PRICING)
        with db.transaction(engine) as conn:
            conn.execute(billing_plans.delete())
            _provisioned(conn, w.api_id, w.plan_id)
        db.upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(select(billing_plan_meters)).fetchall()
        assert [
            (r.api_id, r.plan_id, r.meter_key, r.position, r.price_id, r.meter_id) for r in rows
        ] == [(w.api_id, w.plan_id, "requests", 0, "price_req", "mtr_req")]
        assert rows[0].meter_event_name == "tollway.a.p.requests"
        assert rows[0].meter_aggregation == "sum"
    finally:
        engine.dispose()


def test_several_meters_are_one_billed_row_each(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        w = seed_world(engine, PRICING)
        sub = new_subscription(engine, w, state="active")
        meters = [
            PlanMeterRow("requests", "sum", "price_req", "mtr_req", "tollway.a.p.requests"),
            PlanMeterRow("tokens", "sum", "price_tok", "mtr_tok", "tollway.a.p.tokens"),
        ]
        with db.transaction(engine) as conn:
            _provisioned(conn, w.api_id, w.plan_id)
            billing_meters_repo.save_meters(conn, w.api_id, w.plan_id, list(reversed(meters)))
            billing_meters_repo.save_meters(conn, w.api_id, w.plan_id, meters)  # replaces
            billing_repo.insert_billing_subscription(
                conn,
                sub,
                NOW,
                {
                    "consumer_id": w.consumer_id,
                    "customer_id": "cus_1",
                    "stripe_subscription_id": "sub_stripe_1",
                    "updated_at": NOW,
                },
            )
        with engine.connect() as conn:
            assert billing_meters_repo.meters_of(conn, w.api_id, w.plan_id) == meters
            billed = billing_repo.billed_subscriptions(conn, sub)
        assert [(b.subscription_id, b.meter_key, b.meter_id, b.event_name) for b in billed] == [
            (sub, "requests", "mtr_req", "tollway.a.p.requests"),
            (sub, "tokens", "mtr_tok", "tollway.a.p.tokens"),
        ]
        with db.transaction(engine) as conn:
            billing_meters_repo.save_meters(conn, w.api_id, w.plan_id, meters[1:])
        with engine.connect() as conn:
            assert [b.meter_key for b in billing_repo.billed_subscriptions(conn, sub)] == ["tokens"]
    finally:
        engine.dispose()
