"""The SSRF guard for every outbound request Tollway makes on a user's behalf.

Rules (see ``docs/security.md``): only ``http``/``https``; no user info in the URL; IP
literals only in canonical form; the host must resolve, and EVERY address it resolves to
must be publicly routable - no loopback, private (RFC 1918, ULA), link-local (including
the cloud metadata address 169.254.169.254), multicast, unspecified, reserved, shared
(CGNAT 100.64.0.0/10) or otherwise non-global address, also when wrapped in IPv6
(IPv4-mapped, 6to4, Teredo, NAT64). An allow-list (CIDR ranges, single addresses or host
names) opens exceptions for on-premise upstreams.

:meth:`UrlGuard.fetch` follows redirects by hand (at most 5), re-checks every hop, and
connects to the address it checked (the URL is rewritten to the IP, with the original
``Host`` header and TLS SNI / certificate name), so DNS rebinding between check and
connect is not possible. The body is streamed and cut at ``max_bytes``; the whole fetch
(DNS, connects, redirects, body) runs under one ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from tollway.domain.errors import FetchFailed, UnsafeUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_NUMERIC_LABEL = re.compile(r"\A(0x[0-9a-f]*|[0-9]+)\Z", re.IGNORECASE)
_ALLOW_HINT = (
    "if this is an on-premise upstream, add it to the ssrf_allow setting (TOLLWAY_SSRF_ALLOW)"
)


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    url: str
    content_type: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    pinned_url: str
    host_header: str
    sni_hostname: str | None
    addresses: tuple[IPAddress, ...]


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be contacted, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = None
        kind = ""
        if ip.ipv4_mapped is not None:
            embedded, kind = ip.ipv4_mapped, "IPv4-mapped"
        elif ip.sixtofour is not None:
            embedded, kind = ip.sixtofour, "6to4"
        elif ip.teredo is not None:
            embedded, kind = ip.teredo[1], "Teredo"
        elif ip in _NAT64 or ip in _NAT64_LOCAL:
            embedded, kind = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
        if embedded is not None:
            inner = forbidden_reason(embedded)
            return f"{kind} form of a {inner}" if inner else None
        if ip.is_site_local:
            return "site-local address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address (this includes the cloud metadata service)"
    if ip.is_multicast:
        return "multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "shared (CGNAT) address"
    if ip.is_private:
        return "private address"
    if ip.is_reserved:
        return "reserved address"
    if not ip.is_global:
        return "address that is not publicly routable"
    return None


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _looks_numeric(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return 1 <= len(labels) <= 4 and all(_NUMERIC_LABEL.match(label) for label in labels)


@dataclass(frozen=True, slots=True)
class _Target:
    url: httpx.URL
    host: str
    port: int
    literal: IPAddress | None


class UrlGuard:
    """Checks and fetches outbound URLs; ``allow`` lists CIDRs, IPs or host names."""

    def __init__(
        self,
        allow: Sequence[str] = (),
        *,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        # ``verify``: TLS verification for fetches (an SSLContext trusting an on-premise CA);
        # ``resolver``: ``(host, port) -> addresses``, the system's getaddrinfo by default.
        self._verify = verify
        self._networks: list[IPNetwork] = []
        self._hosts: set[str] = set()
        for entry in allow:
            item = entry.strip()
            if not item:
                continue
            try:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._hosts.add(item.lower().rstrip("."))
        self._resolve = resolver or _system_resolver

    # -- checking -----------------------------------------------------------------------

    def _parse(self, url: str) -> _Target:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise UnsafeUrl.at(("url",), f"not a valid URL ({exc})") from None
        if parsed.scheme not in ("http", "https"):
            raise UnsafeUrl.at(("url",), "only http and https URLs are allowed")
        if parsed.userinfo:
            raise UnsafeUrl.at(("url",), "URLs with a user name or password are not allowed")
        host = parsed.host.lower().rstrip(".")
        if not host:
            raise UnsafeUrl.at(("url",), "the URL has no host")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        literal: IPAddress | None = None
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            if _looks_numeric(host):
                raise UnsafeUrl.at(
                    ("url",), f"host '{host}' is an IP address in a non-standard form"
                ) from None
        return _Target(parsed, host, port, literal)

    def _allowed(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(
            c in net for c in candidates for net in self._networks if c.version == net.version
        )

    def _vet(self, target: _Target, addresses: Sequence[str]) -> list[IPAddress]:
        ips: list[IPAddress] = []
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            if ip not in ips:
                ips.append(ip)
        if not ips:
            raise UnsafeUrl.at(("url",), f"host '{target.host}' does not resolve to any address")
        if target.host in self._hosts:
            return ips
        for ip in ips:
            reason = forbidden_reason(ip)
            if reason is not None and not self._allowed(ip):
                via = "is" if target.literal is not None else f"resolves to {ip}, which is"
                raise UnsafeUrl.at(
                    ("url",),
                    f"host '{target.host}' {via} a {reason}; outbound requests there are "
                    f"refused ({_ALLOW_HINT})",
                )
        return ips

    def _resolve_or_refuse(self, target: _Target) -> list[str]:
        if target.literal is not None:
            return [str(target.literal)]
        try:
            return list(self._resolve(target.host, target.port))
        except (OSError, UnicodeError) as exc:
            raise UnsafeUrl.at(
                ("url",), f"host '{target.host}' cannot be resolved ({exc})"
            ) from None

    def check(self, url: str) -> list[IPAddress]:
        """The addresses ``url``'s host resolves to, all permitted; else :class:`UnsafeUrl`."""
        target = self._parse(url)
        return self._vet(target, self._resolve_or_refuse(target))

    def check_upstream_url(self, url: str) -> list[IPAddress]:
        """Check a configured upstream base URL (same rules as :meth:`check`, no fetch)."""
        target = self._parse(url)
        if target.url.fragment:
            raise UnsafeUrl.at(("url",), "an upstream URL cannot have a #fragment")
        return self._vet(target, self._resolve_or_refuse(target))

    def pinned_target(self, url: str) -> PinnedTarget:
        """Check ``url`` and return how to send a request to the address that was checked.

        For callers with their own HTTP client (the gateway's upstream calls): send to
        ``pinned_url`` with the ``Host`` header ``host_header`` and, for HTTPS, the request
        extension ``{"sni_hostname": sni_hostname}`` (httpx), so TLS still verifies the
        certificate against the original name. Re-resolve when the DNS answer may change.
        """
        target = self._parse(url)
        ips = self._vet(target, self._resolve_or_refuse(target))
        return PinnedTarget(
            pinned_url=str(target.url.copy_with(host=str(ips[0]))),
            host_header=target.url.netloc.decode("ascii"),
            sni_hostname=target.host if target.url.scheme == "https" else None,
            addresses=tuple(ips),
        )

    async def _check_async(self, target: _Target) -> list[IPAddress]:
        return self._vet(target, await asyncio.to_thread(self._resolve_or_refuse, target))

    # -- fetching -----------------------------------------------------------------------

    async def fetch(self, url: str, *, max_bytes: int, timeout_s: float) -> FetchedDocument:
        """GET ``url`` under the guard; :class:`UnsafeUrl` or :class:`FetchFailed` on failure."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self._fetch(url, max_bytes, timeout_s)
        except TimeoutError:
            raise FetchFailed(f"fetching {url} timed out after {timeout_s:g} s") from None

    def fetch_sync(self, url: str, *, max_bytes: int, timeout_s: float) -> FetchedDocument:
        """Blocking :meth:`fetch` (runs its own event loop; safe to call from any thread)."""
        coro = self.fetch(url, max_bytes=max_bytes, timeout_s=timeout_s)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        # called from inside a running loop: run in a helper thread with its own loop
        box: list[FetchedDocument | BaseException] = []

        def run() -> None:
            try:
                box.append(asyncio.run(coro))
            except BaseException as exc:
                box.append(exc)

        worker = threading.Thread(target=run, name="tollway-fetch", daemon=True)
        worker.start()
        worker.join()
        result = box[0]
        if isinstance(result, BaseException):
            raise result
        return result

    async def _fetch(self, url: str, max_bytes: int, timeout_s: float) -> FetchedDocument:
        current = url
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=timeout_s, verify=self._verify
        ) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                target = self._parse(current)
                ips = await self._check_async(target)
                response = await self._send_pinned(client, target, ips[0])
                try:
                    if response.status_code in _REDIRECT_STATUSES:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchFailed(
                                f"{current} answered {response.status_code} without a Location"
                            )
                        current = str(target.url.join(location))
                        continue
                    if not 200 <= response.status_code < 300:
                        raise FetchFailed(f"{current} answered HTTP {response.status_code}")
                    body = await _read_limited(response, current, max_bytes)
                    return FetchedDocument(
                        url=current, content_type=response.headers.get("content-type"), body=body
                    )
                finally:
                    await response.aclose()
        raise FetchFailed(f"fetching {url} gave up after {MAX_REDIRECTS} redirects")

    async def _send_pinned(
        self, client: httpx.AsyncClient, target: _Target, ip: IPAddress
    ) -> httpx.Response:
        pinned = target.url.copy_with(host=str(ip))
        headers = {
            "Host": target.url.netloc.decode("ascii"),
            "Accept": "application/json, application/yaml, text/yaml, */*;q=0.5",
            "Accept-Encoding": "identity",
            "User-Agent": "tollway-fetch/1",
        }
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
        try:
            return await client.send(request, stream=True)
        except httpx.TimeoutException:
            raise FetchFailed(f"fetching {target.url} timed out") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(
                f"could not fetch {target.url}: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from None


async def _read_limited(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed(f"{url} is too large ({int(declared)} bytes; the limit is {max_bytes})")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise FetchFailed(f"{url} is too large (more than {max_bytes} bytes)")
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise FetchFailed(f"reading {url} failed: {type(exc).__name__}: {exc}") from None
    return b"".join(chunks)


def check_upstream_url(url: str, *, allow: Sequence[str] = ()) -> list[IPAddress]:
    """Module-level shortcut for :meth:`UrlGuard.check_upstream_url`."""
    return UrlGuard(allow).check_upstream_url(url)


async def fetch(
    url: str, *, max_bytes: int, timeout_s: float, allow: Sequence[str] = ()
) -> FetchedDocument:
    """Module-level shortcut for :meth:`UrlGuard.fetch`."""
    return await UrlGuard(allow).fetch(url, max_bytes=max_bytes, timeout_s=timeout_s)


def fetch_sync(
    url: str, *, max_bytes: int, timeout_s: float, allow: Sequence[str] = ()
) -> FetchedDocument:
    """Module-level shortcut for :meth:`UrlGuard.fetch_sync`."""
    return UrlGuard(allow).fetch_sync(url, max_bytes=max_bytes, timeout_s=timeout_s)
