"""Access fences and gateway acknowledgements (``access_fences``, ``gateway_instances``).

A cancel first *fences* the subscription (the gateways refuse it from their next
configuration on), waits until every live gateway has applied that configuration —
a gateway acknowledges a version only once every call it admitted under older ones is
in the usage ledger — and only then cuts the final usage push.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from tollway.store import changes
from tollway.store.billing_tables import access_fences, gateway_instances


def fence(conn: Connection, subscription_id: str, now: datetime) -> int:
    """End the subscription's access at the gateways; returns the config version that
    carries it (gateways that applied it refuse the subscription)."""
    known = conn.execute(
        select(access_fences.c.subscription_id).where(
            access_fences.c.subscription_id == subscription_id
        )
    ).first()
    if known is None:
        conn.execute(access_fences.insert().values(subscription_id=subscription_id, created_at=now))
    return changes.bump(conn)


def unfence(conn: Connection, subscription_id: str) -> None:
    """Lift a fence (the cancel failed, or is done); the gateways reload."""
    done = conn.execute(
        delete(access_fences).where(access_fences.c.subscription_id == subscription_id)
    ).rowcount
    if done:
        changes.bump(conn)


def fenced(conn: Connection) -> frozenset[str]:
    return frozenset(str(r[0]) for r in conn.execute(select(access_fences.c.subscription_id)))


def acknowledge(conn: Connection, instance_id: str, version: int, now: datetime) -> None:
    """A gateway has applied ``version`` (and flushed what it admitted before it)."""
    done = conn.execute(
        update(gateway_instances)
        .where(gateway_instances.c.instance_id == instance_id)
        .values(config_version=version, seen_at=now)
    ).rowcount
    if not done:
        conn.execute(
            gateway_instances.insert().values(
                instance_id=instance_id, config_version=version, seen_at=now
            )
        )


def forget(conn: Connection, instance_id: str) -> None:
    conn.execute(delete(gateway_instances).where(gateway_instances.c.instance_id == instance_id))


def behind(conn: Connection, version: int, seen_since: datetime) -> list[str]:
    """Live gateways (seen since ``seen_since``) that have not acknowledged ``version``."""
    c = gateway_instances.c
    rows = conn.execute(
        select(c.instance_id).where(c.seen_at >= seen_since, c.config_version < version)
    )
    return [str(r[0]) for r in rows]
