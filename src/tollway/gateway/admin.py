"""The admin endpoint of one gateway process: ``/metrics`` (Prometheus) and ``/healthz``.

A deliberately tiny HTTP/1.0-style server on its own port (bound to 127.0.0.1 by
default): one request per connection, a 5 s deadline for the request head, anything
but the two paths is 404.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from tollway.gateway.metrics import GatewayMetrics

HEAD_TIMEOUT_S = 5.0


class AdminEndpoint:
    def __init__(self, metrics: GatewayMetrics, healthy: Callable[[], str | None]) -> None:
        """``healthy()`` returns None when the process serves normally, else the state
        ``/healthz`` reports with a 503 (``draining``, ``recording_unavailable``)."""
        self._metrics = metrics
        self._healthy = healthy
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int | None:
        if self._server is None:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """Listen on ``host:port`` (0 = any free port). A port already taken leaves the
        process without an admin endpoint rather than failing the gateway."""
        with contextlib.suppress(OSError):
            self._server = await asyncio.start_server(
                self._serve, host, port, reuse_port=reuse_port or None
            )

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def respond(self, path: str) -> tuple[bytes, bytes, bytes]:
        """(status line text, content type, body) for a request path."""
        if path.startswith("/metrics"):
            return b"200 OK", b"text/plain; version=0.0.4", self._metrics.render()
        if path.startswith("/healthz"):
            problem = self._healthy()
            if problem is None:
                return b"200 OK", b"application/json", b'{"status":"ok"}'
            body = b'{"status":"%s"}' % problem.encode()
            return b"503 Service Unavailable", b"application/json", body
        return b"404 Not Found", b"text/plain", b"not found"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), HEAD_TIMEOUT_S)
            while (await asyncio.wait_for(reader.readline(), HEAD_TIMEOUT_S)) not in (
                b"\r\n",
                b"\n",
                b"",
            ):
                pass
            parts = line.split()
            path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
            status, ctype, body = self.respond(path)
            writer.write(
                b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (status, ctype, len(body), body)
            )
            await writer.drain()
        except (TimeoutError, OSError, ValueError):
            pass
        finally:
            writer.close()
