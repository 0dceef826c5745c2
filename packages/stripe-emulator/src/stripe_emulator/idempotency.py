"""Idempotent requests as Stripe documents them.

* A POST with an ``Idempotency-Key`` saves its status and body; the same key with the
  same method, path and parameters replays them (``Idempotent-Replayed: true``), with
  other parameters it is an ``idempotency_error``.
* Results are saved only once the endpoint started executing: a request refused by
  parameter validation (400/404 ``invalid_request_error``) saves nothing, so the same key
  with fixed parameters then succeeds. A 500 is saved and replayed.
* Keys are scoped to the API key, at most 255 characters, and forgotten after
  ``idempotency_ttl_s`` (Stripe: 24 hours) of the emulator's wall clock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from . import errors
from .settings import EmulatorSettings
from .state import EmulatorState

MAX_KEY_LENGTH = 255
#: Oldest records are forgotten past this many, whatever their age.
MAX_RECORDS = 20_000


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any
    headers: dict[str, str]


def _fingerprint(method: str, path: str, pairs: list[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps([method, path, sorted(pairs)]).encode()).hexdigest()


class Idempotency:
    def __init__(self, state: EmulatorState, settings: EmulatorSettings) -> None:
        self.state = state
        self.settings = settings

    def key_of(self, request: Request) -> str | None:
        idem = request.headers.get("idempotency-key")
        if idem is not None and len(idem) > MAX_KEY_LENGTH:
            raise errors.bad(
                None,
                f"Invalid idempotency key: it is {len(idem)} characters long, and keys can "
                f"be at most {MAX_KEY_LENGTH} characters.",
            )
        return idem or None

    def _live(self, record_key: str) -> dict[str, Any] | None:
        record = self.state.idempotency.get(record_key)
        if record is None:
            return None
        if self.state.wall_now() - float(record.get("at", 0)) >= self.settings.idempotency_ttl_s:
            del self.state.idempotency[record_key]
            return None
        return record

    def replay(
        self, api_key: str, idem: str, method: str, path: str, pairs: list[tuple[str, str]]
    ) -> Replay | None:
        with self.state.lock:
            record = self._live(f"{api_key}|{idem}")
        if record is None:
            return None
        if record["fingerprint"] != _fingerprint(method, path, pairs):
            raise errors.StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{idem}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        return Replay(
            record["status"],
            record["body"],
            {"Idempotent-Replayed": "true", "Original-Request": record["request_id"]},
        )

    def save(
        self,
        api_key: str,
        idem: str,
        method: str,
        path: str,
        pairs: list[tuple[str, str]],
        status: int,
        body: Any,
        request_id: str,
    ) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        if status in (400, 404) and error.get("type") == "invalid_request_error":
            return  # refused before executing: nothing is saved
        records = self.state.idempotency
        records[f"{api_key}|{idem}"] = {
            "fingerprint": _fingerprint(method, path, pairs),
            "status": status,
            "body": body,
            "request_id": request_id,
            "at": self.state.wall_now(),
        }
        while len(records) > MAX_RECORDS:
            records.pop(next(iter(records)))
