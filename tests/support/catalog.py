"""Objects built through the REST API, each step asserted: for tests of the API and of
anything that needs a realistic catalog (organizations, published APIs, plans,
applications, subscriptions) made the way users make it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FREE: dict[str, Any] = {}
PAID: dict[str, Any] = {"flat_fee": "10.00"}


@dataclass
class Catalog:
    """Builds objects through the REST API and asserts each step worked."""

    admin: Any
    make_actor: Any
    last_consumer_token: str = ""
    last_publisher_token: str = ""

    def org(self, slug: str) -> str:
        r = self.admin.post("/api/v1/organizations", json={"name": slug.title(), "slug": slug})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def api(self, pub: Any, context: str, *, publish: bool = True) -> dict[str, Any]:
        r = pub.post(
            "/api/v1/apis", json={"name": context.title(), "context": context, "version": "v1"}
        )
        assert r.status_code == 201, r.text
        api = r.json()
        if publish:
            r = pub.put(
                f"/api/v1/apis/{api['id']}/deployments/production",
                json={"upstream_url": "http://127.0.0.1:9/"},
            )
            assert r.status_code == 200, r.text
            r = pub.post(f"/api/v1/apis/{api['id']}/lifecycle", json={"state": "published"})
            assert r.status_code == 200, r.text
            api = r.json()
        return dict(api)

    def plan(
        self,
        pub: Any,
        name: str,
        pricing: dict[str, Any] | None = None,
        currency: str = "USD",
        api_id: str | None = None,
    ) -> dict[str, Any]:
        r = pub.post(
            "/api/v1/plans",
            json={
                "name": name,
                "currency": currency,
                "pricing": pricing if pricing is not None else FREE,
            },
        )
        assert r.status_code == 201, r.text
        plan = r.json()
        if api_id is not None:
            r = pub.put(f"/api/v1/apis/{api_id}/plans/{plan['id']}", json={"enabled": True})
            assert r.status_code == 200, r.text
        return dict(plan)

    def app(self, con: Any, name: str = "my app", **extra: Any) -> dict[str, Any]:
        r = con.post("/api/v1/applications", json={"name": name, **extra})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def subscribe(self, con: Any, app_id: str, api_id: str, plan_id: str) -> Any:
        return con.post(
            "/api/v1/subscriptions",
            json={"application_id": app_id, "api_id": api_id, "plan_id": plan_id},
        )
