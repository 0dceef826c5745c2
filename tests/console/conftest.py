"""Console fixtures: the control plane over TestClient with a Stripe emulator on
loopback (keys are checked against it), and a browser-like session per user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stripe_emulator.testing import Emulator, running_emulator

PASSWORD = "correct horse battery"  # noqa: S105 - a test password


@pytest.fixture(scope="session")
def _console_emulator() -> Iterator[Emulator]:
    with running_emulator(tick_interval=0.2, portal_configured=True, rate_limit_per_s=None) as e:
        yield e


@pytest.fixture
def emu(_console_emulator: Emulator) -> Emulator:
    _console_emulator.reset()
    return _console_emulator


@pytest.fixture
def settings(tmp_path: Path, database_url: str, emu: Emulator) -> Any:
    from tollway.settings import load_settings

    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        ssrf_allow=["127.0.0.1/32"],
        stripe_api_base=emu.base_url,
        public_url="http://127.0.0.1:20001",
    )


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


class Browser:
    """A TestClient with its own cookies, signed in through the console's form."""

    def __init__(self, app: Any) -> None:
        self.client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        self.token = ""

    def get(self, url: str, **kw: Any) -> Any:
        response = self.client.get(url, **kw)
        if 'name="csrf_token"' in response.text:
            self.token = csrf_token(response.text)
        return response

    def post(self, url: str, data: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kw)

    def sign_in(self, email: str, password: str = PASSWORD) -> Any:
        self.get("/console/sign-in")
        response = self.post("/console/sign-in", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        return response


@pytest.fixture
def browser_for(app: Any) -> Any:
    """``browser_for(email)``: a new browser signed in to the console as that user."""

    def make(email: str | None = None) -> Browser:
        browser = Browser(app)
        if email is not None:
            browser.sign_in(email)
        return browser

    return make


@pytest.fixture
def app(ctx: Any) -> Any:
    """The control plane with strict templates: a misspelt name fails the test."""
    from tollway.control_plane import create_app

    application = create_app(ctx)
    application.state.pages.make_strict()
    return application
