"""What the app shares between requests and background tasks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .context import Ctx
from .settings import EmulatorSettings
from .state import EmulatorState
from .webhooks import Deliverer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    state: EmulatorState
    settings: EmulatorSettings
    deliverer: Deliverer
    base_url: str = field(default="http://127.0.0.1:12111")

    def ctx(
        self,
        base_url: str | None = None,
        *,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Ctx:
        if base_url:
            self.base_url = base_url.rstrip("/")
        return Ctx(
            state=self.state,
            settings=self.settings,
            base_url=self.base_url,
            wake=self.deliverer.wake,
            request_id=request_id,
            idempotency_key=idempotency_key,
        )

    def persist(self) -> None:
        path = self.settings.state_file
        if path is None:
            return
        try:
            self.state.save(path)
        except OSError:
            log.exception("could not save emulator state to %s", path)
