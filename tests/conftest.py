"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when
TOLLWAY_TEST_DATABASE_URL is set), a control-plane context and HTTP clients per role."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from tests.support.actors import Actor
from tollway.security import passwords

passwords.use_fast_parameters_for_tests()

PG_ENV = "TOLLWAY_TEST_DATABASE_URL"


def pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV)


@pytest.fixture(scope="session")
def _database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per session: a template SQLite file, or a fresh PostgreSQL database."""
    from tollway.store import db

    base = pg_admin_url()
    if base is None:
        path = tmp_path_factory.mktemp("dbtemplate") / "template.db"
        engine = db.make_engine(f"sqlite:///{path}")
        db.upgrade(engine)
        engine.dispose()
        yield str(path)
        return
    name = f"tollway_t_{uuid.uuid4().hex[:12]}"
    admin = db.make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(_database_template: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test."""
    from tollway.store import db
    from tollway.store.tables import metadata

    if pg_admin_url() is None:
        path = tmp_path / "tollway.db"
        shutil.copyfile(_database_template, path)
        yield f"sqlite:///{path}"
        return
    engine = db.make_engine(_database_template)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO config_version (id, version) VALUES (1, 1)"))
    engine.dispose()
    yield _database_template


@pytest.fixture
def pg_database_url(database_url: str) -> str:
    """``database_url`` for a PostgreSQL-only test (marked ``pg``: the SQLite run leaves it
    out; the PostgreSQL run of ``scripts/test`` runs it)."""
    if not database_url.startswith("postgresql"):
        message = f"PostgreSQL-only test: set {PG_ENV}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return database_url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    from tollway.store import db

    eng = db.make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Any:
    from tollway.settings import load_settings

    return load_settings(
        data_dir=tmp_path / "data", database_url=database_url, ssrf_allow=["127.0.0.1/32"]
    )


@pytest.fixture
def ctx(settings: Any) -> Iterator[Any]:
    from tollway.runtime import build_context

    context = build_context(settings, migrate=False)
    yield context
    context.engine.dispose()


@pytest.fixture
def app(ctx: Any) -> Any:
    from tollway.control_plane import create_app

    return create_app(ctx)


@pytest.fixture
def http(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def admin(ctx: Any, http: Any) -> Actor:
    from tollway.services.sessions import create_token
    from tollway.store import users_repo

    now = ctx.clock.now()
    with ctx.tx() as conn:
        org = users_repo.ensure_default_org(conn, now)
        user = users_repo.create_user(
            conn,
            email="admin@example.com",
            name="Admin",
            role="admin",
            password=None,
            organization_id=org,
            now=now,
        )
        tok = create_token(conn, user["id"], name="t", kind="admin", now=now)
    return Actor(user["id"], user["email"], "admin", tok.raw, http)


@pytest.fixture
def make_actor(admin: Actor, http: Any) -> Any:
    """``make_actor("publisher", org_id=None)`` creates a user via the API and logs in."""
    counter = {"n": 0}

    def make(role: str, organization_id: str | None = None) -> Actor:
        counter["n"] += 1
        email = f"{role}{counter['n']}@example.com"
        body = {
            "email": email,
            "name": f"{role} {counter['n']}",
            "password": "correct horse battery",
            "role": role,
        }
        if organization_id:
            body["organization_id"] = organization_id
        r = admin.post("/api/v1/users", json=body)
        assert r.status_code == 201, r.text
        login = http.post(
            "/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}
        )
        assert login.status_code == 200, login.text
        http.cookies.clear()
        return Actor(r.json()["id"], email, role, login.json()["token"], http)

    return make


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Every test that touches the database is a ``db`` test (run again on PostgreSQL);
    PostgreSQL-only tests are also ``pg`` tests (left out of the SQLite run). A test
    marked ``database_incidental`` is not a ``db`` test: it runs once."""
    for item in items:
        if item.get_closest_marker("database_incidental"):
            continue
        names = set(getattr(item, "fixturenames", ()))
        module = getattr(getattr(item, "module", None), "__dict__", {})
        if names & {"pg_engine", "pg_database_url"}:  # PostgreSQL-only: not in the SQLite run
            item.add_marker(pytest.mark.pg)
        if (
            names & {"database_url", "pg_engine", "pg_database_url", "sql_engine"}
            or "private_engine" in module
        ):
            item.add_marker(pytest.mark.db)
