"""Per-request context: state, time, events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .ids import new_id
from .render import clean, expand_list, render
from .settings import EmulatorSettings
from .state import EmulatorState, Obj


def clock_now(state: EmulatorState, clock_id: str | None) -> int:
    """A test clock's frozen time, or the emulator's real time without one."""
    if clock_id:
        clock = state.get(clock_id)
        if clock is not None:
            return int(clock["frozen_time"])
    return int(state.wall_now())


def emit(
    state: EmulatorState,
    settings: EmulatorSettings,
    type: str,
    obj: Obj,
    *,
    created: int,
    previous: dict[str, Any] | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
) -> Obj:
    """Record an event and queue its deliveries to every matching endpoint."""
    data: Obj = {"object": clean(state, obj)}
    if previous:
        data["previous_attributes"] = previous
    endpoints = [
        we
        for we in state.of("webhook_endpoint")
        if we["status"] == "enabled"
        and ("*" in we["enabled_events"] or type in we["enabled_events"])
    ]
    event: Obj = {
        "id": new_id("evt"),
        "object": "event",
        "api_version": settings.api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": len(endpoints),
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type,
    }
    state.put(event)
    now = time.time()
    for we in reversed(endpoints):
        state.deliveries.append(
            {
                "event": event["id"],
                "endpoint": we["id"],
                "attempts": 0,
                "next_at": now,
                "created": now,
            }
        )
    return event


@dataclass
class Ctx:
    state: EmulatorState
    settings: EmulatorSettings
    base_url: str
    key: str = ""
    #: account of the API key ("" means the emulator's main account)
    account_id: str = ""
    request_id: str | None = None
    idempotency_key: str | None = None
    wake: Callable[[], None] = field(default=lambda: None)

    @property
    def api_base(self) -> str:
        return (self.settings.public_url or self.base_url).rstrip("/")

    def now(self, clock_id: str | None = None) -> int:
        return clock_now(self.state, clock_id)

    def clock_of_customer(self, customer_id: str | None) -> str | None:
        if not customer_id:
            return None
        cus = self.state.get(customer_id)
        return None if cus is None else cus.get("test_clock")

    def emit(
        self,
        type: str,
        obj: Obj,
        *,
        previous: dict[str, Any] | None = None,
        created: int | None = None,
        automatic: bool = False,
    ) -> Obj:
        at = created if created is not None else self.now()
        event = emit(
            self.state,
            self.settings,
            type,
            obj,
            created=at,
            previous=previous,
            request_id=None if automatic else self.request_id,
            idempotency_key=None if automatic else self.idempotency_key,
        )
        self.wake()
        return event

    @property
    def account(self) -> str:
        return self.account_id or self.state.account_id

    def fetch(self, obj_id: Any, object_name: str, kind: str, param: str = "id") -> Obj:
        obj = self.state.get(str(obj_id)) if obj_id else None
        if obj is None or obj.get("object") != object_name or obj.get("deleted"):
            raise errors.no_such(kind, str(obj_id), param)
        if obj.get("_account", self.state.account_id) != self.account:
            raise errors.no_such(kind, str(obj_id), param)
        return obj

    def retrieve(self, params: dict[str, Any], obj_id: Any, object_name: str, kind: str) -> Obj:
        """A plain ``GET /v1/<things>/{id}``: only ``expand`` accepted, the object rendered."""
        return render(self.state, self.fetch(obj_id, object_name, kind), expand_list(params))
