"""Who may talk to the RPC server: browser origins (CORS), Host names (DNS rebinding), and
whether unsafe methods are served (`--rpc-cors`, `--rpc-allowed-hosts`, `--rpc-methods`).

A web page the node's owner visits can make the browser send requests to 127.0.0.1. The browser
says which page asks (the Origin header), so requests and WebSocket handshakes from an origin not
allowed by `--rpc-cors` are refused with 403 (by default only pages served from localhost). A page
can also make its own domain name resolve to 127.0.0.1 (DNS rebinding), and then it is not
cross-origin at all; its requests carry that domain as their Host, so a Host that is not
localhost, an IP address, or a name allowed by `--rpc-allowed-hosts` is refused with 403.

What a stranger can still do within these checks: anything a program that is not a browser can
do (it sends what headers it likes), which is what the transport's limits and the safe methods
bound; a page served from localhost (or an allowed origin) has the node's full trust.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LOCALHOST_ORIGINS = (
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
)
"""The origins `--rpc-cors` allows by default: pages served from this machine (any port)."""

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""Host names always allowed (besides IP addresses): they cannot be rebound."""

METHOD_POLICIES = ("auto", "safe", "unsafe")
"""`--rpc-methods`: auto serves unsafe methods only on a loopback address."""


class AccessError(ValueError):
    """A bad `--rpc-cors`, `--rpc-allowed-hosts` or `--rpc-methods` value."""


@dataclass(frozen=True)
class RpcAccess:
    """Which browser origins, Host names and methods the server accepts."""

    cors: tuple[str, ...] | None = LOCALHOST_ORIGINS
    """Allowed origins (`scheme://host:*` allows any port); None allows every origin."""
    allowed_hosts: tuple[str, ...] | None = ()
    """Host names allowed besides localhost and IP addresses; None allows every Host."""
    methods: str = "auto"
    """auto, safe or unsafe (`METHOD_POLICIES`)."""

    def __post_init__(self) -> None:
        if self.methods not in METHOD_POLICIES:
            raise AccessError(f"--rpc-methods must be one of {', '.join(METHOD_POLICIES)}")

    def serves_unsafe(self, listen_host: str) -> bool:
        """Whether unsafe methods are served by a server listening on `listen_host`."""
        if self.methods == "auto":
            return is_loopback(listen_host)
        return self.methods == "unsafe"

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a request with this Origin header (None: not from a browser) is served."""
        if origin is None or self.cors is None:
            return True
        origin = origin.lower()
        for allowed in self.cors:
            if allowed.endswith(":*"):
                base = allowed[:-2]
                if origin == base or (
                    origin.startswith(base + ":") and origin[len(base) + 1 :].isdigit()
                ):
                    return True
            elif origin == allowed:
                return True
        return False

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request with this Host header is served (None: no header, not a browser)."""
        if host is None or self.allowed_hosts is None:
            return True
        name = _host_name(host.lower())
        if name is None:
            return False
        if name in LOCAL_HOSTS or name in self.allowed_hosts:
            return True
        try:
            ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
        except ValueError:
            return False
        return True


def _host_name(host: str) -> str | None:
    """The name part of a Host header ("name", "name:port", "[v6]" or "[v6]:port")."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        name, rest = host[: end + 1], host[end + 1 :]
    else:
        name, _, port = host.partition(":")
        rest = ":" + port if _ else ""
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return name or None


def is_loopback(listen_host: str) -> bool:
    """Whether a listen address reaches only this machine."""
    if listen_host == "localhost":
        return True
    try:
        return ipaddress.ip_address(listen_host).is_loopback
    except ValueError:
        return False


def parse_cors(text: str) -> tuple[str, ...] | None:
    """`--rpc-cors`: "all", or a comma-separated list of origins (None: all)."""
    text = text.strip()
    if text == "all":
        return None
    origins = tuple(o.strip().lower().rstrip("/") for o in text.split(",") if o.strip())
    for origin in origins:
        scheme, sep, rest = origin.partition("://")
        if origin != "null" and (not sep or not scheme.isalpha() or not rest or "/" in rest):
            raise AccessError(
                f"--rpc-cors: {origin!r} is not an origin (scheme://host[:port], or host:*)"
            )
    return origins


def parse_allowed_hosts(text: str) -> tuple[str, ...] | None:
    """`--rpc-allowed-hosts`: "all", or a comma-separated list of host names (None: all)."""
    text = text.strip()
    if text == "all":
        return None
    hosts = tuple(h.strip().lower() for h in text.split(",") if h.strip())
    for host in hosts:
        if ":" in host or "/" in host or " " in host:
            raise AccessError(f"--rpc-allowed-hosts: {host!r} is not a host name (no port)")
    return hosts
