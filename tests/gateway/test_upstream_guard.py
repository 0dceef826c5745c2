"""The SSRF guard at connect time (``GatewaySettings.ssrf_allow``): each new upstream
connection resolves the host, vets every address and connects to a vetted one, so a host
name re-pointed at a private address after registration (DNS rebinding) is refused.
Off (``None``) by default; an allow-list opens exceptions."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.gateway.conftest import Catalog, GatewayThread, MakeGateway
from tests.gateway.helpers import raw_exchange
from tests.gateway.upstream_server import Upstream
from tollway.gateway.snapshot import Upstream as UpstreamTarget
from tollway.gateway.upstream import UpstreamForbidden, UpstreamPool
from tollway.security.ssrf import UrlGuard


def _get(port: int, key: str) -> bytes:
    data, _ = raw_exchange(
        port,
        b"GET /books/v1/guarded HTTP/1.1\r\nHost: gw\r\napikey: "
        + key.encode()
        + b"\r\nConnection: close\r\n\r\n",
    )
    return data


def test_loopback_upstream_refused_when_the_guard_is_on(
    make_gateway: MakeGateway, catalog: Catalog, upstream: Upstream
) -> None:
    gw = make_gateway(catalog.snapshot(), ssrf_allow=())
    before = len(upstream.seen)
    data = _get(gw.port, catalog.key)
    assert data.startswith(b"HTTP/1.1 502 "), data[:80]
    assert json.loads(data.partition(b"\r\n\r\n")[2])["detail"] == (
        "The upstream's address is not allowed."
    )
    assert upstream.seen[before:] == []


@pytest.mark.parametrize("allow", [("127.0.0.1/32",), ("127.0.0.1",)])
def test_allow_list_opens_an_exception(
    make_gateway: MakeGateway, catalog: Catalog, allow: tuple[str, ...]
) -> None:
    gw = make_gateway(catalog.snapshot(), ssrf_allow=allow)
    data = _get(gw.port, catalog.key)
    assert data.startswith(b"HTTP/1.1 200 "), data[:80]


def test_guard_off_by_default(gateway: GatewayThread, catalog: Catalog) -> None:
    assert gateway.gateway.app.pool.guard is None
    assert _get(gateway.port, catalog.key).startswith(b"HTTP/1.1 200 ")


def _connect(pool: UpstreamPool, target: UpstreamTarget) -> None:
    async def go() -> None:
        conn = await pool.connect(target)
        conn.done(False)

    asyncio.run(go())


def test_rebound_name_is_refused_and_vetted_address_is_used(upstream: Upstream) -> None:
    # "rebind.test" was public when the upstream URL was checked; now it resolves to
    # loopback. The name does not exist in real DNS: a successful connection proves the
    # pool connected to the address the guard resolved and vetted, not to the name.
    answers = {"rebind.test": ["127.0.0.1"]}

    def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    target = UpstreamTarget("http", "rebind.test", upstream.port, "")
    refused = UpstreamPool(connect_timeout_s=2, guard=UrlGuard((), resolver=resolver))
    with pytest.raises(UpstreamForbidden):
        _connect(refused, target)
    allowed = UpstreamPool(connect_timeout_s=2, guard=UrlGuard(["127.0.0.0/8"], resolver=resolver))
    _connect(allowed, target)
    by_name = UpstreamPool(connect_timeout_s=2, guard=UrlGuard(["rebind.test"], resolver=resolver))
    _connect(by_name, target)
    # a name resolving to several addresses is refused if any one of them is forbidden
    answers["rebind.test"] = ["93.184.216.34", "10.0.0.1"]
    with pytest.raises(UpstreamForbidden):
        _connect(refused, target)


def test_literal_private_address_is_refused() -> None:
    pool = UpstreamPool(connect_timeout_s=2, guard=UrlGuard(()))
    for host in ("169.254.169.254", "::1", "10.1.2.3"):
        with pytest.raises(UpstreamForbidden):
            _connect(pool, UpstreamTarget("http", host, 80, ""))
