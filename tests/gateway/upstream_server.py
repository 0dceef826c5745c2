"""A small real HTTP/1.1 upstream for the gateway tests (stdlib, threaded)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[dict[str, Any]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _read_body(self) -> tuple[int, str]:
        digest = hashlib.sha256()
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                remaining = size
                while remaining:
                    chunk = self.rfile.read(min(remaining, 1 << 16))
                    digest.update(chunk)
                    remaining -= len(chunk)
                    total += len(chunk)
                self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                digest.update(chunk)
                remaining -= len(chunk)
                total += len(chunk)
        return total, digest.hexdigest()

    def _json(self, status: int, doc: object, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        size, digest = self._read_body()
        cast(RecordingServer, self.server).seen.append(
            {
                "method": self.command,
                "path": self.path,
                "client": self.client_address[1],
                "headers": dict(self.headers.items()),
            }
        )
        if path.endswith("/slow"):
            time.sleep(float(q.get("s", "2")))
        if path.endswith("/big"):
            n = int(q.get("n", "0"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if q.get("chunked"):
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(n))
            self.end_headers()
            block = b"x" * (1 << 16)
            sent = 0
            while sent < n:
                piece = block[: min(len(block), n - sent)]
                if q.get("chunked"):
                    self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    self.wfile.write(piece)
                sent += len(piece)
            if q.get("chunked"):
                self.wfile.write(b"0\r\n\r\n")
            return
        if path.endswith("/reset"):
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.connection.close()
            self.close_connection = True
            return
        if path.endswith("/nocontent"):
            self.send_response(204)
            self.end_headers()
            return
        status = int(q.get("status", "200"))
        extra = {}
        if "usage" in q:
            extra["X-Usage-Units"] = q["usage"]
        extra["X-Upstream"] = "yes"
        self._json(
            status,
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_bytes": size,
                "body_sha256": digest,
            },
            extra,
        )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = _handle


class Upstream:
    def __init__(self) -> None:
        self.server = RecordingServer(("127.0.0.1", 0), Handler)
        self.server.seen = []
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self) -> list[dict[str, Any]]:
        return self.server.seen

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
