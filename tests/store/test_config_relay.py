"""Changes committed outside a request (webhook worker, usage worker) reach Redis-fed
gateways through the config relay."""

import os
from typing import Any

import pytest
import redis

from tests.support.waiting import wait_until
from tollway.store import changes
from tollway.store.changes import REDIS_CHANNEL, RedisPublisher
from tollway.workers.config_relay import ConfigRelay

REDIS_URL = os.environ.get("TOLLWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def pubsub() -> Any:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            pytest.fail("Redis must be running in CI")
        pytest.skip("Redis not running")
    ps = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    ps.subscribe(REDIS_CHANNEL)
    yield ps
    ps.close()
    client.close()


def test_relay_publishes_versions_committed_elsewhere(engine: Any, pubsub: Any) -> None:
    relay = ConfigRelay(engine, RedisPublisher(REDIS_URL))
    assert relay.tick() is False  # first look: nothing to relay
    assert relay.tick() is False  # unchanged
    with engine.begin() as conn:  # e.g. the webhook worker blocking a subscription
        version = changes.bump(conn)
    assert relay.tick() is True
    seen: list[bytes] = []

    def published() -> bool:
        msg = pubsub.get_message(timeout=0.1)
        if msg is not None:
            seen.append(msg["data"])
        return str(version).encode() in seen

    wait_until(published, 5, f"version {version} on Redis")
