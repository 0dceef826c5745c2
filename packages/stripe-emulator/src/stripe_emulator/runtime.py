"""What the app shares between requests and background tasks."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from .context import Ctx
from .idempotency import Idempotency
from .ratelimit import RateLimiter
from .resources.portal import save_default_configuration
from .settings import EmulatorSettings
from .state import EmulatorState
from .webhooks import Deliverer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    state: EmulatorState
    settings: EmulatorSettings
    deliverer: Deliverer
    idempotency: Idempotency
    limiter: RateLimiter
    base_url: str = field(default="http://127.0.0.1:12111")
    #: True while the app's lifespan tasks (webhook delivery, scheduler) run
    background: bool = False
    #: the settings the app was created with: ``reset`` returns to them
    initial: EmulatorSettings | None = None

    def tune(self, changes: dict[str, Any]) -> None:
        """Change settings at run time (validated like at start)."""
        if self.initial is None:
            self.initial = dataclasses.replace(self.settings)
        tuned = dataclasses.replace(self.settings, **changes)  # runs __post_init__ checks
        for name in changes:
            setattr(self.settings, name, getattr(tuned, name))

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

    def prepare(self) -> None:
        """Default keys, and the Dashboard-saved portal settings when configured so."""
        with self.state.lock:
            self.state.ensure_default_keys(self.settings.secret_key, self.settings.publishable_key)
            if self.settings.portal_configured:
                save_default_configuration(self.ctx())

    def reset(self) -> None:
        if self.initial is not None:
            for f in dataclasses.fields(self.initial):
                setattr(self.settings, f.name, getattr(self.initial, f.name))
        self.state.reset()
        self.deliverer.log.clear()
        self.limiter.reset()
        self.prepare()
        self.persist()

    def persist(self) -> None:
        path = self.settings.state_file
        if path is None:
            return
        try:
            self.state.save(path)
        except OSError:
            log.exception("could not save emulator state to %s", path)
