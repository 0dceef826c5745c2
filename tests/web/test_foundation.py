"""The page foundation without a browser: CSRF, errors, forms, htmx, assets, settings."""

from __future__ import annotations

import ast
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from tollway.domain.errors import ConfigurationError, FieldError, InvalidInput
from tollway.settings import load_settings
from tollway.web import safe_next
from tollway.web.assets import STATIC_DIR, file_hash
from tollway.web.brand import AA_CONTRAST, DARK_SURFACE, Brand, contrast
from tollway.web.charts import chart_rows
from tollway.web.flash import Flash, decode, encode
from tollway.web.forms import FormState, unflatten
from tollway.web.pages import money

WEB = Path(__file__).parents[2] / "src" / "tollway" / "web"


def _token(client: TestClient) -> str:
    page = client.get("/_style")
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert found is not None
    return found.group(1)


def test_pages_send_security_headers_and_set_the_csrf_cookie(client: TestClient) -> None:
    page = client.get("/_style")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"]
    assert "tollway_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "<script>" not in page.text  # no inline scripts: the CSP would block them


def test_csrf_token_is_bound_to_the_browser_and_the_session(client: TestClient) -> None:
    token = _token(client)
    ok = client.post("/_style/confirm", data={"csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303
    # the same token in another session (a session cookie appears) is refused
    client.cookies.set("tollway_session", "twt_other")
    refused = client.post("/_style/confirm", data={"csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 403 and "This form has expired" in refused.text
    # another browser (no csrf cookie) is refused too
    fresh = TestClient(client.app, raise_server_exceptions=False)
    assert fresh.post("/_style/confirm", data={"csrf_token": token}).status_code == 403


def test_csrf_refusal_happens_before_the_handler(client: TestClient) -> None:
    client.get("/_style")
    answer = client.post("/_style/form", data={"name": "Bookshelf"}, follow_redirects=False)
    assert answer.status_code == 403 and "tollway_flash" not in answer.headers.get("set-cookie", "")


def test_form_errors_render_as_a_page_with_the_field_errors(client: TestClient) -> None:
    token = _token(client)
    answer = client.post(
        "/_style/form",
        data={
            "csrf_token": token,
            "name": "taken",
            "contact_email": "a@b.co",
            "monthly_calls": "12",
            "environment": "production",
            "accept_terms": "true",
        },
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert 'id="f-name-error"' in answer.text and "with this name exists" in answer.text
    assert 'value="taken"' in answer.text
    assert '"loc"' not in answer.text  # never a JSON dump


def test_error_pages(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    assert client.get("/_style/things/1").status_code == 404
    assert client.get("/_style/things/not-a-number").status_code == 400
    assert client.get("/_style/forbidden").status_code == 403
    boom = client.get("/_style/boom")
    assert boom.status_code == 500 and "internal detail" not in boom.text
    ref = re.search(r'class="reference">([0-9a-f]{8})<', boom.text)
    assert ref is not None and f"ref {ref.group(1)}" in caplog.text


def test_sign_in_redirect_for_pages_and_for_htmx(client: TestClient) -> None:
    page = client.get("/_style/private", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (
        303,
        "/portal/sign-in?next=/_style/private",
    )
    htmx = client.get("/_style/private", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith(
        "/portal/sign-in?next="
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/portal/apps?x=1", "/portal/apps?x=1"),
        ("/", "/"),
        ("//evil.example/x", "/home"),
        ("/\\evil.example", "/home"),
        ("https://evil.example/", "/home"),
        ("javascript:alert(1)", "/home"),
        ("/ok\r\nSet-Cookie: x", "/home"),
        ("/\tevil", "/home"),
        ("portal", "/home"),
        ("", "/home"),
        (None, "/home"),
        ("/" + "a" * 3000, "/home"),
    ],
)
def test_safe_next_only_allows_local_paths(value: str | None, expected: str) -> None:
    assert safe_next(value, "/home") == expected


def test_htmx_requests_get_the_fragment(client: TestClient) -> None:
    full = client.get("/_style/poll?n=2")
    part = client.get("/_style/poll?n=2", headers={"HX-Request": "true"})
    assert "<html" in full.text and "<html" not in part.text
    assert "Payment received" in part.text and "hx-get" not in part.text
    waiting = client.get("/_style/poll?n=0", headers={"HX-Request": "true"})
    assert 'hx-get="/_style/poll?n=1"' in waiting.text
    assert "HX-Request" in full.headers["vary"]


def test_static_files_are_versioned_and_cached_long(client: TestClient) -> None:
    version = file_hash("css/tollway.css")
    hit = client.get(f"/static/css/tollway.css?v={version}")
    assert hit.status_code == 200 and "immutable" in hit.headers["cache-control"]
    stale = client.get("/static/css/tollway.css?v=000000000000")
    assert stale.headers["cache-control"] == "no-cache"
    assert client.get("/static/../settings.py").status_code == 404
    assert client.get("/static/vendor/nothing.js").status_code == 404


def test_api_docs_use_only_our_assets(client: TestClient) -> None:
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js?v=" in docs.text
    assert 'data-openapi-url="/api/v1/openapi.json"' in docs.text
    assert (
        "cdn" not in docs.text.lower()
        and "http://" not in docs.text
        and "https://" not in docs.text
    )


def test_vendored_libraries_ship_with_licence_and_version() -> None:
    for lib in ("htmx", "uplot", "swagger-ui"):
        folder = STATIC_DIR / "vendor" / lib
        assert (folder / "LICENSE").stat().st_size > 100
        version = (folder / "VERSION").read_text().strip()
        assert version in (STATIC_DIR / "vendor" / "README.md").read_text()
    for line in (STATIC_DIR / "vendor" / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert file_hash(f"vendor/{name[2:]}") == digest[:12], name


def test_form_names_nest_like_error_locations() -> None:
    assert unflatten(
        {"name": "a", "tiers.1.up_to": "5", "tiers.0.up_to": "1", "tiers.0.price": "2"}
    ) == {
        "name": "a",
        "tiers": [{"up_to": "1", "price": "2"}, {"up_to": "5"}],
    }
    form = FormState(posted={"tiers.1.up_to", "name"})
    form.add_invalid_input(
        InvalidInput(
            "bad",
            [
                FieldError(("pricing", "tiers", 1, "up_to"), "must grow"),
                FieldError(("currency",), "unknown"),
            ],
        ),
        aliases={"pricing": ""},
    )
    assert form.error("tiers.1.up_to") == "must grow"  # "pricing." mapped away
    assert form.summary() == [("f-tiers-1-up_to", "must grow"), (None, "unknown")]
    form = FormState(posted={"tiers.1.up_to"})
    form.add_invalid_input(
        InvalidInput("bad", [FieldError(("pricing", "tiers", 1, "up_to"), "must grow")]),
        aliases={"pricing.tiers": "tiers"},
    )
    assert form.error("tiers.1.up_to") == "must grow"
    assert form.summary() == [("f-tiers-1-up_to", "must grow")]
    form.add_invalid_input(InvalidInput("The plan is retired."))
    assert form.summary()[-1] == (None, "The plan is retired.")


def test_pydantic_errors_use_plain_words() -> None:
    class Model(BaseModel):
        calls: int

    form = FormState()
    try:
        Model.model_validate({"calls": "many"})
    except Exception as exc:  # pydantic.ValidationError
        form.add_validation_error(exc)  # type: ignore[arg-type]
    assert form.error("calls") == "Enter a whole number."


def test_flash_cookie_is_signed() -> None:
    key = b"k" * 32
    raw = encode(key, [Flash("success", "Saved")])
    assert decode(key, raw) == [Flash("success", "Saved")]
    payload, _, mac = raw.rpartition(".")
    assert decode(key, payload + "." + "0" * len(mac)) == []
    assert decode(b"x" * 32, raw) == []
    assert decode(key, "garbage") == [] and decode(key, None) == []


def test_money_is_shown_exactly() -> None:
    assert (
        str(money(Decimal("0.0002"), "USD")) == '<data class="money" value="0.0002">$0.0002</data>'
    )
    assert "$1,234.50" in str(money(Decimal("1234.5"), "USD"))


def test_chart_table_shows_the_given_values() -> None:
    rows = chart_rows(
        {
            "x": [1767225600, 1767312000],
            "series": [{"label": "Cost", "values": [Decimal("1.10"), None]}],
        }
    )
    assert rows == [["2026-01-01", "1.10"], ["2026-01-02", "—"]]


@pytest.mark.parametrize("color", ["#2f5bd3", "#ffeb3b", "#00ff00", "#111111", "#7f7f7f"])
def test_any_brand_colour_stays_readable(color: str) -> None:
    brand = Brand(name="Acme", color=color, logo_url=None)
    assert contrast(brand.on_color, brand.color) >= AA_CONTRAST or color == "#7f7f7f"
    assert contrast(brand.ink_light, "#ffffff") >= AA_CONTRAST
    assert contrast(brand.ink_dark, DARK_SURFACE) >= AA_CONTRAST


def test_brand_settings_are_checked(tmp_path: Path) -> None:
    ok = load_settings(
        data_dir=tmp_path, brand_color="#AABBCC", brand_logo_url="https://cdn.acme.test/l.svg"
    )
    assert ok.brand_color == "#aabbcc"
    bad: dict[str, Any]
    for bad in (
        {"brand_color": "blue"},
        {"brand_color": "#abc"},
        {"brand_logo_url": "javascript:alert(1)"},
        {"brand_logo_url": "//evil.test/x.png"},
        {"brand_logo_url": "http://acme.test/l.png"},
        {"brand_name": ""},
    ):
        with pytest.raises(ConfigurationError):
            load_settings(None, data_dir=tmp_path, **bad)


def test_the_brand_shows_in_the_header(tmp_path: Path) -> None:
    from tollway.control_plane import create_app
    from tollway.runtime import build_context

    settings = load_settings(
        data_dir=tmp_path,
        brand_name="Acme <APIs>",
        brand_color="#ffeb3b",
        brand_logo_url="https://cdn.acme.test/logo.svg",
    )
    ctx = build_context(settings)
    page = TestClient(create_app(ctx)).get("/api/v1/docs")
    assert "Acme &lt;APIs&gt;" in page.text and 'src="https://cdn.acme.test/logo.svg"' in page.text
    assert "--brand:#ffeb3b;--on-brand:#111418" in page.text
    assert "img-src 'self' data: https://cdn.acme.test" in page.headers["content-security-policy"]
    ctx.engine.dispose()


def test_style_guide_is_off_unless_enabled(tmp_path: Path) -> None:
    from tollway.control_plane import create_app
    from tollway.runtime import build_context

    ctx = build_context(load_settings(data_dir=tmp_path))
    assert TestClient(create_app(ctx)).get("/_style").status_code == 404
    ctx.engine.dispose()


def test_session_cookie_name_matches_the_control_plane() -> None:
    import inspect

    from tollway.http.deps import SESSION_COOKIE
    from tollway.web import install

    assert inspect.signature(install).parameters["session_cookie"].default == SESSION_COOKIE


def test_web_does_not_import_the_api_layer() -> None:
    for path in WEB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "tollway.api" or n.startswith("tollway.api.") for n in names), path
