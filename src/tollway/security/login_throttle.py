"""Failed-login throttling, per account and per client address.

A key (an account's email, a client's address) may fail ``max_failures`` times within a
sliding ``window_s``; past that every login attempt for it — right password or not — is
refused until the oldest counted failure leaves the window, and the refusal says how long
that is (``Retry-After``). A successful login clears its account's failures (not the
address's: an attacker with one valid account must not reset their address budget).

Two stores: in process (the embedded default: one process serves every login) and Redis
(``TOLLWAY_REDIS_URL``: every control-plane process shares the counts). Keys are stored
as SHA-256 digests, never as the email or address itself. If Redis is unreachable the
throttle fails open (logins still work; a warning is logged), because refusing every login
while Redis is down would lock every user out.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("tollway.security")


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    scope: str  # "account" or "address"
    max_failures: int
    window_s: float


def digest(scope: str, value: str) -> str:
    return hashlib.sha256(f"{scope}:{value.strip().lower()}".encode()).hexdigest()


class FailureStore(Protocol):
    def retry_after(self, key: str, rule: ThrottleRule, now: float) -> float | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        ...

    def record_failure(self, key: str, rule: ThrottleRule, now: float) -> None: ...

    def clear(self, key: str) -> None: ...


class MemoryFailureStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def _live(self, key: str, rule: ThrottleRule, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - rule.window_s:
            times.popleft()
        return times

    def retry_after(self, key: str, rule: ThrottleRule, now: float) -> float | None:
        with self._lock:
            times = self._live(key, rule, now)
            if len(times) < rule.max_failures:
                if not times:
                    self._failures.pop(key, None)
                return None
            return times[len(times) - rule.max_failures] + rule.window_s - now

    def record_failure(self, key: str, rule: ThrottleRule, now: float) -> None:
        with self._lock:
            self._live(key, rule, now).append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class RedisFailureStore:
    """One sorted set per key (score = failure time), expiring with the window."""

    def __init__(self, url: str) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)

    def _key(self, key: str) -> str:
        return f"tollway:login-failures:{key}"

    def retry_after(self, key: str, rule: ThrottleRule, now: float) -> float | None:
        import redis

        try:
            pipe = self._client.pipeline()
            pipe.zremrangebyscore(self._key(key), "-inf", now - rule.window_s)
            pipe.zrange(self._key(key), 0, -1, withscores=True)
            _, members = pipe.execute()
        except redis.RedisError:
            log.warning("login throttle: Redis unreachable; not throttling")
            return None
        if len(members) < rule.max_failures:
            return None
        scores = sorted(float(score) for _, score in members)
        return scores[len(scores) - rule.max_failures] + rule.window_s - now

    def record_failure(self, key: str, rule: ThrottleRule, now: float) -> None:
        import redis

        try:
            pipe = self._client.pipeline()
            pipe.zadd(self._key(key), {uuid.uuid4().hex: now})
            pipe.expire(self._key(key), math.ceil(rule.window_s) + 1)
            pipe.execute()
        except redis.RedisError:
            log.warning("login throttle: Redis unreachable; failure not counted")

    def clear(self, key: str) -> None:
        import redis

        try:
            self._client.delete(self._key(key))
        except redis.RedisError:
            log.warning("login throttle: Redis unreachable; failures not cleared")


class LoginThrottle:
    def __init__(
        self,
        store: FailureStore,
        *,
        per_account: int,
        per_address: int,
        window_s: float,
    ) -> None:
        self.store = store
        self.account = ThrottleRule("account", per_account, window_s)
        self.address = ThrottleRule("address", per_address, window_s)

    def _keys(self, email: str, address: str | None) -> list[tuple[str, ThrottleRule]]:
        keys = [(digest("account", email), self.account)]
        if address:
            keys.append((digest("address", address), self.address))
        return keys

    def retry_after(self, email: str, address: str | None, now: float) -> int | None:
        """Whole seconds to wait before ``email`` from ``address`` may try, or None."""
        waits = [
            w
            for key, rule in self._keys(email, address)
            if (w := self.store.retry_after(key, rule, now)) is not None
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, email: str, address: str | None, now: float) -> None:
        for key, rule in self._keys(email, address):
            self.store.record_failure(key, rule, now)

    def succeeded(self, email: str) -> None:
        self.store.clear(digest("account", email))


def build_throttle(
    redis_url: str | None, *, per_account: int, per_address: int, window_s: float
) -> LoginThrottle:
    store: FailureStore = RedisFailureStore(redis_url) if redis_url else MemoryFailureStore()
    return LoginThrottle(store, per_account=per_account, per_address=per_address, window_s=window_s)
