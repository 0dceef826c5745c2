"""The durable usage spool: no metered call is lost, even to ``kill -9``.

The gateway appends each usage event with one ``os.write`` to a segment file that this
process owns (an exclusive ``flock`` marks ownership), *before* the last byte of the
response goes to the client. Once ``write`` returns, the bytes are in the kernel's page
cache and survive the death of the process. (They do not survive a power cut before the
page cache is written back; that would need an ``fsync`` per call.)

A flusher reads complete lines past a per-segment checkpoint, writes them to the usage
ledger in one batch (insert, skipping event ids already there), and only then advances
the checkpoint (write + atomic rename). A crash between the two replays the batch,
which the ledger deduplicates by ``event_id``. Segments whose owner died (their lock can
be taken) are replayed by whichever process sees them first, then deleted.

Line format (tab separated, one event per line, version tag first)::

    1 event_id timestamp_ms organization_id api_id operation_id method status latency_ms
      request_bytes response_bytes application_id subscription_id credential_id
      consumer_id environment usage_value
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tollway.domain.ids import new_id
from tollway.metering.events import (
    DECIMAL_FIELDS,
    FIELDS,
    INT_FIELDS,
    OPTIONAL_FIELDS,
    UsageEvent,
    as_dict,
)

log = logging.getLogger("tollway.metering.spool")

SEGMENT_SUFFIX = ".spool"
CHECKPOINT_SUFFIX = ".ckpt"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
#: The columns of a spool line after the version tag: the usage event's fields, in order.
LINE_FIELDS = FIELDS
_FIELDS = 1 + len(LINE_FIELDS)


def _line_encoder() -> Callable[..., bytes]:
    """``encode_line(**fields) -> bytes``, generated from ``LINE_FIELDS``: one keyword
    argument per field (a missing or unknown one is a TypeError), None as an empty
    column. Generated so that the gateway's hot path formats a line as fast as a
    hand-written f-string while the fields stay declared once (``UsageEvent``)."""
    columns = "\\t".join(
        f"{{'' if {n} is None else {n}}}" if n in OPTIONAL_FIELDS else f"{{{n}}}"
        for n in LINE_FIELDS
    )
    source = f"def encode_line(*, {', '.join(LINE_FIELDS)}):\n"
    source += f'    return f"1\\t{columns}\\n".encode()\n'
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # noqa: S102 - built from our own field names only
    encoder: Callable[..., bytes] = namespace["encode_line"]
    return encoder


#: Encode one spool line from the event's fields given as keyword arguments.
encode_line = _line_encoder()


def encode_event(e: UsageEvent) -> bytes:
    return encode_line(**as_dict(e))


def _converter(name: str) -> Callable[[str], object]:
    if name in DECIMAL_FIELDS:
        return lambda text: Decimal(text) if text else None
    if name in INT_FIELDS:
        return int
    if name in OPTIONAL_FIELDS:
        return lambda text: text or None
    return str


_CONVERTERS = tuple(_converter(n) for n in LINE_FIELDS)


def decode_event(line: bytes) -> UsageEvent | None:
    parts = line.decode("utf-8", "replace").rstrip("\n").split("\t")
    if len(parts) != _FIELDS or parts[0] != "1":
        return None
    try:
        values = [convert(text) for convert, text in zip(_CONVERTERS, parts[1:], strict=True)]
    except (ValueError, InvalidOperation):
        return None
    return UsageEvent(*values)  # type: ignore[arg-type]


class SpoolWriteFailed(Exception):
    """A spool write the operating system refused part-way (``written`` bytes got in)."""

    def __init__(self, written: int, error: OSError) -> None:
        super().__init__(f"{written} bytes written, then {error}")
        self.written = written
        self.error = error


@dataclass
class _Segment:
    path: Path
    fd: int  # write fd holding the exclusive lock
    size: int = 0
    active: bool = True


class Spool:
    """Append side, owned by one process. Not thread-safe for appends (event loop only)."""

    def __init__(
        self, directory: str | os.PathLike[str], *, segment_bytes: int = DEFAULT_SEGMENT_BYTES
    ):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segment_bytes = segment_bytes
        self._owned: dict[Path, _Segment] = {}
        self.appended = 0
        self._current = self._open_segment()

    def _open_segment(self) -> _Segment:
        path = self.directory / f"{new_id('seg')}-{os.getpid()}{SEGMENT_SUFFIX}"
        # Create under a name the flushers ignore, lock, then rename: nobody can mistake a
        # segment for an orphan between its creation and its locking.
        tmp = path.with_name(path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(tmp, path)
        seg = _Segment(path, fd)
        self._owned[path] = seg
        return seg

    def append(self, event: UsageEvent) -> None:
        self.append_line(encode_event(event))

    def append_line(self, data: bytes) -> None:
        """Append one already encoded event line (see ``encode_event``)."""
        self.append_block(data, 1)

    def append_block(self, data: bytes, count: int) -> None:
        """Append ``count`` complete encoded lines with one write. When the disk refuses
        (full, quota), ``SpoolWriteFailed`` says how many bytes did get in: append the
        rest, never the whole block again (that would split a line)."""
        seg = self._current
        n = 0
        try:
            while n < len(data):  # regular files write fully unless the disk is full
                n += os.write(seg.fd, data[n:])
        except OSError as exc:
            seg.size += n
            raise SpoolWriteFailed(n, exc) from exc
        seg.size += n
        self.appended += count
        if seg.size >= self._segment_bytes:
            # Rotate: the full segment is closed, which releases its lock; any flusher
            # then treats it as finished (drains it and deletes it). If no new segment can
            # be created (disk full), keep appending to this one and rotate later.
            try:
                fresh = self._open_segment()
            except OSError as exc:
                log.warning("spool segment not rotated", extra={"error": type(exc).__name__})
                return
            seg.active = False
            self._current = fresh
            self.release(seg.path)

    def owns(self, path: Path) -> _Segment | None:
        return self._owned.get(path)

    def release(self, path: Path) -> None:
        """Forget a fully flushed, inactive segment of ours (the flusher deletes it)."""
        seg = self._owned.pop(path, None)
        if seg is not None:
            os.close(seg.fd)

    def close(self) -> None:
        for seg in list(self._owned.values()):
            os.close(seg.fd)
        self._owned.clear()


LedgerWrite = Callable[[Sequence[UsageEvent]], object]


_INT_COLUMNS = tuple(1 + LINE_FIELDS.index(n) for n in INT_FIELDS)


def _plausible(line: bytes) -> bool:
    """Cheap shape check for the raw-line fast path (full parsing happens in the ledger)."""
    if not line.startswith(b"1\t") or line.count(b"\t") != _FIELDS - 1:
        return False
    parts = line.split(b"\t")
    return all(parts[i].isdigit() for i in _INT_COLUMNS)


def _read_checkpoint(path: Path) -> int:
    try:
        return int(path.read_text().strip() or "0")
    except (FileNotFoundError, ValueError):
        return 0


def _write_checkpoint(path: Path, offset: int) -> None:
    tmp = path.with_suffix(CHECKPOINT_SUFFIX + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, str(offset).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _lines(fd: int, start: int, limit: int, max_events: int) -> Iterator[tuple[bytes, int]]:
    """Complete lines from ``start`` to ``limit``, each with the offset just past it."""
    offset = start
    count = 0
    carry = b""
    while offset < limit and count < max_events:
        chunk = os.pread(fd, min(1 << 20, limit - offset), offset)
        if not chunk:
            return
        data = carry + chunk
        pos = 0
        base = offset - len(carry)
        while count < max_events:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            yield data[pos : nl + 1], base + nl + 1
            count += 1
            pos = nl + 1
        carry = data[pos:]
        offset += len(chunk)
        if count >= max_events:
            return


class SpoolFlusher:
    """Moves spooled events into the ledger in batches. ``flush_once`` blocks on I/O:
    run it in a worker thread (``asyncio.to_thread``)."""

    def __init__(
        self,
        spool: Spool | None,
        write: LedgerWrite,
        *,
        batch_size: int = 5000,
        write_lines: Callable[[Sequence[bytes]], object] | None = None,
        follow_pid: int | None = None,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        """``spool`` is this process's own spool (None in a separate flush worker).
        ``follow_pid``: also drain (never delete) the live segment of that process —
        a flush worker follows its gateway this way."""
        self.spool = spool
        if directory is None:
            if spool is None:
                raise ValueError("a spool or a directory is required")
            directory = spool.directory
        self.directory = Path(directory)
        self._follow_suffix = f"-{follow_pid}{SEGMENT_SUFFIX}" if follow_pid else None
        self._write = write
        self._write_lines = write_lines
        self.batch_size = batch_size
        self.flushed = 0
        self.flushed_own = 0  # events of this process's own segments

    def flush_once(self) -> int:
        """Flush everything currently in the directory; returns events written."""
        total = 0
        for path in sorted(self.directory.glob("*" + SEGMENT_SUFFIX)):
            total += self._flush_segment(path)
        return total

    def _flush_segment(self, path: Path) -> int:
        own = self.spool.owns(path) if self.spool is not None else None
        lock_fd = -1
        followed = False
        if own is None:
            try:
                lock_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return 0
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock_fd)
                lock_fd = -1
                if self._follow_suffix is None or not path.name.endswith(self._follow_suffix):
                    return 0  # a live process owns it
                followed = True  # the live segment of the gateway we work for
        try:
            return self._drain(path, own, lock_fd, followed)
        finally:
            if lock_fd >= 0:
                os.close(lock_fd)

    def _drain(self, path: Path, own: _Segment | None, lock_fd: int, followed: bool) -> int:
        ckpt = path.with_suffix(CHECKPOINT_SUFFIX)
        read_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if lock_fd < 0 else lock_fd
        written = 0
        # Read before the size: the event loop may append (and rotate the segment out)
        # while this drain runs, so a segment that was still active here may hold lines
        # past ``size`` by the end. Only one already inactive now is finished once read.
        finished_when_read = own is not None and not own.active
        try:
            offset = _read_checkpoint(ckpt)
            size = os.fstat(read_fd).st_size
            while offset < size:
                batch: list[UsageEvent] = []
                raw: list[bytes] = []
                end = offset
                for line, after in _lines(read_fd, offset, size, self.batch_size):
                    end = after
                    if self._write_lines is not None and _plausible(line):
                        raw.append(line)
                        continue
                    event = decode_event(line)
                    if event is None:
                        log.error("skipping unreadable spool line", extra={"segment": path.name})
                    else:
                        batch.append(event)
                if end == offset:
                    break  # only an incomplete line is left
                if raw:
                    assert self._write_lines is not None
                    self._write_lines(raw)
                if batch:
                    self._write(batch)
                _write_checkpoint(ckpt, end)
                written += len(batch) + len(raw)
                offset = end
            if finished_when_read:
                size = os.fstat(read_fd).st_size  # nothing may have come in since
        finally:
            if read_fd != lock_fd:
                os.close(read_fd)
        self.flushed += written
        if own is not None or followed:
            self.flushed_own += written
        if followed:
            return written
        # An orphan is finished once read (a trailing partial line is a write cut short by
        # the crash, for a response that was never completed); our own segment once rotated
        # out before this drain started and read to its current end. One rotated out during
        # the drain is released by the spool and drained as an orphan on the next pass.
        if own is None or (finished_when_read and offset >= size):
            if own is not None and self.spool is not None:
                self.spool.release(path)
            path.unlink(missing_ok=True)
            ckpt.unlink(missing_ok=True)
        return written
