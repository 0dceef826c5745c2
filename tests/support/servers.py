"""Real HTTP servers on loopback ports for tests, in threads: an ASGI app under uvicorn
(``serve_in_thread``) or a standard-library request handler (``serve_handler``)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import uvicorn
from starlette.types import ASGIApp

from tests.support.waiting import wait_until


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process owns its signals
        pass


@dataclass(frozen=True)
class Served:
    url: str  # http://127.0.0.1:<port>
    port: int


def loopback_socket(port: int = 0) -> socket.socket:
    """A bound (not yet listening) loopback socket; port 0 picks a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextmanager
def serve_in_thread(app: ASGIApp, sock: socket.socket | None = None) -> Iterator[Served]:
    """Serve ``app`` with uvicorn in a daemon thread until the block ends. ``sock``: an
    already bound socket (e.g. when the URL must be known before the app is built)."""
    sock = sock or loopback_socket()
    port = int(sock.getsockname()[1])
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what=f"the server on port {port} to start")
        yield Served(f"http://127.0.0.1:{port}", port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def free_port() -> int:
    """A loopback port that was free a moment ago (for a server in another process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_handler(
    handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None
) -> Iterator[int]:
    """Serve ``handler`` (one thread per request) on a loopback port until the block
    ends; yields the port. ``tls``: a server-side context to speak HTTPS."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
