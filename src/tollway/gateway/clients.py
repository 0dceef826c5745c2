"""Client connections a process accepts, and how slow or surplus ones are shed.

* **Header deadline** (``header_timeout_s``): a request head must be complete within
  this time of the connection opening or of its first byte; otherwise 408 and close.
  A client sending one header byte at a time cannot hold a connection longer.
* **Idle keep-alive** (``keepalive_timeout_s``): a connection with no request under way
  is closed after this.
* **Connection cap** (``max_connections``, default from the open-files limit): past the
  cap, the connection waiting longest for its request head is answered 408 and closed
  to make room (a slowloris connection, most likely), else the longest idle keep-alive
  one is closed; only when every connection is busy is the new one refused with 503.

Both waiting sets are dicts kept in the order connections entered them, so the timer
and the eviction only look at the oldest entries, never at every connection.
"""

from __future__ import annotations

from typing import Protocol

from tollway.gateway.metrics import GatewayMetrics

FD_RESERVE = 128  # files kept free for the spool, the database, Redis and the admin port


class Shed(Protocol):
    def shed(self, waiting_head: bool) -> None:
        """Close this connection; one caught waiting for its request head is first
        answered 408 (unless a response is already under way on it)."""
        ...


def connection_cap(configured: int, open_files_limit: int) -> int:
    """``configured`` if set, else half of what the open-files limit leaves (a busy client
    connection also holds an upstream connection)."""
    if configured > 0:
        return configured
    return max(16, (open_files_limit - FD_RESERVE) // 2)


class ClientTracker:
    def __init__(
        self,
        *,
        max_connections: int,
        header_timeout_s: float,
        keepalive_timeout_s: float,
        metrics: GatewayMetrics,
    ) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.metrics = metrics
        self.heads: dict[Shed, float] = {}  # waiting for (the rest of) a request head
        self.idle: dict[Shed, float] = {}  # keep-alive, no request under way

    def head_started(self, conn: Shed, now: float) -> None:
        self.idle.pop(conn, None)
        if conn not in self.heads:
            self.heads[conn] = now

    def head_done(self, conn: Shed) -> None:
        self.heads.pop(conn, None)

    def became_idle(self, conn: Shed, now: float) -> None:
        if conn not in self.heads:
            self.idle[conn] = now

    def forget(self, conn: Shed) -> None:
        self.heads.pop(conn, None)
        self.idle.pop(conn, None)

    def over_cap(self, open_connections: int) -> bool:
        """Called for each new connection: True when it must be refused (nothing else
        could be shed to make room for it)."""
        if open_connections <= self.max_connections:
            return False
        for waiting, reason in ((self.heads, "evicted_waiting"), (self.idle, "evicted_idle")):
            if waiting:
                victim = next(iter(waiting))
                self.forget(victim)
                victim.shed(waiting is self.heads)
                self.metrics.client_closes.inc(reason)
                return False
        self.metrics.client_closes.inc("refused_at_cap")
        return True

    def expire(self, now: float) -> None:
        """Shed connections past the header deadline or the keep-alive idle time."""
        for waiting, limit, reason in (
            (self.heads, now - self.header_timeout_s, "header_timeout"),
            (self.idle, now - self.keepalive_timeout_s, "idle_timeout"),
        ):
            expired = []
            for conn, since in waiting.items():
                if since > limit:
                    break
                expired.append(conn)
            for conn in expired:
                self.forget(conn)
                conn.shed(waiting is self.heads)
                self.metrics.client_closes.inc(reason)
