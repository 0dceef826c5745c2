"""All emulator data: plain JSON-able dicts, optionally persisted to a file."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ids import rand

Obj = dict[str, Any]


@dataclass
class EmulatorState:
    """Objects by id (insertion ordered), API keys, idempotency records, meter events."""

    account_id: str = field(default_factory=lambda: "acct_1Emu" + rand(12))
    objects: dict[str, Obj] = field(default_factory=dict)
    #: key -> {"type": "secret"|"restricted"|"publishable", "permissions": [...]}
    keys: dict[str, Obj] = field(default_factory=dict)
    #: "<api key>|<idempotency key>" -> {"fingerprint", "status", "body"}
    idempotency: dict[str, Obj] = field(default_factory=dict)
    meter_events: list[Obj] = field(default_factory=list)
    #: pending webhook deliveries
    deliveries: list[Obj] = field(default_factory=list)
    #: runtime switches set through /_emulator/settings
    switches: Obj = field(default_factory=dict)
    #: seconds added to the wall clock (``POST /_emulator/time``): moves what Stripe
    #: measures in real time (idempotency expiry, meter-event processing, rate limits)
    wall_offset: float = 0.0
    #: when set, the wall clock stands still at this time (moved only by ``advance``)
    wall_frozen: float | None = None
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def wall_now(self) -> float:
        """The emulator's real time: the system clock plus ``wall_offset``."""
        if self.wall_frozen is not None:
            return self.wall_frozen
        return time.time() + self.wall_offset

    # -- keys -----------------------------------------------------------------------
    def ensure_default_keys(self, secret: str | None, publishable: str | None) -> None:
        if not any(k["type"] == "secret" for k in self.keys.values()):
            self.keys[secret or f"sk_test_emu_{rand(24)}"] = {"type": "secret", "permissions": []}
        elif secret and secret not in self.keys:
            self.keys[secret] = {"type": "secret", "permissions": []}
        if not any(k["type"] == "publishable" for k in self.keys.values()):
            self.keys[publishable or f"pk_test_emu_{rand(24)}"] = {
                "type": "publishable",
                "permissions": [],
            }

    def key_of_type(self, kind: str) -> str:
        return next(k for k, v in self.keys.items() if v["type"] == kind)

    # -- objects --------------------------------------------------------------------
    def get(self, obj_id: str) -> Obj | None:
        return self.objects.get(obj_id)

    def put(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        return obj

    def of(self, object_name: str) -> list[Obj]:
        """Objects of one type, newest first (like Stripe lists)."""
        return [o for o in reversed(self.objects.values()) if o.get("object") == object_name]

    # -- persistence ----------------------------------------------------------------
    def to_json(self) -> Obj:
        return {
            "account_id": self.account_id,
            "objects": self.objects,
            "keys": self.keys,
            "idempotency": self.idempotency,
            "meter_events": self.meter_events,
            "deliveries": self.deliveries,
            "switches": self.switches,
            "wall_offset": self.wall_offset,
        }

    @classmethod
    def from_json(cls, data: Obj) -> EmulatorState:
        return cls(
            account_id=data["account_id"],
            objects=data.get("objects", {}),
            keys=data.get("keys", {}),
            idempotency=data.get("idempotency", {}),
            meter_events=data.get("meter_events", []),
            deliveries=data.get("deliveries", []),
            switches=data.get("switches", {}),
            wall_offset=float(data.get("wall_offset", 0.0)),
        )

    def reset(self) -> None:
        """Forget every object and event; keep the account and its keys."""
        with self.lock:
            self.objects.clear()
            self.idempotency.clear()
            self.meter_events.clear()
            self.deliveries.clear()
            self.switches.clear()
            self.wall_offset = 0.0
            self.wall_frozen = None
            self.keys = {k: v for k, v in self.keys.items() if not v.get("added")}

    def save(self, path: Path) -> None:
        with self.lock:
            text = json.dumps(self.to_json(), separators=(",", ":"))
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> EmulatorState:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
