"""Seeds a running demo through the real REST API: a publisher with the Reading List API
on two plans, Stripe connected to the local emulator, and a consumer with a key.

Everything goes through the same HTTP endpoints a user would call; the demo file in the
data directory keeps what was created (including the demo's credentials, which is fine
for a local demo and nothing else)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import httpx

from tollway.context import AppContext
from tollway.services.sessions import create_token
from tollway.store import users_repo

PASSWORD = "tollway-demo-password"  # noqa: S105 - a documented demo credential


@dataclass
class DemoInfo:
    control_plane: str
    gateway: str
    emulator: str
    upstream: str
    admin_token: str
    publisher_email: str
    consumer_email: str
    password: str
    api_id: str
    free_plan_id: str
    paid_plan_id: str
    application_id: str
    api_key: str
    client_id: str
    client_secret: str


def _ok(resp: httpx.Response, what: str) -> Any:
    if resp.status_code >= 400:
        raise RuntimeError(f"demo setup failed at {what}: {resp.status_code} {resp.text}")
    return resp.json() if resp.content else None


def _admin_token(ctx: AppContext) -> str:
    now = ctx.clock.now()
    with ctx.tx() as conn:
        org = users_repo.ensure_default_org(conn, now)
        user = users_repo.find_by_email(conn, "admin@example.com")
        if user is None:
            user = users_repo.create_user(
                conn,
                email="admin@example.com",
                name="Demo admin",
                role="admin",
                password=PASSWORD,
                organization_id=org,
                now=now,
            )
        return create_token(conn, str(user["id"]), name="demo", kind="admin", now=now).raw


def _login_or_create(http: httpx.Client, admin: dict[str, str], email: str, role: str) -> str:
    resp = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    if resp.status_code == 200:
        return str(resp.json()["token"])
    _ok(
        http.post(
            "/api/v1/users",
            headers=admin,
            json={
                "email": email,
                "name": email.split("@")[0].title(),
                "password": PASSWORD,
                "role": role,
            },
        ),
        f"creating {email}",
    )
    resp = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return str(_ok(resp, f"login {email}")["token"])


def seed(
    ctx: AppContext,
    *,
    emulator_url: str,
    emulator_secret: str,
    emulator_publishable: str,
    upstream_url: str,
) -> DemoInfo:
    settings = ctx.settings
    marker = settings.data_dir / "demo.json"
    if marker.exists():
        return DemoInfo(**json.loads(marker.read_text(encoding="utf-8")))
    base = settings.resolved_public_url
    admin = {"Authorization": f"Bearer {_admin_token(ctx)}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        pub = {
            "Authorization": "Bearer "
            + _login_or_create(http, admin, "publisher@example.com", "publisher")
        }
        doc = resources.files("tollway.demo").joinpath("reading-list.yaml").read_bytes()
        api = _ok(
            http.post(
                "/api/v1/apis/import",
                headers=pub,
                params={"context": "reading-list", "version": "v1"},
                files={"file": ("reading-list.yaml", doc, "application/yaml")},
            ),
            "importing the Reading List API",
        )
        for env in ("development", "production"):
            _ok(
                http.put(
                    f"/api/v1/apis/{api['id']}/deployments/{env}",
                    headers=pub,
                    json={"upstream_url": upstream_url},
                ),
                f"deploying to {env}",
            )
        free = _ok(
            http.post(
                "/api/v1/plans",
                headers=pub,
                json={
                    "name": "Free",
                    "description": "100 calls a month to try it out",
                    "currency": "USD",
                    "billing_interval": "month",
                    "rate_limit": {"count": 10, "per": "second"},
                    "quota": {"limit": 100, "mode": "hard"},
                    "pricing": {},
                },
            ),
            "creating the free plan",
        )
        paid = _ok(
            http.post(
                "/api/v1/plans",
                headers=pub,
                json={
                    "name": "Pay-as-you-go",
                    "description": "$0.02 per request",
                    "currency": "USD",
                    "billing_interval": "month",
                    "rate_limit": {"count": 1000, "per": "minute"},
                    "pricing": {
                        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}
                    },
                },
            ),
            "creating the paid plan",
        )
        # Stripe: register the webhook endpoint at the emulator, then connect the keys.
        endpoint = httpx.post(
            f"{emulator_url}/v1/webhook_endpoints",
            auth=(emulator_secret, ""),
            timeout=30,
            data={"url": f"{base}/webhooks/stripe", "enabled_events[]": "*"},
        )
        secret = _ok(endpoint, "registering the webhook endpoint")["secret"]
        _ok(
            http.put(
                "/api/v1/settings/stripe",
                headers=admin,
                json={
                    "secret_key": emulator_secret,
                    "publishable_key": emulator_publishable,
                    "webhook_secret": secret,
                },
            ),
            "connecting Stripe",
        )
        for plan in (free, paid):
            _ok(
                http.put(
                    f"/api/v1/apis/{api['id']}/plans/{plan['id']}",
                    headers=pub,
                    json={"enabled": True},
                ),
                f"enabling {plan['name']}",
            )
        _ok(
            http.post(
                f"/api/v1/apis/{api['id']}/lifecycle", headers=pub, json={"state": "published"}
            ),
            "publishing",
        )
        con = {
            "Authorization": "Bearer "
            + _login_or_create(http, admin, "consumer@example.com", "consumer")
        }
        app = _ok(
            http.post("/api/v1/applications", headers=con, json={"name": "My reading app"}),
            "creating an application",
        )
        _ok(
            http.post(
                "/api/v1/subscriptions",
                headers=con,
                json={"application_id": app["id"], "api_id": api["id"], "plan_id": free["id"]},
            ),
            "subscribing to the free plan",
        )
        key = _ok(
            http.post(
                f"/api/v1/applications/{app['id']}/keys",
                headers=con,
                json={"environment": "production"},
            ),
            "creating an API key",
        )
        client = _ok(
            http.post(
                f"/api/v1/applications/{app['id']}/oauth-clients",
                headers=con,
                json={"environment": "production"},
            ),
            "creating OAuth client",
        )
    info = DemoInfo(
        control_plane=base,
        gateway=settings.resolved_gateway_url,
        emulator=emulator_url,
        upstream=upstream_url,
        admin_token=admin["Authorization"][7:],
        publisher_email="publisher@example.com",
        consumer_email="consumer@example.com",
        password=PASSWORD,
        api_id=api["id"],
        free_plan_id=free["id"],
        paid_plan_id=paid["id"],
        application_id=app["id"],
        api_key=key["key"],
        client_id=client["client_id"],
        client_secret=client["client_secret"],
    )
    marker.write_text(json.dumps(asdict(info), indent=2), encoding="utf-8")
    marker.chmod(0o600)
    return info


def summary(info: DemoInfo) -> str:
    gw = f"{info.gateway}/reading-list/v1"
    return f"""
Tollway demo is running (a development setup: the Stripe emulator moves no money).

  Developer portal  {info.control_plane}/portal
  Control plane     {info.control_plane}   (API docs: {info.control_plane}/api/v1/docs)
  Gateway           {info.gateway}
  Stripe emulator   {info.emulator}
  Upstream          {info.upstream}     (the Reading List sample API)

  Publisher  {info.publisher_email} / {info.password}
  Consumer   {info.consumer_email} / {info.password}
  Admin token {info.admin_token}

Call the API through the gateway (free plan, 100 calls a month):
  curl -H 'apikey: {info.api_key}' {gw}/books
  curl {gw}/books                                   # 401: no credentials
Get an OAuth2 token and use it:
  curl -u {info.client_id}:{info.client_secret} -d grant_type=client_credentials \\
       {info.control_plane}/oauth2/token
Try the paid plan ($0.02 per call) in the portal: sign in as the consumer, open the
Reading List API, choose Pay-as-you-go for a new application and pay in the emulator's
Checkout with card 4242 4242 4242 4242; then watch usage and cost under Usage & billing.
Everything created is listed in the data directory's demo.json. Ctrl-C stops the demo.
"""
