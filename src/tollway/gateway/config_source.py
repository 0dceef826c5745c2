"""Where the snapshot comes from, and how the gateway learns that it changed.

``ConfigSource`` is the seam: ``load()`` builds a fresh snapshot, ``changes()`` yields
(the monotonic time of) every change notice. ``MemoryConfigSource`` is driven by
tests; ``SqlConfigSource`` reads the catalog tables and listens on Redis
(``tollway:config``), PostgreSQL (``LISTEN tollway_config``) or, on SQLite, polls
``config_version`` every 250 ms. A slow safety poll runs alongside push channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tollway.gateway.snapshot import Snapshot
from tollway.gateway.snapshot_sql import load_snapshot, read_version

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")

log = logging.getLogger("tollway.gateway.config")
CHANNEL = "tollway:config"
PG_CHANNEL = "tollway_config"


class ConfigSource(Protocol):
    async def load(self) -> Snapshot: ...

    def changes(self) -> AsyncIterator[float]: ...

    async def close(self) -> None: ...


class MemoryConfigSource:
    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self._snapshot = snapshot or Snapshot()
        self._queue: asyncio.Queue[float] = asyncio.Queue()

    def set(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._queue.put_nowait(time.monotonic())

    async def load(self) -> Snapshot:
        return self._snapshot

    async def changes(self) -> AsyncIterator[float]:
        while True:
            yield await self._queue.get()

    async def close(self) -> None:
        return None


class SqlConfigSource:
    def __init__(
        self,
        database_url: str,
        *,
        redis_url: str | None = None,
        poll_interval_s: float = 0.25,
        safety_poll_s: float = 2.0,
    ) -> None:
        from tollway.store.db import make_engine

        self.engine = make_engine(database_url)
        self.database_url = database_url
        self.redis_url = redis_url
        self.poll_interval_s = poll_interval_s
        self.safety_poll_s = safety_poll_s
        self._queue: asyncio.Queue[float] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_version: int | None = None
        # A cancelled task does not stop the thread it awaits: database work runs under
        # this lock, and ``close`` takes it before disposing of the engine, so no query
        # is still running (or opens a new connection) once the source is closed.
        self._busy = threading.Lock()
        self._closed = False

    def _query(self, read: Callable[[Engine], T]) -> T:
        with self._busy:
            if self._closed:
                raise RuntimeError("the configuration source is closed")
            return read(self.engine)

    async def load(self) -> Snapshot:
        snap = await asyncio.to_thread(self._query, load_snapshot)
        self._last_version = snap.version
        return snap

    async def changes(self) -> AsyncIterator[float]:
        push = False
        if self.redis_url:
            self._tasks.append(asyncio.create_task(self._redis_listener(self.redis_url)))
            push = True
        elif self.engine.dialect.name == "postgresql":
            self._tasks.append(asyncio.create_task(self._pg_listener()))
            push = True
        interval = self.safety_poll_s if push else self.poll_interval_s
        self._tasks.append(asyncio.create_task(self._poller(interval)))
        while True:
            noticed = await self._queue.get()
            while not self._queue.empty():  # coalesce a burst of notices
                self._queue.get_nowait()
            yield noticed

    async def _poller(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                version = await asyncio.to_thread(self._query, read_version)
            except Exception as exc:
                log.warning("config version poll failed", extra={"error": type(exc).__name__})
                continue
            if version != self._last_version:
                self._queue.put_nowait(time.monotonic())

    async def _redis_listener(self, url: str) -> None:
        import redis.asyncio as aioredis

        while True:
            client: Any = aioredis.Redis.from_url(url, socket_connect_timeout=1.0)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(CHANNEL)
                self._queue.put_nowait(time.monotonic())  # catch up after (re)subscribing
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._queue.put_nowait(time.monotonic())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("config channel lost", extra={"error": type(exc).__name__})
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(1.0)

    async def _pg_listener(self) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        while True:
            try:
                aconn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                async with aconn:
                    await aconn.execute(f"LISTEN {PG_CHANNEL}")
                    self._queue.put_nowait(time.monotonic())
                    async for _ in aconn.notifies():
                        self._queue.put_nowait(time.monotonic())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("config notifications lost", extra={"error": type(exc).__name__})
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

        def shut() -> None:
            with self._busy:  # after any query still running in a thread
                self._closed = True
                self.engine.dispose()

        await asyncio.to_thread(shut)
