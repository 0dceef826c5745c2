"""Running processes: everything in one (``tollway serve``) or the gateway alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
import uvloop
from starlette.types import ASGIApp

from tollway.context import AppContext
from tollway.control_plane import create_app
from tollway.domain.errors import ConfigurationError
from tollway.gateway.server import run_gateway
from tollway.gateway.settings import GatewaySettings
from tollway.gateway.supervisor import main_gateway
from tollway.mail import smtp
from tollway.runtime import build_context
from tollway.settings import Settings
from tollway.store.keys_repo import current_signing_key
from tollway.workers.config_relay import ConfigRelay
from tollway.workers.credits import CreditKeeper
from tollway.workers.notify import NotificationSender
from tollway.workers.runner import run_workers

log = logging.getLogger("tollway.server")


def gateway_settings(settings: Settings) -> GatewaySettings:
    """Map Tollway settings onto the gateway's own settings object."""
    return GatewaySettings(
        host=settings.gateway_host,
        port=settings.gateway_port,
        admin_port=settings.gateway_admin_port,
        api_key_header=settings.api_key_header,
        upstream_timeout_s=settings.upstream_timeout_s,
        max_body_bytes=settings.max_body_bytes,
        spool_dir=str(settings.data_dir / "spool"),
        rate_limit_failure_mode=settings.rate_limit_failure_mode,
        redis_url=settings.redis_url,
        database_url=settings.resolved_database_url,
        control_plane_url=settings.resolved_public_url,
        ssrf_allow=tuple(settings.ssrf_allow),  # re-checked on every new upstream connection
        workers=settings.gateway_workers,  # used by `tollway gateway` only
        max_connections=settings.gateway_max_connections,
        header_timeout_s=settings.gateway_header_timeout_s,
        body_timeout_s=settings.gateway_body_timeout_s,
        spool_min_free_bytes=settings.gateway_spool_min_free_bytes,
    )


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: this process owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _guarded(server: uvicorn.Server, host: str, port: int) -> None:
    """uvicorn exits the process when it cannot bind; turn that into a readable error."""
    try:
        await server.serve()
    except SystemExit:
        raise ConfigurationError(
            f"could not listen on {host}:{port} (is the port already in use?)"
        ) from None


ExtraApp = tuple[ASGIApp, str, int]  # (ASGI app, host, port) served next to the control plane
AfterStart = Callable[[], None]


async def _serve_all(
    ctx: AppContext,
    *,
    gateway: bool,
    workers: bool,
    extra_apps: tuple[ExtraApp, ...] = (),
    after_start: AfterStart | None = None,
) -> None:
    settings = ctx.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config = uvicorn.Config(
        create_app(ctx), host=settings.host, port=settings.port, log_level="warning", lifespan="off"
    )
    server = _QuietServer(config)
    servers = [server]
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(_guarded(server, settings.host, settings.port), name="control plane")
    ]
    for extra, host, port in extra_apps:
        # lifespan on: side apps such as the Stripe emulator run background tasks
        side = _QuietServer(
            uvicorn.Config(extra, host=host, port=port, log_level="warning", lifespan="on")
        )
        servers.append(side)
        tasks.append(asyncio.create_task(_guarded(side, host, port), name=f"server on {port}"))
    if gateway:
        tasks.append(
            asyncio.create_task(run_gateway(gateway_settings(settings), stop=stop), name="gateway")
        )
    if workers:
        relay = ConfigRelay(ctx.engine, ctx.publisher) if settings.redis_url else None
        notifier = NotificationSender(
            ctx.engine,
            ctx.secrets,
            mailer=smtp.from_settings(settings),
            brand_name=settings.brand_name,
            ssrf_allow=settings.ssrf_allow,
            clock=ctx.clock,
        )
        run = run_workers(
            webhooks=ctx.billing.webhooks,
            usage=ctx.billing.usage,
            usage_interval_s=settings.usage_sync_interval_s,
            relay=relay,
            stop=stop,
            notifier=notifier,
            credits=CreditKeeper(ctx.engine, ctx.billing.engines, ctx.clock),
        )
        tasks.append(asyncio.create_task(run, name="workers"))
    log.info("control plane on http://%s:%s", settings.host, settings.port)
    if after_start is not None:
        while not all(s.started for s in servers) and not any(t.done() for t in tasks):
            await asyncio.sleep(0.05)
        if not any(t.done() for t in tasks):
            try:
                await asyncio.to_thread(after_start)
            except Exception:
                stop.set()
                for s in servers:
                    s.should_exit = True
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    for s in servers:
        s.should_exit = True
    results = await asyncio.gather(*tasks, return_exceptions=True)
    if stopper not in done:
        failed = next(t for t in tasks if t in done)
        result = results[tasks.index(failed)]
        if isinstance(result, ConfigurationError):
            raise result
        raise ConfigurationError(f"the {failed.get_name()} stopped unexpectedly: {result!r}")


def run_all(
    settings: Settings,
    *,
    gateway: bool = True,
    workers: bool = True,
    migrate: bool = True,
    extra_apps: tuple[ExtraApp, ...] = (),
    after_start: AfterStart | None = None,
) -> None:
    ctx = build_context(settings, migrate=migrate)
    ensure_signing_key(ctx)
    print(
        f"Tollway control plane: {settings.resolved_public_url}  "
        f"(API docs: {settings.resolved_public_url}/api/v1/docs)",
        flush=True,
    )
    if gateway:
        print(f"Tollway gateway:       {settings.resolved_gateway_url}", flush=True)
    uvloop.run(  # the gateway's hot path and accept handling want uvloop (README)
        _serve_all(
            ctx, gateway=gateway, workers=workers, extra_apps=extra_apps, after_start=after_start
        )
    )


def ensure_signing_key(ctx: AppContext) -> None:
    """Create the token-signing key at start, so gateways know it before the first token."""
    with ctx.tx() as conn:
        current_signing_key(conn, ctx.secrets, ctx.clock.now())


def run_gateway_only(settings: Settings) -> None:
    main_gateway(gateway_settings(settings))
