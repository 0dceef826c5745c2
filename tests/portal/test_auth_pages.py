"""Sign up, sign in, sign out and the password reset by email (a real SMTP server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.mail import Inbox, smtp_server

from .conftest import csrf_of

PASSWORD = "correct horse battery"


def _form(client: TestClient, url: str, data: dict[str, str], page: str | None = None) -> Any:
    token = csrf_of(client.get(page or url).text)
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=False)


def _errors(html: str) -> dict[str, str]:
    found = re.findall(r'<p class="field__error" id="f-([a-z_]+)-error">.*?</span>(.*?)</p>', html)
    return dict(found)


def test_sign_up_signs_in_and_sign_out_ends_the_session(http: TestClient) -> None:
    r = _form(http, "/portal/sign-up", {"name": "Ann", "email": "not-an-email", "password": "x"})
    assert r.status_code == 422
    assert "email" in _errors(r.text)
    assert 'value="not-an-email"' in r.text  # what was typed comes back, the password not
    r = _form(http, "/portal/sign-up", {"name": "Ann", "email": "ann@example.com", "password": "x"})
    assert r.status_code == 422 and "at least 12 characters" in _errors(r.text)["password"]

    r = _form(
        http, "/portal/sign-up", {"name": "Ann", "email": "ann@example.com", "password": PASSWORD}
    )
    assert r.status_code == 303 and r.headers["location"] == "/portal/apps"
    assert "tollway_session" in http.cookies
    me = http.get("/portal/billing")
    assert me.status_code == 200 and "ann@example.com" in me.text

    again = _form(
        http, "/portal/sign-up", {"name": "B", "email": "ann@example.com", "password": PASSWORD}
    )
    assert again.status_code == 422 and "exists" in _errors(again.text)["email"]

    r = _form(http, "/portal/sign-out", {}, page="/portal/billing")
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    after = http.get("/portal/billing", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"] == "/portal/sign-in?next=/portal/billing"


def test_sign_in_goes_back_to_next_and_says_wrong_password_next_to_the_field(
    http: TestClient,
) -> None:
    _form(
        http, "/portal/sign-up", {"name": "Ann", "email": "ann@example.com", "password": PASSWORD}
    )
    http.cookies.clear()
    wrong = _form(
        http,
        "/portal/sign-in",
        {"email": "ann@example.com", "password": "not the password", "next": "/portal/billing"},
    )
    assert wrong.status_code == 422
    assert _errors(wrong.text)["password"] == "Wrong email or password."
    assert "not the password" not in wrong.text
    unknown = _form(http, "/portal/sign-in", {"email": "bob@example.com", "password": PASSWORD})
    assert _errors(unknown.text)["password"] == "Wrong email or password."

    evil = _form(
        http,
        "/portal/sign-in",
        {"email": "ann@example.com", "password": PASSWORD, "next": "//evil.test/x"},
    )
    assert evil.status_code == 303 and evil.headers["location"] == "/portal/apps"
    http.cookies.clear()
    ok = _form(
        http,
        "/portal/sign-in?next=/portal/billing",
        {"email": "ann@example.com", "password": PASSWORD, "next": "/portal/billing"},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/portal/billing"


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        yield port, inbox


@pytest.fixture
def mail_client(
    smtp_inbox: tuple[int, Inbox], tmp_path: Path, database_url: str
) -> Iterator[TestClient]:
    from tollway.control_plane import create_app
    from tollway.runtime import build_context
    from tollway.settings import load_settings

    settings = load_settings(
        data_dir=tmp_path / "mail-data",
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_inbox[0],
        smtp_starttls=False,
        smtp_from="APIs <apis@example.com>",
        public_url="http://portal.example",
    )
    ctx = build_context(settings, migrate=False)
    app = create_app(ctx)
    app.state.pages.make_strict()
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    ctx.engine.dispose()


def _text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


def test_password_reset_by_email_works_once(
    mail_client: TestClient, smtp_inbox: tuple[int, Inbox]
) -> None:
    http, inbox = mail_client, smtp_inbox[1]
    _form(
        http, "/portal/sign-up", {"name": "Ann", "email": "ann@example.com", "password": PASSWORD}
    )
    http.cookies.clear()

    unknown = _form(http, "/portal/reset-password", {"email": "nobody@example.com"})
    asked = _form(http, "/portal/reset-password", {"email": "ann@example.com"})
    for answer in (unknown, asked):  # the same page whether the account exists or not
        assert answer.status_code == 200 and "Check your email" in answer.text
    assert len(inbox.messages) == 1 and inbox.messages[0]["To"] == "ann@example.com"
    link = re.search(
        r"http://portal\.example(/portal/reset-password/\S+)", _text_of(inbox.messages[0])
    )
    assert link, _text_of(inbox.messages[0])
    path = link.group(1)

    short = _form(http, path, {"password": "short"})
    assert short.status_code == 422 and "at least 12" in _errors(short.text)["password"]
    done = _form(http, path, {"password": "a brand new passphrase"})
    assert done.status_code == 303 and done.headers["location"] == "/portal/sign-in"

    used = http.get(path)
    assert "invalid, used or expired" in used.text
    replay = _form(http, path, {"password": "another new passphrase"}, page="/portal/sign-in")
    assert replay.status_code == 422 and "invalid, used or expired" in replay.text
    forged = http.get("/portal/reset-password/usr_x.99999999999.abc")
    assert forged.status_code == 200 and "invalid, used or expired" in forged.text

    old = _form(http, "/portal/sign-in", {"email": "ann@example.com", "password": PASSWORD})
    assert old.status_code == 422
    new = _form(
        http, "/portal/sign-in", {"email": "ann@example.com", "password": "a brand new passphrase"}
    )
    assert new.status_code == 303


def test_reset_without_smtp_says_so_and_requests_are_throttled(http: TestClient) -> None:
    r = _form(http, "/portal/reset-password", {"email": "ann@example.com"})
    assert r.status_code == 503 and "Email is not configured" in r.text
    for _ in range(9):
        _form(http, "/portal/reset-password", {"email": "ann@example.com"})
    flood = _form(http, "/portal/reset-password", {"email": "ann@example.com"})
    assert flood.status_code == 429 and "Retry-After" in flood.headers
