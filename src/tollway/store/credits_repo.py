"""Prepaid credits: credit plans, accounts, the append-only credit ledger and purchases.

Entries are only ever inserted; each has a unique ``reference`` so a purchase, a top-up
or a usage mark is recorded once however often it is retried. A change of what a
subscription may spend bumps the config version (gateways reload at once).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tollway.domain.ids import new_id
from tollway.store import changes
from tollway.store.tables import credit_accounts as a
from tollway.store.tables import credit_entries as e
from tollway.store.tables import credit_plans as p
from tollway.store.tables import credit_purchases as cp

CREDITS = ("purchase", "auto_topup", "adjustment")


def plan_packs(conn: Connection, plan_id: str) -> list[str] | None:
    """The packs of a prepaid plan, None when the plan is not prepaid."""
    packs = conn.execute(select(p.c.packs).where(p.c.plan_id == plan_id)).scalar()
    return None if packs is None else [str(x) for x in packs]


def set_plan_packs(conn: Connection, plan_id: str, packs: list[str], now: datetime) -> None:
    done = conn.execute(update(p).where(p.c.plan_id == plan_id).values(packs=packs))
    if not done.rowcount:
        conn.execute(insert(p).values(plan_id=plan_id, packs=packs, created_at=now))


def open_account(conn: Connection, subscription_id: str, currency: str, now: datetime) -> None:
    conn.execute(
        insert(a).values(
            subscription_id=subscription_id, currency=currency, topups=0, updated_at=now
        )
    )


def account(conn: Connection, subscription_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(a).where(a.c.subscription_id == subscription_id)).mappings().first()
    return None if row is None else dict(row)


def accounts(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(a).order_by(a.c.subscription_id)).mappings()]


def update_account(conn: Connection, subscription_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(a).where(a.c.subscription_id == subscription_id).values(**values))


def add_entry(
    conn: Connection,
    subscription_id: str,
    *,
    kind: str,
    amount: Decimal,
    reference: str,
    now: datetime,
    calls_to: int | None = None,
) -> bool:
    """Append an entry; False when its reference is already in the ledger. A credit
    (purchase, top-up, adjustment) bumps the config version."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(e).values(
                    id=new_id("cre"),
                    subscription_id=subscription_id,
                    kind=kind,
                    amount=str(amount),
                    calls_to=calls_to,
                    reference=reference,
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    if kind in CREDITS:
        changes.bump(conn)
    return True


def entries(conn: Connection, subscription_id: str) -> list[dict[str, Any]]:
    query = select(e).where(e.c.subscription_id == subscription_id).order_by(e.c.created_at, e.c.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def credited(conn: Connection, subscription_id: str) -> Decimal:
    """Every credit ever added (purchases, top-ups, adjustments)."""
    query = select(e.c.amount).where(e.c.subscription_id == subscription_id, e.c.kind.in_(CREDITS))
    return sum((Decimal(x) for x in conn.execute(query).scalars()), Decimal(0))


def credited_by_subscription(conn: Connection) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for sub_id, amount in conn.execute(
        select(e.c.subscription_id, e.c.amount).where(e.c.kind.in_(CREDITS))
    ):
        out[sub_id] = out.get(sub_id, Decimal(0)) + Decimal(amount)
    return out


def usage_mark(conn: Connection, subscription_id: str) -> int:
    """Lifetime calls already burned by usage entries."""
    query = select(func.max(e.c.calls_to)).where(
        e.c.subscription_id == subscription_id, e.c.kind == "usage"
    )
    return int(conn.execute(query).scalar() or 0)


def add_purchase(
    conn: Connection, session_id: str, subscription_id: str, amount: str, url: str, now: datetime
) -> None:
    conn.execute(
        insert(cp).values(
            session_id=session_id,
            subscription_id=subscription_id,
            amount=amount,
            status="open",
            checkout_url=url,
            created_at=now,
        )
    )


def purchase(conn: Connection, session_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(cp).where(cp.c.session_id == session_id)).mappings().first()
    return None if row is None else dict(row)


def open_purchases(conn: Connection, subscription_id: str) -> list[dict[str, Any]]:
    query = select(cp).where(cp.c.subscription_id == subscription_id, cp.c.status == "open")
    return [dict(r) for r in conn.execute(query).mappings()]


def set_purchase_status(conn: Connection, session_id: str, status: str) -> None:
    conn.execute(update(cp).where(cp.c.session_id == session_id).values(status=status))
