"""Config change fan-out: every change the gateway cares about bumps ``config_version``.

The bump happens in the same transaction as the change. On PostgreSQL a ``NOTIFY
tollway_config`` rides along (delivered at commit); with Redis configured, the new version
is also published on ``tollway:config`` after commit. Gateways on SQLite poll the counter.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, select, update

from tollway.store.tables import config_version

log = logging.getLogger("tollway.changes")
REDIS_CHANNEL = "tollway:config"
PG_CHANNEL = "tollway_config"


def bump(conn: Connection) -> int:
    """Increment the config version inside the caller's transaction and return it."""
    conn.execute(
        update(config_version)
        .where(config_version.c.id == 1)
        .values(version=config_version.c.version + 1)
    )
    version = int(
        conn.execute(select(config_version.c.version).where(config_version.c.id == 1)).scalar_one()
    )
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {PG_CHANNEL}, '{version}'")
    conn.info["tollway_config_version"] = version
    return version


def current(conn: Connection) -> int:
    return int(
        conn.execute(select(config_version.c.version).where(config_version.c.id == 1)).scalar_one()
    )


class RedisPublisher:
    """Publishes config versions on Redis after commit; failures are logged, never raised
    (gateways also poll, so a lost message only delays propagation)."""

    def __init__(self, url: str | None) -> None:
        self._client: Any = None
        if url:
            import redis

            self._client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)

    def publish(self, version: int) -> None:
        if self._client is None:
            return
        try:
            self._client.publish(REDIS_CHANNEL, str(version))
        except Exception as exc:
            log.warning("config fan-out to Redis failed: %s", type(exc).__name__)
