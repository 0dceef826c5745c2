"""Assembling a running Tollway from settings: data directory, keys, database, context."""

from __future__ import annotations

import logging
import os

from tollway.api.context import AppContext
from tollway.security.login_throttle import build_throttle
from tollway.security.secretbox import SecretBox, load_or_create_key
from tollway.settings import Settings
from tollway.store import db
from tollway.store.changes import RedisPublisher

log = logging.getLogger("tollway")


def prepare_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(settings.data_dir, 0o700)
    except OSError:  # pragma: no cover - e.g. a mounted volume we do not own
        log.warning("could not restrict permissions of %s", settings.data_dir)


def secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key:
        return SecretBox(settings.secret_key)
    return SecretBox(load_or_create_key(settings.data_dir))


def build_context(settings: Settings, *, migrate: bool = True) -> AppContext:
    prepare_data_dir(settings)
    engine = db.make_engine(settings.resolved_database_url)
    if migrate:
        db.upgrade(engine)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        secrets=secret_box(settings),
        publisher=RedisPublisher(settings.redis_url),
        login_throttle=build_throttle(
            settings.redis_url,
            per_account=settings.login_max_failures_per_account,
            per_address=settings.login_max_failures_per_address,
            window_s=settings.login_failure_window_s,
        ),
    )
    attach_billing(ctx)
    return ctx


def attach_billing(ctx: AppContext) -> None:
    """Plug the billing engine in."""
    from tollway.billing import wiring

    wiring.attach(ctx)
