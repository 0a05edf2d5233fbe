"""What the app may believe about the client of a request: its address, whether it came over
HTTPS, and the origin it reached us at.

Behind a reverse proxy the socket's peer is the proxy, so the client's address and scheme are in
X-Forwarded-For / X-Forwarded-Proto / X-Forwarded-Host. Those headers are only believed when
`web.trust_proxy` is on: anyone reaching the bot directly could otherwise send them and pick the
address the rate limit counts against. We take the LAST X-Forwarded-For entry, the one the proxy
in front of us appended (what it saw as the peer); earlier entries are the client's own claims.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web
from yarl import URL

from bot.config import WebSettings

DEFAULT_PORTS = {"http": 80, "https": 443}


def _last(value: str | None) -> str:
    """The last comma-separated item of a header (the one our proxy added), stripped."""
    return (value or "").rsplit(",", 1)[-1].strip()


def client_address(request: web.Request, settings: WebSettings) -> str:
    """The key the per-address rate limit counts against: an IPv4 address, an IPv6 /64 (one
    subscriber usually holds a whole /64), or the peer as given when it is not an IP address."""
    raw = request.remote or ""
    if settings.trust_proxy:
        raw = _last(request.headers.get("X-Forwarded-For")) or raw
    try:
        ip = ipaddress.ip_address(raw.strip("[]"))
    except ValueError:
        return raw[:100] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def scheme(request: web.Request, settings: WebSettings) -> str:
    """ "https" when users reach us over HTTPS (the setting, TLS on our socket, or the trusted
    proxy says so), else the socket's scheme."""
    if settings.https or request.scheme == "https":
        return "https"
    if settings.trust_proxy and _last(request.headers.get("X-Forwarded-Proto")).lower() == "https":
        return "https"
    return request.scheme


def is_https(request: web.Request, settings: WebSettings) -> bool:
    return scheme(request, settings) == "https"


def _authority(url_scheme: str, host: str) -> str | None:
    """`host[:port]` lowercased, the default port for `url_scheme` left out; None if unusable."""
    try:
        url = URL.build(scheme=url_scheme, authority=host)
    except (ValueError, TypeError):
        return None
    if not url.host:
        return None
    port = url.port
    hostname = url.host.lower()
    if ":" in hostname:
        hostname = f"[{hostname}]"
    if port is None or port == DEFAULT_PORTS.get(url_scheme):
        return hostname
    return f"{hostname}:{port}"


def own_origin(request: web.Request, settings: WebSettings) -> str | None:
    """This site's origin as the browser sees it: scheme://host[:port]."""
    host = request.headers.get("Host") or request.host
    if settings.trust_proxy:
        host = _last(request.headers.get("X-Forwarded-Host")) or host
    url_scheme = scheme(request, settings)
    authority = _authority(url_scheme, host)
    return None if authority is None else f"{url_scheme}://{authority}"


def normalise_origin(origin: str) -> str | None:
    """An Origin header as scheme://host[:port] (default port left out); None for `null`, a
    path, credentials or anything that is not an http(s) origin."""
    try:
        url = URL(origin)
    except (ValueError, TypeError):
        return None
    if (
        url.scheme not in DEFAULT_PORTS
        or not url.raw_host
        or url.raw_user is not None
        or url.raw_password is not None
        or url.raw_path not in ("", "/")
        or url.raw_query_string
        or url.raw_fragment
    ):
        return None
    authority = _authority(url.scheme, url.raw_authority)
    return None if authority is None else f"{url.scheme}://{authority}"
