"""The in-process flusher drains this process's live segment while the event loop keeps
appending to it. If those appends rotate the segment out during the drain, the lines past
the size the drain started from must still reach the ledger: the segment may only be
deleted once it was inactive before the drain and has been read to its end.

Deterministic: the ledger write (a worker-thread DB round trip in the gateway) is where
the appends are interleaved, by calling the spool directly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tollway.metering.events import UsageEvent
from tollway.metering.spool import SEGMENT_SUFFIX, Spool, SpoolFlusher, encode_event


def _event(i: int) -> UsageEvent:
    return UsageEvent(
        f"ue_{i}",
        1_700_000_000_000 + i,
        "org",
        "api",
        None,
        "GET",
        200,
        1,
        0,
        0,
        "app",
        "sub",
        "key",
        "usr",
        "production",
        None,
    )


@pytest.mark.parametrize("raw_lines", [False, True], ids=["decoded", "raw_lines"])
def test_rotation_during_drain_loses_no_event(tmp_path: Path, raw_lines: bool) -> None:
    spool = Spool(tmp_path, segment_bytes=len(encode_event(_event(0))) * 5)  # 5 per segment
    ledger: set[str] = set()
    appended = 0

    def serve_more() -> None:
        # While the first batch is being written, the loop appends four more events;
        # the last one fills the segment and rotates it out.
        nonlocal appended
        if appended == 1:
            first = next(iter(spool._owned))
            for i in range(1, 5):
                spool.append(_event(i))
                appended += 1
            assert spool.owns(first) is None  # rotated out and released

    def write(events: Sequence[UsageEvent]) -> None:
        ledger.update(e.event_id for e in events)
        serve_more()

    def write_lines(lines: Sequence[bytes]) -> None:
        ledger.update(line.split(b"\t")[1].decode() for line in lines)
        serve_more()

    flusher = SpoolFlusher(spool, write, write_lines=write_lines if raw_lines else None)
    spool.append(_event(0))
    appended += 1
    assert flusher.flush_once() == 1
    # The rotated segment still holds ue_1..ue_4: it was not deleted.
    assert len(list(tmp_path.glob("*" + SEGMENT_SUFFIX))) == 2
    flusher.flush_once()
    assert ledger == {f"ue_{i}" for i in range(5)}
    # Drained to the end: now the rotated segment is gone, only the new live one is left.
    (live,) = tmp_path.glob("*" + SEGMENT_SUFFIX)
    assert spool.owns(live) is not None
    flusher.flush_once()
    assert ledger == {f"ue_{i}" for i in range(5)}
    spool.close()


def test_segment_rotated_before_the_drain_is_deleted_once_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=len(encode_event(_event(0))) * 2)
    ledger: list[str] = []
    flusher = SpoolFlusher(spool, lambda evs: ledger.extend(e.event_id for e in evs))
    for i in range(5):  # two full segments rotated out, one event in the live one
        spool.append(_event(i))
    assert flusher.flush_once() == 5
    assert sorted(ledger) == [f"ue_{i}" for i in range(5)]
    (live,) = tmp_path.glob("*" + SEGMENT_SUFFIX)
    assert spool.owns(live) is not None
    assert flusher.flush_once() == 0
    spool.close()
