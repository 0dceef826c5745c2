"""`tollway demo` runs the whole paid flow: the Stripe emulator it starts delivers
webhooks on its own, so a cancellation in the emulated customer portal cancels the
subscription in Tollway and the key stops working. Started as a user starts it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tollway.demo.seed import PASSWORD

pytestmark = pytest.mark.slow


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _wait(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    control, gateway, metrics, emulator, upstream = _free_ports(5)
    data = tmp_path / "demo-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tollway.cli",
            "demo",
            "--data-dir",
            str(data),
            "--port",
            str(control),
            "--gateway-port",
            str(gateway),
            "--gateway-admin-port",
            str(metrics),
            "--emulator-port",
            str(emulator),
            "--upstream-port",
            str(upstream),
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        marker = data / "demo.json"

        def seeded() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"tollway demo exited: {(tmp_path / 'demo.log').read_text()[-3000:]}"
                )
            return marker.exists()

        _wait(seeded, "the demo to be seeded", timeout=120)
        yield json.loads(marker.read_text())
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_portal_cancel_in_the_demo_cancels_in_tollway(demo: dict[str, Any]) -> None:
    with (
        httpx.Client(base_url=demo["control_plane"], timeout=30, trust_env=False) as api,
        httpx.Client(base_url=demo["emulator"], timeout=30, trust_env=False) as emu,
        httpx.Client(base_url=demo["gateway"], timeout=30, trust_env=False) as gw,
    ):
        _walk(demo, api, emu, gw)


def _walk(demo: dict[str, Any], api: httpx.Client, emu: httpx.Client, gw: httpx.Client) -> None:
    token = api.post(
        "/api/v1/auth/login", json={"email": demo["consumer_email"], "password": PASSWORD}
    ).json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    key = {"apikey": demo["api_key"]}

    # the consumer moves from the free plan to the paid one and pays in Checkout
    free = api.get("/api/v1/subscriptions", headers=me).json()["data"]
    assert [s["state"] for s in free] == ["active"]
    r = api.post(f"/api/v1/subscriptions/{free[0]['id']}/cancel", headers=me, json={})
    assert r.status_code == 200, r.text
    r = api.post(
        "/api/v1/subscriptions",
        headers=me,
        json={
            "application_id": demo["application_id"],
            "api_id": demo["api_id"],
            "plan_id": demo["paid_plan_id"],
        },
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    checkout = sub["checkout_url"]
    assert checkout.startswith(demo["emulator"]) and emu.get(checkout).status_code == 200
    card = {"email": "reader@example.com", "name": "Ada", "card_number": "4242424242424242"}
    paid = emu.post(checkout, data={**card, "expiry": "12/34", "cvc": "123"})
    assert paid.status_code == 303
    # activated by checkout.session.completed, delivered by the emulator on its own
    # (the success redirect is not followed)
    _wait(
        lambda: (
            api.get(f"/api/v1/subscriptions/{sub['id']}", headers=me).json()["state"] == "active"
        ),
        "the webhook to activate the subscription",
    )
    _wait(lambda: gw.get("/reading-list/v1/books", headers=key).status_code == 200, "access")

    # cancel in the emulated customer portal, through its hosted page
    portal = api.post(f"/api/v1/subscriptions/{sub['id']}/portal", headers=me)
    assert portal.status_code == 200, portal.text
    page = emu.get(portal.json()["url"])
    assert page.status_code == 200 and "Cancel now" in page.text
    stripe_sub = re.search(r'name="subscription" value="(sub_[^"]+)"', page.text)
    assert stripe_sub is not None
    done = emu.post(
        portal.json()["url"] + "/cancel", data={"subscription": stripe_sub[1], "mode": "now"}
    )
    assert done.status_code == 303
    _wait(
        lambda: (
            api.get(f"/api/v1/subscriptions/{sub['id']}", headers=me).json()["state"] == "cancelled"
        ),
        "customer.subscription.deleted to cancel the subscription in Tollway",
    )
    _wait(lambda: gw.get("/reading-list/v1/books", headers=key).status_code == 403, "no access")

    forced = emu.post("/_emulator/webhooks/deliver")
    assert forced.status_code == 200 and forced.json()["pending"] == 0
    assert emu.get("/").status_code == 200
