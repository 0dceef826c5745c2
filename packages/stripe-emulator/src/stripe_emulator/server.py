"""Run the emulator with uvicorn (the ``tollway stripe-emulator`` command)."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from .app import create_app, runtime_of
from .netloc import is_loopback_host
from .settings import EmulatorSettings


def serve(
    host: str = "127.0.0.1",
    port: int = 12111,
    *,
    state_file: Path | None = None,
    allow_remote: bool = False,
) -> None:
    """Serve the emulator until interrupted. Refuses non-loopback hosts unless allowed."""
    if not allow_remote and not is_loopback_host(host):
        raise SystemExit(
            f"refusing to bind the Stripe emulator to {host!r}: it is a development tool and "
            "only listens on loopback unless --allow-remote is given"
        )
    settings = EmulatorSettings(state_file=state_file, allow_remote=allow_remote, public_url=None)
    app = create_app(settings=settings)
    rt = runtime_of(app)
    secret = rt.state.key_of_type("secret")
    publishable = rt.state.key_of_type("publishable")
    shown = f"[{host}]" if ":" in host else host
    print(
        "Stripe emulator (development tool, no real payments)\n"
        f"  API base URL:     http://{shown}:{port}\n"
        f"  secret key:       {secret}\n"
        f"  publishable key:  {publishable}\n"
        f"  account:          {rt.state.account_id}\n"
        f"  state file:       {state_file or '(in memory)'}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")


def main(argv: list[str] | None = None) -> None:
    """The ``stripe-emulator`` command (``tollway stripe-emulator`` is the same thing)."""
    import argparse

    from . import cli_help

    parser = argparse.ArgumentParser(prog="stripe-emulator", description=cli_help)
    parser.add_argument("--host", default="127.0.0.1", help="address (loopback unless allowed)")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--state-file", type=Path, default=None, help="persist state here")
    parser.add_argument("--allow-remote", action="store_true", help="allow other addresses")
    args = parser.parse_args(argv)
    serve(args.host, args.port, state_file=args.state_file, allow_remote=args.allow_remote)
