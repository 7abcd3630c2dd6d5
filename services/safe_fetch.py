"""Fetch a URL named by a request without letting it reach anything but the allowed file hosts.

The rules: HTTPS only, the host must match DOWNLOAD_ALLOWED_HOSTS at every redirect hop, every address the
host resolves to must be public (DNS is checked on the very connection used, so a rebinding name cannot slip
through), the size is counted while streaming and again after decompression, and the whole fetch times out.
The one exception is an allow-list entry written `http://<loopback host>`: tests and the local emulator serve
files on 127.0.0.1 over plain HTTP.

We write this ourselves because the maintained SSRF guards (advocate, ssrf-filter) wrap `requests`, and the
gateway's fetches run on aiohttp; the check sits in an aiohttp resolver, which is aiohttp's own extension point.
"""

from __future__ import annotations

import ipaddress
import socket
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
# Microsoft's file hosts: commercial SharePoint/OneDrive, GCC High and DoD, China (21Vianet), Germany (legacy).
MICROSOFT_FILE_HOSTS = ("*.sharepoint.com", "*.sharepoint.us", "*.sharepoint-mil.us", "*.sharepoint.cn",
                        "*.sharepoint.de")  # fmt: skip


class FetchRefused(Exception):
    """The URL is not allowed (scheme, host, address or redirect); `reason` is for the log, never for users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchTooLarge(Exception):
    """The body (or what it decompresses to) is longer than the limit."""


class FetchFailed(Exception):
    """The host answered with an HTTP error status; `status` says which."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def check_host_pattern(entry: str) -> str:
    """Return the normalised allow-list entry, or raise ValueError with one sentence saying what is wrong.

    An entry is a host name (`files.example.com`), a wildcard for its subdomains (`*.sharepoint.com`), or
    `http://<loopback host>` to allow plain HTTP to this machine (tests and the local emulator only).
    """
    value = entry.strip().lower().rstrip("/")
    if value.startswith("http://"):
        host = value.removeprefix("http://")
        if host not in LOOPBACK_NAMES:
            raise ValueError(f"{entry!r}: plain http:// is allowed only for a loopback host (127.0.0.1, localhost)")
        return value
    if "://" in value or "/" in value or ":" in value:
        raise ValueError(f"{entry!r}: give a host name such as files.example.com or *.sharepoint.com, not a URL")
    name = value.removeprefix("*.")
    if not name or "*" in name or "." not in name:
        raise ValueError(f"{entry!r}: a wildcard may only be a leading '*.' before a domain such as sharepoint.com")
    return value


@dataclass(frozen=True)
class AllowList:
    """Allowed download hosts: exact names, `*.` suffixes, and loopback hosts reachable over plain HTTP."""

    exact: frozenset[str]
    suffixes: tuple[str, ...]
    loopback_http: frozenset[str]

    @classmethod
    def of(cls, entries: Iterable[str]) -> AllowList:
        """Return the allow-list of the (already checked) entries."""
        exact, suffixes, loopback = set(), [], set()
        for entry in map(check_host_pattern, entries):
            if entry.startswith("http://"):
                loopback.add(entry.removeprefix("http://").strip("[]"))
            elif entry.startswith("*."):
                suffixes.append(entry[1:])
            else:
                exact.add(entry)
        return cls(frozenset(exact), tuple(suffixes), frozenset(loopback))

    def check(self, url: str) -> None:
        """Raise FetchRefused unless `url` is HTTPS to an allowed host (or HTTP to an allowed loopback host)."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise FetchRefused("malformed URL") from None
        if parts.username or parts.password:
            raise FetchRefused("credentials in the URL")
        if parts.scheme == "http" and host in self.loopback_http:
            return
        if parts.scheme != "https":
            raise FetchRefused(f"scheme {parts.scheme or 'none'}")
        if host in self.loopback_http:
            return
        if _ip(host) is not None:
            raise FetchRefused("an IP address instead of a host name")
        if host not in self.exact and not any(host.endswith(s) and len(host) > len(s) for s in self.suffixes):
            raise FetchRefused(f"host {host} is not allowed")

    def private_ok(self, host: str) -> bool:
        """Return True if `host` may resolve to a non-public address (only the explicit loopback entries)."""
        return host.lower().strip("[]") in self.loopback_http


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_public(address: str) -> bool:
    """Return True for a globally routable unicast address (not private, loopback, link-local, reserved...)."""
    ip = _ip(address.split("%", 1)[0])
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _PublicOnlyResolver(AbstractResolver):
    """Resolves with getaddrinfo and refuses a name that resolves to any non-public address.

    The connection uses exactly the addresses checked here, so a name cannot pass the check and then
    resolve elsewhere when connecting (DNS rebinding).
    """

    def __init__(self, allow: AllowList) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow = allow
        self.refused = ""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:  # noqa: E501
        results = await self._inner.resolve(host, port, family)
        if not self._allow.private_ok(host) and not all(is_public(r["host"]) for r in results):
            self.refused = f"{host} resolves to a non-public address"
            raise OSError(self.refused)
        return results

    async def close(self) -> None:
        await self._inner.close()


def _decoder(encoding: str) -> zlib._Decompress | None:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # 32: accept a gzip or a zlib header
    raise FetchRefused(f"content encoding {encoding}")


async def _read_bounded(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Return the body, decompressed, raising FetchTooLarge as soon as either form passes `max_bytes`."""
    decoder = _decoder(response.headers.get("Content-Encoding", ""))
    if (response.content_length or 0) > max_bytes:
        raise FetchTooLarge()
    chunks, raw_size, size = [], 0, 0
    async for chunk in response.content.iter_chunked(1 << 16):
        raw_size += len(chunk)
        if raw_size > max_bytes:
            raise FetchTooLarge()
        while chunk:
            if decoder is None:
                piece, chunk = chunk, b""
            else:  # max_length bounds each step, so a bomb never expands in memory past the limit
                piece = decoder.decompress(chunk, max_bytes - size + 1)
                chunk = decoder.unconsumed_tail
            size += len(piece)
            if size > max_bytes:
                raise FetchTooLarge()
            chunks.append(piece)
    if decoder is not None:
        chunks.append(decoder.flush())
    return b"".join(chunks)


async def fetch_url(url: str, *, allowed_hosts: Sequence[str], max_bytes: int, timeout: float) -> bytes:
    """Return the body at `url`, fetched under the rules in this module's docstring.

    Raises FetchRefused (not allowed), FetchFailed (HTTP error status), FetchTooLarge, TimeoutError or
    aiohttp.ClientError (the host could not be reached or the connection broke).
    """
    allow = allowed_hosts if isinstance(allowed_hosts, AllowList) else AllowList.of(allowed_hosts)
    resolver = _PublicOnlyResolver(allow)
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    config = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 15.0))
    headers = {"Accept-Encoding": "gzip, deflate"}
    async with aiohttp.ClientSession(connector=connector, timeout=config, auto_decompress=False) as session:
        for _ in range(MAX_REDIRECTS + 1):
            allow.check(url)
            host = urlsplit(url).hostname or ""
            if _ip(host) is not None and not allow.private_ok(host) and not is_public(host):
                raise FetchRefused("a non-public address")  # aiohttp does not resolve IP literals
            try:
                async with session.get(url, allow_redirects=False, headers=headers) as response:
                    if response.status in REDIRECTS and response.headers.get("Location"):
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status >= 300:
                        raise FetchFailed(response.status)
                    return await _read_bounded(response, max_bytes)
            except aiohttp.ClientError:
                if resolver.refused:
                    raise FetchRefused(resolver.refused) from None
                raise
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")
