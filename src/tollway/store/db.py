"""Engines, transactions (with after-commit hooks) and schema migration."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from tollway.domain.errors import Conflict, Unavailable

log = logging.getLogger("tollway.store")
MIGRATIONS = Path(__file__).parent / "migrations"
_HOOKS = "tollway_after_commit"  # key in Connection.info: hooks of the open transaction
#: PostgreSQL SQLSTATEs of a transaction that lost a race with another one.
_RACE_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for SQLite (WAL, foreign keys, busy timeout) or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Turn off pysqlite's own transaction handling so that BEGIN below is ours.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Take the write lock at BEGIN so read-then-write transactions cannot deadlock.
            conn.exec_driver_sql(
                "BEGIN" if conn.info.pop("read_only", False) else "BEGIN IMMEDIATE"
            )

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; the only way the schema is made outside tests."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except Exception:
            return None
        return None if row is None else str(row[0])


def after_commit(conn: Connection, hook: Callable[[], object]) -> None:
    """Run ``hook`` once the transaction ``conn`` is in (opened by ``transaction``) has
    committed; never if it rolls back. Hooks run in order, after the connection went back
    to the pool; one that raises is logged and does not undo the commit."""
    hooks: list[Callable[[], object]] | None = conn.info.get(_HOOKS)
    if hooks is None:
        raise RuntimeError("after_commit needs a transaction opened by store.db.transaction")
    hooks.append(hook)


@contextmanager
def transaction(engine: Engine, *, read_only: bool = False) -> Iterator[Connection]:
    """A transaction that has committed when the ``with`` block is left without an error.

    On SQLite a writer takes the lock at BEGIN, a reader does not. A failed commit (or a
    database error inside the block) is raised as a domain error: a constraint or a lost
    race as ``Conflict`` (409), a lost or unreachable database as ``Unavailable`` (503);
    nothing of the transaction is stored then. ``after_commit`` hooks run after a commit.
    """
    hooks: list[Callable[[], object]] = []
    with database_errors(), engine.connect() as conn:
        conn.info["read_only"] = read_only
        conn.info[_HOOKS] = hooks
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop(_HOOKS, None)
    for hook in hooks:
        try:
            hook()
        except Exception:  # the change is committed; a hook must not turn it into an error
            log.exception("after-commit hook %r failed", hook)


@contextmanager
def reading(engine: Engine, conn: Connection | None = None) -> Iterator[Connection]:
    """``conn`` if the caller is inside a transaction, else a read-only transaction of
    its own (on SQLite a plain BEGIN, which never waits for the write lock)."""
    if conn is not None:
        yield conn
        return
    with transaction(engine, read_only=True) as own:
        yield own


@contextmanager
def writing(engine: Engine, conn: Connection | None = None) -> Iterator[Connection]:
    """``conn`` if the caller is inside a transaction (the caller commits), else a
    transaction of its own, committed when the block is left."""
    if conn is not None:
        yield conn
        return
    with transaction(engine) as own:
        yield own


@contextmanager
def database_errors() -> Iterator[None]:
    """Database failures as domain errors (no SQL or driver text reaches a client)."""
    try:
        yield
    except IntegrityError as exc:
        log.warning("transaction refused by a constraint: %s", _first_line(exc))
        raise Conflict(
            "the change conflicts with data stored meanwhile (a constraint refused it); "
            "nothing was stored"
        ) from exc
    except (OperationalError, InterfaceError) as exc:
        if _sqlstate(exc) in _RACE_STATES:
            log.info("transaction lost a race: %s", _first_line(exc))
            raise Conflict(
                "a concurrent change got there first; nothing was stored, try again"
            ) from exc
        log.error("database unavailable: %s", _first_line(exc))
        raise Unavailable(
            "the database is unavailable; the change was not stored, try again"
        ) from exc


def _sqlstate(exc: DBAPIError) -> str | None:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return str(code) if code else None


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc).__name__
