"""The usage spool and the ledger writer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.gateway.sql_catalog import seed_consumer
from tollway.metering.events import UsageEvent
from tollway.metering.ledger import MemoryLedger
from tollway.metering.spool import Spool, SpoolFlusher, decode_event, encode_event
from tollway.security.apikeys import generate_api_key
from tollway.store import tables as t
from tollway.store.ledger import SqlLedger


def ev(i: int, usage: Decimal | None = None) -> UsageEvent:
    return UsageEvent(
        event_id=f"ue_{i:06d}",
        timestamp_ms=1_760_000_000_000 + i,
        organization_id="org_1",
        api_id="api_1",
        operation_id=None if i % 2 else "op_1",
        method="GET",
        status=200,
        latency_ms=3,
        request_bytes=0,
        response_bytes=10,
        application_id="app_1",
        subscription_id="sub_1",
        credential_id="key_1",
        consumer_id="usr_1",
        environment="production",
        usage_value=usage,
    )


def test_encode_decode_roundtrip() -> None:
    for e in (ev(1), ev(2, Decimal("0.000000000001")), ev(3, Decimal("12345.5"))):
        assert decode_event(encode_event(e)) == e
    assert decode_event(b"garbage\n") is None


def test_flush_moves_events_once_and_checkpoints(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ledger = MemoryLedger()
    flusher = SpoolFlusher(spool, ledger.write, batch_size=7)
    for i in range(20):
        spool.append(ev(i))
    assert flusher.flush_once() == 20
    assert len(ledger.events) == 20
    assert flusher.flush_once() == 0  # checkpoint advanced: nothing re-read
    spool.append(ev(20))
    assert flusher.flush_once() == 1
    assert ledger.batches == 4  # 7 + 7 + 6, then 1


def test_rotation_deletes_flushed_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=2000)
    ledger = MemoryLedger()
    flusher = SpoolFlusher(spool, ledger.write)
    for i in range(100):
        spool.append(ev(i))
    segments = list(tmp_path.glob("*.spool"))
    assert len(segments) > 3
    flusher.flush_once()
    assert len(ledger.events) == 100
    assert len(list(tmp_path.glob("*.spool"))) == 1  # only the active one is left


def test_replay_after_crash_before_checkpoint_is_deduplicated(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ledger = MemoryLedger()
    for i in range(10):
        spool.append(ev(i))
    SpoolFlusher(spool, ledger.write).flush_once()
    for ckpt in tmp_path.glob("*.ckpt"):
        ckpt.unlink()  # as if the process died between the ledger commit and the checkpoint
    SpoolFlusher(spool, ledger.write).flush_once()
    assert len(ledger.events) == 10


ORPHAN_WRITER = """
import os, sys
sys.path.insert(0, {root!r})
from tests.gateway.test_metering import ev
from tollway.metering.spool import Spool
spool = Spool({dir!r})
for i in range(50):
    spool.append(ev(i))
seg = next(iter(spool._owned.values()))
os.write(seg.fd, b"1\\tue_partial\\t17")  # a write cut short by the crash
os.kill(os.getpid(), 9)
"""


def test_orphaned_segment_of_a_killed_process_is_replayed(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ORPHAN_WRITER.format(root=root, dir=str(spool_dir))
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    assert len(list(spool_dir.glob("*.spool"))) == 1
    ledger = MemoryLedger()
    mine = Spool(spool_dir)
    SpoolFlusher(mine, ledger.write).flush_once()
    assert len(ledger.events) == 50
    assert len(list(spool_dir.glob("*.spool"))) == 1  # the orphan is gone, ours remains


def test_live_owner_segments_are_left_alone(tmp_path: Path) -> None:
    a = Spool(tmp_path)
    b = Spool(tmp_path)
    a.append(ev(1))
    ledger = MemoryLedger()
    SpoolFlusher(b, ledger.write).flush_once()
    assert ledger.events == {}  # a is alive and owns its segment
    SpoolFlusher(a, ledger.write).flush_once()
    assert len(ledger.events) == 1


@pytest.fixture
def sql_engine(tmp_path: Path) -> Iterator[Engine]:
    from tests.gateway.conftest import private_engine

    with private_engine(tmp_path) as engine:
        yield engine


def test_sql_ledger_inserts_once_and_touches_keys(sql_engine: Engine) -> None:
    from datetime import UTC, datetime

    with sql_engine.begin() as c:
        seed_consumer(c, datetime.now(UTC), generate_api_key("production"))
    ledger = SqlLedger(sql_engine)
    events = [ev(i, Decimal("1.25") if i == 3 else None) for i in range(2500)]
    assert ledger.write(events) == 2500
    assert ledger.write(events[:100]) == 0
    with sql_engine.connect() as c:
        assert c.execute(select(func.count()).select_from(t.usage_events)).scalar() == 2500
        usage = c.execute(
            select(t.usage_events.c.usage_value).where(t.usage_events.c.event_id == "ue_000003")
        ).scalar()
        assert usage is not None and Decimal(usage) == Decimal("1.25")
        last = c.execute(select(t.api_keys.c.last_used_at)).scalar()
        assert last is not None and int(last.timestamp() * 1000) == 1_760_000_000_000 + 2499


def test_raw_line_path_stores_the_same_rows(sql_engine: Engine, tmp_path: Path) -> None:
    ledger = SqlLedger(sql_engine)
    a = [ev(i, Decimal("2.5") if i % 3 == 0 else None) for i in range(0, 40, 2)]
    b = [ev(i, Decimal("2.5") if i % 3 == 0 else None) for i in range(1, 40, 2)]
    assert ledger.write(a) == 20
    spool = Spool(tmp_path / "spool")
    for e in b + a:  # a again: duplicates are skipped on the raw path too
        spool.append(e)
    flusher = SpoolFlusher(spool, ledger.write, write_lines=ledger.write_lines)
    assert flusher.flush_once() == 40
    cols = [c for c in t.usage_events.c if c.name != "recorded_at"]
    with sql_engine.connect() as c:
        rows = {r.event_id: r for r in c.execute(select(*cols))}
    assert len(rows) == 40
    for e in a + b:
        r = rows[e.event_id]
        assert (r.timestamp_ms, r.status, r.operation_id, r.response_bytes) == (
            e.timestamp_ms,
            e.status,
            e.operation_id,
            e.response_bytes,
        )
        assert (None if r.usage_value is None else Decimal(r.usage_value)) == e.usage_value
