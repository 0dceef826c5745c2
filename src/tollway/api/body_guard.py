"""Request bodies the control plane will read: bounded in size, JSON bounded in depth.

Every body is read through this guard before any handler sees it:

* a declared ``Content-Length`` over the limit is refused at once (413), and a streamed
  (chunked) body is refused as soon as it passes the limit, so no request makes the
  process hold more than ``max_bytes`` of body;
* a JSON body nested deeper than :data:`MAX_JSON_DEPTH` is refused (400) before it is
  parsed, so no recursive step later (validation, the NUL check) can overflow the stack.

Bodies within both limits are handed to the application unchanged.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tollway.api.problems import problem

MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``body`` opens more than ``limit`` nested arrays/objects (strings skipped)."""
    depth = 0
    for byte in _NOT_A_BRACKET.sub(b"", _JSON_STRING.sub(b'""', body)):
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif depth:
            depth -= 1
    return False


class BodyGuard:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, path_limits: dict[str, int] | None = None
    ) -> None:
        """``path_limits`` maps path prefixes to tighter limits (e.g. webhooks: 1 MiB)."""
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    def _limit(self, path: str) -> int:
        for prefix, limit in self.path_limits.items():
            if path.startswith(prefix):
                return min(limit, self.max_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._too_large(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        ctype = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if (ctype.endswith(b"json") or ctype == b"") and json_depth_exceeds(body):
            resp = problem(
                400,
                "Bad request",
                f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep",
                "bad-request",
            )
            await resp(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        resp = problem(
            413,
            "Payload too large",
            f"the request body is larger than {limit} bytes",
            "payload-too-large",
            limit=limit,
        )
        resp.headers["Connection"] = "close"
        await resp(scope, receive, send)


__all__ = ["MAX_JSON_DEPTH", "BodyGuard", "json_depth_exceeds"]
