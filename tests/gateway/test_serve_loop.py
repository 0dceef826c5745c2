"""`tollway serve` runs on uvloop, as the README says (it used to run asyncio's default
loop, so the embedded gateway ran on the slower loop that also logged a traceback per
failed accept)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from tests.gateway.procs import free_port
from tollway.server import run_all
from tollway.settings import load_settings


class Seen(Exception):
    def __init__(self, loop: str) -> None:
        super().__init__(loop)
        self.loop = loop


async def loop_type(scope: Scope, receive: Receive, send: Send) -> None:
    """A tiny ASGI app answering with the class of the loop serving it (side apps are
    served with lifespan on, so it answers the lifespan protocol too)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    body = type(asyncio.get_running_loop()).__module__.encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_tollway_serve_runs_on_uvloop(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        port=free_port(),
        gateway_port=free_port(),
        gateway_admin_port=free_port(),
    )
    side = free_port()

    def probe() -> None:
        raise Seen(httpx.get(f"http://127.0.0.1:{side}/").text)

    with pytest.raises(Seen) as seen:
        run_all(settings, extra_apps=((loop_type, "127.0.0.1", side),), after_start=probe)
    assert seen.value.loop.startswith("uvloop")
