"""The ``tollway`` command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from tollway.domain.errors import TollwayError
from tollway.settings import Settings, load_settings

if TYPE_CHECKING:
    from tollway.context import AppContext

app = typer.Typer(
    help="Tollway: self-hosted API monetization.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
admin_app = typer.Typer(help="Administration: tokens and users.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
analytics_app = typer.Typer(help="Publisher analytics: the ledger's rollup.", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML configuration file")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default ./.tollway or TOLLWAY_DATA_DIR)"),
]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _settings(config: Path | None, data_dir: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, data_dir=data_dir, **overrides)
    except TollwayError as exc:
        raise _fail(exc.detail) from None


def _logging(settings: Settings) -> None:
    from tollway.logs import configure

    configure(settings.log_level)


@app.command()
def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str | None, typer.Option(help="Control plane address")] = None,
    port: Annotated[int | None, typer.Option(help="Control plane port (default 8000)")] = None,
    gateway: Annotated[bool, typer.Option(help="Also run the gateway in this process")] = True,
    workers: Annotated[bool, typer.Option(help="Also run the background workers")] = True,
    migrate: Annotated[bool, typer.Option(help="Upgrade the schema at start")] = True,
) -> None:
    """Run the control plane (and by default the gateway and workers) in one process."""
    settings = _settings(config, data_dir, host=host, port=port)
    _logging(settings)
    from tollway.server import run_all

    try:
        run_all(settings, gateway=gateway, workers=workers, migrate=migrate)
    except TollwayError as exc:
        raise _fail(exc.detail) from None


@app.command("gateway")
def gateway_cmd(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Gateway processes sharing the port; a supervisor restarts any that dies "
            "(default TOLLWAY_GATEWAY_WORKERS, 1)",
        ),
    ] = None,
) -> None:
    """Run only the gateway (start any number, against the same database and Redis)."""
    settings = _settings(config, data_dir, gateway_workers=workers)
    _logging(settings)
    from tollway.server import run_gateway_only

    try:
        run_gateway_only(settings)
    except TollwayError as exc:
        raise _fail(exc.detail) from None


@app.command()
def migrate(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Upgrade the database schema to the latest revision."""
    from tollway.runtime import prepare_data_dir
    from tollway.store import db

    settings = _settings(config, data_dir)
    prepare_data_dir(settings)
    engine = db.make_engine(settings.resolved_database_url)
    before = db.current_revision(engine)
    db.upgrade(engine)
    typer.echo(f"schema: {before or 'empty'} -> {db.current_revision(engine)}")


@analytics_app.command("rebuild-rollup")
def rebuild_rollup(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Recompute the hourly usage rollup from the ledger, in one transaction."""
    from tollway.store import db, usage_rollup

    settings = _settings(config, data_dir)
    engine = db.make_engine(settings.resolved_database_url)
    try:
        if db.current_revision(engine) is None:
            raise _fail("the database has no schema yet: run `tollway migrate` first")
        with db.transaction(engine) as conn:
            rows = usage_rollup.rebuild(conn)
    finally:
        engine.dispose()
    typer.echo(f"usage rollup rebuilt: {rows} row(s)")


@admin_app.command("create-token")
def create_token(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    email: Annotated[str, typer.Option(help="Admin user to create or reuse")] = "admin@example.com",
    name: Annotated[str, typer.Option(help="A name for the token")] = "cli",
) -> None:
    """Create an admin API token; the token is the last line printed."""
    from tollway.runtime import build_context
    from tollway.services.sessions import create_token as make_token
    from tollway.store import users_repo

    ctx = build_context(_settings(config, data_dir))
    now = ctx.clock.now()
    with ctx.tx() as conn:
        org_id = users_repo.ensure_default_org(conn, now)
        user = users_repo.find_by_email(conn, email)
        if user is None:
            user = users_repo.create_user(
                conn,
                email=email,
                name="Administrator",
                role="admin",
                password=None,
                organization_id=org_id,
                now=now,
            )
            typer.echo(f"created admin user {email}")
        elif user["role"] != "admin":
            raise _fail(f"{email} exists and is not an admin")
        tok = make_token(conn, str(user["id"]), name=name, kind="admin", now=now)
    typer.echo("admin token (shown once; store it safely):")
    typer.echo(tok.raw)


@admin_app.command("rotate-signing-key")
def rotate_signing_key(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    grace_s: Annotated[
        int, typer.Option(help="Seconds tokens of the old key stay valid (0: revoke them now)")
    ] = 3600,
) -> None:
    """Start signing access tokens with a new key; gateways pick it up within a second."""
    from datetime import timedelta

    from tollway.runtime import build_context
    from tollway.store.keys_repo import rotate_signing_key as rotate

    if grace_s < 0:
        raise _fail("--grace-s must be 0 or more")
    ctx = build_context(_settings(config, data_dir))
    with ctx.tx() as conn:
        pair = rotate(conn, ctx.secrets, ctx.clock.now(), timedelta(seconds=grace_s))
    typer.echo(f"new signing key {pair.kid}; old keys accepted for {grace_s} s more")


@admin_app.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument(help="Email address")],
    role: Annotated[str, typer.Option(help="admin, publisher or consumer")] = "publisher",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
    name: Annotated[str, typer.Option(help="Display name")] = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a user in the default organization."""
    from tollway.runtime import build_context
    from tollway.security.passwords import check_password_policy
    from tollway.store import users_repo

    if role not in ("admin", "publisher", "consumer"):
        raise _fail("role must be admin, publisher or consumer")
    try:
        check_password_policy(password)
        ctx = build_context(_settings(config, data_dir))
        now = ctx.clock.now()
        with ctx.tx() as conn:
            org_id = users_repo.ensure_default_org(conn, now)
            user = users_repo.create_user(
                conn,
                email=email,
                name=name or email,
                role=role,
                password=password,
                organization_id=org_id,
                now=now,
            )
    except TollwayError as exc:
        raise _fail(exc.detail) from None
    typer.echo(f"created {role} {user['email']} ({user['id']})")


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Demo data directory")] = Path(
        ".tollway-demo"
    ),
    port: Annotated[int, typer.Option(help="Control plane port")] = 8000,
    gateway_port: Annotated[int, typer.Option(help="Gateway port")] = 8080,
    gateway_admin_port: Annotated[int, typer.Option(help="Gateway /metrics port")] = 9090,
    emulator_port: Annotated[int, typer.Option(help="Stripe emulator port")] = 12111,
    upstream_port: Annotated[int, typer.Option(help="Sample upstream API port")] = 8091,
) -> None:
    """Everything on this machine: Tollway, the Stripe emulator (with webhook delivery),
    a sample API, seeded data."""
    from stripe_emulator import EmulatorSettings
    from stripe_emulator import create_app as create_emulator
    from stripe_emulator.app import runtime_of
    from tollway.demo.seed import seed, summary
    from tollway.demo.upstream import create_upstream
    from tollway.runtime import build_context
    from tollway.server import run_all

    emulator_url = f"http://127.0.0.1:{emulator_port}"
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    settings = _settings(
        None,
        data_dir,
        port=port,
        gateway_port=gateway_port,
        gateway_admin_port=gateway_admin_port,
        stripe_api_base=emulator_url,
        ssrf_allow=["127.0.0.1/32"],
        usage_sync_interval_s=15.0,
    )
    _logging(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # an account whose customer-portal settings were saved (docs/stripe.md, step 4);
    # everything else as Stripe's sandbox behaves
    emulator = create_emulator(
        settings=EmulatorSettings(
            state_file=settings.data_dir / "stripe-emulator.json", portal_configured=True
        )
    )
    state = runtime_of(emulator).state

    def after_start() -> None:
        # the seeding's own HTTP requests are not news: keep them out of the summary
        logging.getLogger("httpx").setLevel(logging.WARNING)
        ctx = build_context(settings, migrate=False)
        info = seed(
            ctx,
            emulator_url=emulator_url,
            emulator_secret=state.key_of_type("secret"),
            emulator_publishable=state.key_of_type("publishable"),
            upstream_url=upstream_url,
        )
        typer.echo(summary(info))

    try:
        run_all(
            settings,
            extra_apps=(
                (emulator, "127.0.0.1", emulator_port),
                (create_upstream(), "127.0.0.1", upstream_port),
            ),
            after_start=after_start,
        )
    except TollwayError as exc:
        raise _fail(exc.detail) from None


@app.command("stripe-emulator")
def stripe_emulator(
    port: Annotated[int, typer.Option(help="Port")] = 12111,
    host: Annotated[
        str, typer.Option(help="Address (loopback only unless --allow-remote)")
    ] = "127.0.0.1",
    state_file: Annotated[Path | None, typer.Option(help="Persist state to this JSON file")] = None,
    allow_remote: Annotated[bool, typer.Option(help="Allow a non-loopback address")] = False,
) -> None:
    """A local, stateful Stripe emulator for development and tests. NOT Stripe: no money moves."""
    from stripe_emulator import serve as serve_emulator

    serve_emulator(host, port, state_file=state_file, allow_remote=allow_remote)


@app.command()
def reconcile(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Compare ledger totals with Stripe's meter summaries; exit 1 if any differ."""
    from tollway.runtime import build_context

    try:
        ctx = build_context(_settings(config, data_dir), migrate=False)
        code = reconcile_report(ctx, sys.stdout)
    except TollwayError as exc:
        raise _fail(exc.detail) from None
    raise typer.Exit(code=code)


def reconcile_report(ctx: AppContext, out: TextIO) -> int:
    """Compare ledger totals with Stripe's meter event summaries per subscription, meter
    and period. Prints every difference; returns the exit code (1 if any, else 0)."""
    from tollway.workers.reconcile import reconcile as compare

    lines = compare(
        ctx.engine, ctx.billing.engines, clock=ctx.clock, lag_s=ctx.settings.stripe_meter_lag_s
    )
    differences = [ln for ln in lines if ln.differs]
    for ln in differences:
        print(f"DIFF {ln.describe()}", file=out)
    pending = [ln for ln in lines if ln.pending and not ln.differs]
    for ln in pending:
        print(f"PENDING {ln.describe()}", file=out)
    print(
        f"{len(lines)} subscription period(s) compared, {len(differences)} difference(s), "
        f"{len(pending)} with usage pending at Stripe",
        file=out,
    )
    return 1 if differences else 0


@app.command("publish-usage")
def publish_usage(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Push all metered usage to Stripe now (what the usage worker does on its interval)."""
    from tollway.runtime import build_context

    try:
        ctx = build_context(_settings(config, data_dir), migrate=False)
        code = publish_usage_report(ctx, sys.stdout)
    except TollwayError as exc:
        raise _fail(exc.detail) from None
    raise typer.Exit(code=code)


def publish_usage_report(ctx: AppContext, out: TextIO) -> int:
    """Push all usage to Stripe now (open windows included); 1 if anything failed."""
    result = ctx.billing.usage.flush()
    print(
        f"pushed {result.pushed} meter event(s), {result.value_pushed} unit(s); "
        f"{len(result.errors)} error(s)",
        file=out,
    )
    for err in result.errors:
        print(f"ERROR {err}", file=out)
    return 1 if result.errors else 0


@app.command()
def version() -> None:
    """Print the version."""
    from tollway import __version__

    typer.echo(__version__)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
