"""The transaction of a request, committed before its response is sent.

``TransactionPerRequest`` (an ASGI middleware) gives every HTTP request one
``RequestTransaction``; ``deps.Conn`` opens it on first use. When the application
starts its response, the middleware holds the response back and finishes the
transaction first:

* a response with a status below 400 commits it; ``store.db.after_commit`` hooks run
  (Redis config publish, job start), then the response goes out;
* a commit that fails (a deferred constraint, a lost race, a lost database) is raised as
  a domain error, rendered by ``render_error`` (problem+json: 409, 503) and sent
  INSTEAD of the handler's response;
* an error response (4xx/5xx) or an exception rolls it back.

So a client never gets a 2xx for a change that is not durable, whatever the route
looks like: no route can commit after its response, because routes never own the
request's transaction. (FastAPI's ``yield`` dependencies of the default "request"
scope exit after the response is sent; that is why the transaction is not one.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack

import anyio.to_thread
from sqlalchemy import Connection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tollway.domain.errors import TollwayError

SCOPE_KEY = "tollway.transaction"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _Rollback(Exception):
    """Thrown into the transaction to roll it back."""


class RequestTransaction:
    """One request's transaction: opened lazily by ``connection()``, ended by ``finish``."""

    def __init__(self, open_tx: Callable[[], AbstractContextManager[Connection]]) -> None:
        self._open = open_tx
        self._lock = threading.Lock()
        self._stack: ExitStack | None = None
        self._conn: Connection | None = None

    def connection(self) -> Connection:
        with self._lock:
            if self._conn is None:
                stack = ExitStack()
                self._conn = stack.enter_context(self._open())
                self._stack = stack
            return self._conn

    def finish(self, *, commit: bool) -> None:
        """Commit (hooks run after it; a failure raises a ``TollwayError``) or roll back.
        Idempotent: a transaction never opened or already finished is left alone."""
        with self._lock:
            stack, self._stack, self._conn = self._stack, None, None
        if stack is None:
            return
        if commit:
            stack.close()
        else:
            stack.__exit__(_Rollback, _Rollback(), None)


RenderError = Callable[[Scope, TollwayError], Response]


class TransactionPerRequest:
    """ASGI middleware: commit each HTTP request's transaction before its response."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        open_tx: Callable[[Scope, bool], AbstractContextManager[Connection]],
        render_error: RenderError,
    ) -> None:
        self.app = app
        self.open_tx = open_tx
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        read_only = scope["method"] in SAFE_METHODS
        tx = RequestTransaction(lambda: self.open_tx(scope, read_only))
        scope[SCOPE_KEY] = tx
        replaced = False

        async def send_after_commit(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the handler's response was replaced by the commit's error
            if message["type"] == "http.response.start":
                try:
                    await anyio.to_thread.run_sync(
                        lambda: tx.finish(commit=message["status"] < 400)
                    )
                except TollwayError as exc:
                    replaced = True
                    await self.render_error(scope, exc)(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_after_commit)
        finally:
            await anyio.to_thread.run_sync(lambda: tx.finish(commit=False))


def request_transaction(scope: Scope) -> RequestTransaction:
    tx = scope.get(SCOPE_KEY)
    if not isinstance(tx, RequestTransaction):
        raise RuntimeError("the app needs the TransactionPerRequest middleware")
    return tx
