"""Checking that a deployment's upstream answers: one GET through the SSRF guard (to the
address that was checked), reporting what happened in words a publisher can act on."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import NotFound, UnsafeUrl
from tollway.domain.principal import Principal
from tollway.security.ssrf import UrlGuard
from tollway.store import apis_repo


@dataclass(frozen=True, slots=True)
class UpstreamCheck:
    environment: str
    url: str
    reachable: bool
    status: int | None
    message: str


def deployment_url(conn: Connection, caller: Principal, api_id: str, environment: str) -> str:
    """The upstream URL of the API's deployment in ``environment`` (managers only)."""
    apis_repo.get(conn, api_id, caller, manage=True)
    for dep in apis_repo.deployments(conn, [api_id])[api_id]:
        if dep["environment"] == environment:
            return str(dep["upstream_url"])
    raise NotFound(f"the API has no {environment} deployment")


def check_upstream(ctx: AppContext, environment: str, url: str) -> UpstreamCheck:
    """GET the upstream base URL (no redirects followed). Any HTTP answer means the
    gateway can reach it; a refusal by the SSRF guard says which setting allows it."""
    guard = UrlGuard(ctx.settings.ssrf_allow)
    try:
        target = guard.pinned_target(url)
    except UnsafeUrl as exc:
        message = exc.errors[0].message if exc.errors else exc.detail
        return UpstreamCheck(environment, url, False, None, f"Refused: {message}.")
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    try:
        with httpx.Client(trust_env=False, timeout=ctx.settings.fetch_timeout_s) as client:
            response = client.get(
                target.pinned_url, headers={"Host": target.host_header}, extensions=extensions
            )
    except httpx.TimeoutException:
        timeout = ctx.settings.fetch_timeout_s
        return UpstreamCheck(environment, url, False, None, f"No answer within {timeout:g} s.")
    except httpx.HTTPError as exc:
        return UpstreamCheck(environment, url, False, None, f"Not reachable: {exc}.")
    status = response.status_code
    note = "the upstream is reachable" if status < 500 else "the upstream answers with an error"
    return UpstreamCheck(environment, url, status < 500, status, f"HTTP {status}: {note}.")
