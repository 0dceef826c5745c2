"""Browser tests: Playwright (from PyPI) driving Debian's chromium against a live server.

- ``browser``: one chromium for the tests of this package (package scope: Playwright's
  sync API keeps an event loop running while it is open, which would break later tests
  that call ``asyncio.run``), launched from ``/usr/bin/chromium`` (never
  a downloaded browser). Missing chromium fails the run when ``CI=true`` and skips it
  elsewhere (install it with ``apt-get install -y chromium``).
- ``live_server``: the control plane (the real ``create_app``) on a free loopback port,
  with a fresh database and data dir, the style guide on and strict templates.
- ``page``: a fresh browser context per test at desktop size, whose requests may only go
  to the live server (anything else is aborted and fails the test: the pages must work
  offline) and whose JavaScript errors fail the test.
- ``shoot(page, "portal/catalog")``: desktop (1280x800) and phone (375x812) full-page
  screenshots; into ``$TOLLWAY_TEST_SCREENSHOTS_DIR`` (``scripts/screenshots`` sets it to
  ``docs/``) or the test's temp dir.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Route, sync_playwright

from .harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, LiveServer, Shoot

START_DEADLINE_S = 20.0
CHARTS_FIT = """() => [...document.querySelectorAll('[data-chart]')].every(el =>
    !el.tollwayChart || Math.abs(el.tollwayChart.width - Math.max(el.clientWidth, 200)) <= 2)"""


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class _ThreadServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test process keeps its own handlers
        yield


@pytest.fixture
def live_server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    from tollway.control_plane import create_app
    from tollway.runtime import build_context
    from tollway.settings import load_settings

    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        ssrf_allow=["127.0.0.1/32"],
        style_guide=True,
    )
    ctx = build_context(settings, migrate=False)
    app = create_app(ctx)
    app.state.pages.make_strict()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _ThreadServer(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_DEADLINE_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, ctx)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        ctx.engine.dispose()


@dataclass
class PageGuard:
    """What a page did that a test must not allow: JS errors, requests leaving the host."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    guard = PageGuard()

    def only_local(route: Route) -> None:
        if route.request.url.startswith((live_server.url + "/", "data:", "blob:")):
            route.continue_()
        else:
            guard.outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    tab = context.new_page()
    tab.on("pageerror", lambda exc: guard.errors.append(str(exc)))
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert guard.outside == [], f"the page tried to reach other hosts: {guard.outside}"
    assert guard.errors == [], f"JavaScript errors on the page: {guard.errors}"


@pytest.fixture
def shoot(tmp_path: Path) -> Shoot:
    base = Path(os.environ.get("TOLLWAY_TEST_SCREENSHOTS_DIR") or tmp_path / "screenshots")

    def take(tab: Page, name: str) -> list[Path]:
        before = tab.viewport_size
        paths = []
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            tab.set_viewport_size(size)
            tab.wait_for_function(CHARTS_FIT)  # charts redraw for the new width first
            path = base / f"{name}-{label}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(path), full_page=True, animations="disabled")
            paths.append(path)
        if before:
            tab.set_viewport_size(before)
        return paths

    return take
