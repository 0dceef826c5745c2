"""A control-plane write answers only after its transaction has committed (issue 16).

* A commit that fails after the handler returned is an error response (409 for a
  constraint, 503 for a lost database), never the handler's 2xx, and nothing is stored.
* A client that got a 2xx can use what it wrote at once, through another control-plane
  process on the same database (create-then-use pairs through real servers).
* Routes never own the request's transaction, so a route added later cannot get this
  wrong (``http.transaction``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, event, select, text

from tests.support.servers import serve_in_thread
from tollway.api.deps import Conn
from tollway.control_plane import create_app
from tollway.runtime import build_context
from tollway.store import db
from tollway.store.tables import organizations, plans


def _plan_names(ctx: Any) -> list[str]:
    with ctx.tx(read_only=True) as conn:
        return [str(n) for n in conn.execute(select(plans.c.name)).scalars()]


def test_a_route_added_later_gets_the_same_boundary(ctx: Any, admin: Any) -> None:
    """Routes never own the request's transaction: any new route that writes through
    ``Conn`` is committed before its 2xx is sent, and an error response stores nothing."""
    app = create_app(ctx)
    extra = APIRouter()

    @extra.post("/_test/plans/{name}", status_code=201)
    def write(name: str, conn: Conn, fail: bool = False) -> JSONResponse:
        conn.execute(
            plans.insert().values(
                id=f"plan_{name}",
                organization_id=_org(conn),
                name=name,
                description="",
                currency="USD",
                billing_interval="month",
                pricing={},
                quota_mode="hard",
                status="active",
                created_at=ctx.clock.now(),
                updated_at=ctx.clock.now(),
            )
        )
        if fail:
            return JSONResponse({"error": "refused"}, status_code=422)
        assert name not in _plan_names(ctx)  # not committed while the handler runs
        return JSONResponse({"name": name}, status_code=201)

    app.include_router(extra)
    with TestClient(app) as http:
        assert http.post("/_test/plans/kept").status_code == 201
        assert "kept" in _plan_names(ctx)
        assert http.post("/_test/plans/dropped", params={"fail": True}).status_code == 422
        assert "dropped" not in _plan_names(ctx)


def _org(conn: Connection) -> str:
    return str(conn.execute(select(organizations.c.id)).scalars().first())


def test_after_commit_hooks_run_after_a_commit_and_never_after_a_rollback(engine: Any) -> None:
    ran: list[str] = []
    with db.transaction(engine) as conn:
        db.after_commit(conn, lambda: ran.append("committed"))
        assert ran == []  # not before the commit
    assert ran == ["committed"]
    with pytest.raises(ZeroDivisionError), db.transaction(engine) as conn:
        db.after_commit(conn, lambda: ran.append("rolled back"))
        _ = 1 / 0
    assert ran == ["committed"]


@pytest.fixture
def refuse_at_commit(pg_database_url: str) -> Iterator[str]:
    """A deferred constraint on ``plans``: checked at COMMIT, after the handler returned."""
    name = "refused-at-commit"
    admin = create_engine(pg_database_url)
    with admin.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION tollway_test_refuse() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.name = '{name}' THEN RAISE EXCEPTION 'refused at commit' "
                "USING ERRCODE = '23514'; END IF; RETURN NULL; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER tollway_test_refuse AFTER INSERT ON plans "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "EXECUTE FUNCTION tollway_test_refuse()"
            )
        )
    try:
        yield name
    finally:
        with admin.begin() as conn:
            conn.execute(text("DROP TRIGGER tollway_test_refuse ON plans"))
            conn.execute(text("DROP FUNCTION tollway_test_refuse()"))
        admin.dispose()


def test_a_commit_refused_by_a_constraint_is_a_409_and_stores_nothing(
    ctx: Any, make_actor: Any, refuse_at_commit: str
) -> None:
    pub = make_actor("publisher")
    r = pub.post("/api/v1/plans", json={"name": refuse_at_commit, "currency": "USD"})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/conflict")
    assert "refused at commit" not in r.text  # no database text reaches the client
    assert refuse_at_commit not in _plan_names(ctx)
    ok = pub.post("/api/v1/plans", json={"name": "fine", "currency": "USD"})
    assert ok.status_code == 201, ok.text


def test_a_commit_that_loses_the_database_is_a_503_and_stores_nothing(
    ctx: Any, make_actor: Any, pg_database_url: str
) -> None:
    pub = make_actor("publisher")
    admin = create_engine(pg_database_url)
    killed: list[int] = []

    def lose_connection(conn: Connection) -> None:
        """Right before COMMIT reaches the server, the server ends this session."""
        if killed:
            return
        pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        killed.append(pid)

    event.listen(ctx.engine, "commit", lose_connection)
    try:
        r = pub.post("/api/v1/plans", json={"name": "lost", "currency": "USD"})
    finally:
        event.remove(ctx.engine, "commit", lose_connection)
        admin.dispose()
    assert killed, "the commit hook did not run"
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "1"
    assert "lost" not in _plan_names(ctx)
    again = pub.post("/api/v1/plans", json={"name": "lost", "currency": "USD"})
    assert again.status_code == 201, again.text  # the pool recovered


PAIRS = 300
THREADS = 6


def test_create_then_use_through_another_process_never_sees_a_404(
    settings: Any, make_actor: Any, pg_database_url: str
) -> None:
    """Hundreds of create-then-use pairs from several client threads: every create goes
    to control plane A, every use of what it created to control plane B (own engine and
    pool, same database). A 2xx from A means B can use the object at once."""
    pub = make_actor("publisher")
    con = make_actor("consumer")
    contexts = [build_context(settings, migrate=False) for _ in range(2)]
    # A's commits take as long as on a busy disk: a 2xx sent before the commit finished
    # would then reach B before the row does, every time.
    event.listen(contexts[0].engine, "commit", lambda conn: time.sleep(0.005))
    failures: list[str] = []
    lock = threading.Lock()
    try:
        with (
            serve_in_thread(create_app(contexts[0])) as a,
            serve_in_thread(create_app(contexts[1])) as b,
        ):
            pub_headers = {"Authorization": f"Bearer {pub.token}"}
            con_headers = {"Authorization": f"Bearer {con.token}"}
            with httpx.Client(base_url=a.url, headers=pub_headers) as setup:
                api = setup.post(
                    "/api/v1/apis", json={"name": "Stress", "context": "stress", "version": "v1"}
                ).json()

            def pair(i: int) -> None:
                with (
                    httpx.Client(base_url=a.url, timeout=30) as on_a,
                    httpx.Client(base_url=b.url, timeout=30) as on_b,
                ):
                    if i % 2:
                        made = on_a.post(
                            "/api/v1/plans",
                            json={"name": f"plan {i}", "currency": "USD"},
                            headers=pub_headers,
                        )
                        used = on_b.put(
                            f"/api/v1/apis/{api['id']}/plans/{made.json().get('id')}",
                            json={"enabled": True},
                            headers=pub_headers,
                        )
                    else:
                        made = on_a.post(
                            "/api/v1/applications", json={"name": f"app {i}"}, headers=con_headers
                        )
                        used = on_b.post(
                            f"/api/v1/applications/{made.json().get('id')}/keys",
                            json={"environment": "production", "name": "k"},
                            headers=con_headers,
                        )
                if made.status_code != 201 or used.status_code not in (200, 201):
                    with lock:
                        failures.append(f"pair {i}: {made.status_code} then {used.status_code}")

            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(pair, range(PAIRS)))
    finally:
        for c in contexts:
            c.engine.dispose()
    assert failures == [], f"{len(failures)} of {PAIRS} pairs failed: {failures[:10]}"
