"""How much of the RPC server one client address, and all clients together, may hold.

`RpcLimits` are the transport's limits (each default a named constant below, each set by an
`xpl node --rpc-...` flag); `ConnectionTable` decides which connection to admit, refuse or close
to make room; `RateLimiter` is a token bucket per client address.

What a stranger can still do within them, and why it does not lock others out:

- Open connections that send nothing, or a request's headers or body slowly: each is closed when
  its header or body deadline passes, and while it lasts it counts against its address's limit.
  When the server is full, a new connection closes the least recently active idle connection of
  the address that holds the most, so an attacker's connections make room for a newcomer first
  and an attacker that keeps opening connections only replaces its own.
- Hold WebSockets open that answer pings: one without a subscription is closed after the idle
  timeout, and any of them is closed first when the server is full. One with subscriptions stays,
  within the per-address limits on connections and subscriptions: it pays for its
  notifications' bandwidth, not the node.
- Keep a connection busy with a call that never ends: once it has been busy longer than the
  body timeout, a newcomer holding no connection may replace it, ending the call.
- Spread over many addresses (a botnet): the limits per address do not bind, and connections are
  replaced least recently active first; the server then serves whoever keeps using a connection.
  No limit of one process stops a large botnet; a firewall or proxy in front of the node does.
- Send as many calls as the rate limit allows: they cost the node what the same calls from
  honest clients cost, and every other address has its own bucket. Requests that are not calls
  (parse errors, 404s, oversized batches) and bodies' JSON structure are charged too, before
  any parsing: a second's tokens (1,000 at the default) buy about 256,000 punctuation
  characters, some 50 ms of parsing on the event loop; a request over the limit waits at most
  MAX_RATE_WAIT_S for its tokens, its connection not counted busy meanwhile, so it can still
  be replaced.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import resource
from dataclasses import dataclass, field

logger = logging.getLogger("xpl.rpc")

OPEN_FILES_WANTED = 65536
"""The soft open-file limit asked for when the hard limit is unlimited."""

DEFAULT_MAX_CONNECTIONS = 100
"""Open connections in all (Substrate's `--rpc-max-connections` default)."""

DEFAULT_MAX_CONNECTIONS_PER_IP = 20
"""Open connections from one address: a user's tools need a few; behind a proxy on the same
machine every client shares the proxy's address, so raise it there."""

DEFAULT_RATE_LIMIT_PER_MINUTE = 60_000
"""Tokens one address may spend per minute: one per HTTP request or WebSocket message whatever
its outcome, one per call of a batch (charged up front), one per STRUCTURE_PER_TOKEN of a
body's JSON punctuation (charged before it is parsed). A burst of
one second's worth (at least 1) is served at once; a request a little over it waits for its
tokens (up to MAX_RATE_WAIT_S, its connection not counted busy meanwhile), beyond that it is
refused."""

MAX_RATE_WAIT_S = 1.0
"""How long a request over the rate limit may wait for its tokens before it is refused: a
client that keeps to the rate is paced rather than refused. A connection waiting is not busy,
so it can be replaced to make room."""

ACCEPTS_PER_SECOND = 50
"""Connections one address may open a second (a burst of as many, or of its whole
`max_connections_per_ip` if more, at once), whatever the rate
limit: accepting costs a socket and a task, and a loop of connect-and-close would otherwise
keep the accept loop busy. A client that keeps its connections open never meets it."""

STRUCTURE_PER_TOKEN = 256
"""JSON punctuation characters (`[`, `{`, `,`, `:`) of a body charged as one token before it
is parsed: parsing costs the event loop about its number of values, not its bytes, and a blob
upload (long hex strings) has few. 256 nested empty arrays parse in about 0.2 ms."""

MAX_REQUEST_STRUCTURE = 262_144
"""JSON punctuation characters one request may hold (a body with more is refused before it is
parsed): about 50 ms of parsing at worst; a full batch of 1,024 calls has a few thousand."""

DEFAULT_HEADER_TIMEOUT_S = 10.0
"""Seconds a connection has to send a request's headers (or a WebSocket handshake), counted from
its opening or from the previous answer (keep-alive)."""

DEFAULT_BODY_TIMEOUT_S = 30.0
"""Seconds to receive a request body once its headers are in, and to send an answer."""

DEFAULT_WS_IDLE_TIMEOUT_S = 300.0
"""Seconds a WebSocket without subscriptions may go without a call before it is closed."""

DEFAULT_WS_PING_INTERVAL_S = 30.0
"""Seconds between the server's pings on a WebSocket; one from which nothing (not even a pong)
arrives for two intervals is closed as unresponsive."""

RATE_BUCKETS_KEPT = 4096
"""Addresses whose buckets are kept; beyond it, full (idle) buckets are forgotten."""


IPV6_PREFIX_BITS = 64
"""IPv6 clients are counted by their /64 network: one host is given a whole /64, and would
otherwise have 2^64 addresses to spread its connections over."""


def client_key(host: str) -> str:
    """The address a client's connections and calls are counted under (its IPv6 /64 network)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX_BITS}", strict=False))
    return str(ip)


@dataclass(frozen=True)
class RpcLimits:
    """The transport's limits on connections, their pace and their lifetime."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connections_per_ip: int = DEFAULT_MAX_CONNECTIONS_PER_IP
    rate_limit_per_minute: int | None = DEFAULT_RATE_LIMIT_PER_MINUTE
    """None: no rate limit."""
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    ws_idle_timeout_s: float = DEFAULT_WS_IDLE_TIMEOUT_S
    ws_ping_interval_s: float = DEFAULT_WS_PING_INTERVAL_S

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_connections_per_ip"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.rate_limit_per_minute is not None and self.rate_limit_per_minute < 1:
            raise ValueError("the rate limit must be at least 1 call per minute")
        for name in ("header_timeout_s", "body_timeout_s", "ws_idle_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value}")
        if not (math.isfinite(self.ws_ping_interval_s) and self.ws_ping_interval_s > 0):
            raise ValueError("ws_ping_interval_s must be a positive number of seconds")


@dataclass
class Tracked:
    """A connection as the table sees it: its address, when it was last active, whether busy."""

    address: str
    opened: float
    last_active: float
    busy: int = 0
    """Calls being answered: a busy connection is closed to make room only once it has been
    busy longer than the body timeout (see `ConnectionTable.admission`)."""
    busy_since: float = 0.0
    """When its current call began (meaningful while busy)."""


@dataclass
class Admission:
    """What to do with a new connection: admit it (closing `evict` first, if any) or refuse it."""

    admit: bool
    evict: Tracked | None = None
    reason: str = ""


@dataclass
class ConnectionTable:
    """The open connections by address, and the choice of which to close to admit another."""

    max_connections: int
    max_per_address: int
    _by_address: dict[str, list[Tracked]] = field(default_factory=dict)
    _count: int = 0

    def __len__(self) -> int:
        return self._count

    def count(self, address: str) -> int:
        """Open connections from `address`."""
        return len(self._by_address.get(address, ()))

    def admission(
        self, address: str, now: float = 0.0, busy_limit_s: float = math.inf
    ) -> Admission:
        """Whether a new connection from `address` is admitted, and which one it replaces.

        At its address's limit it replaces that address's least recently active idle connection;
        with the server full, the least recently active idle connection of the address holding
        the most, or, all of those busy, its connection busy longest if that is longer than
        `busy_limit_s` (its call is aborted: an address cannot keep the server full with calls
        that never end). Refused when the one it would replace is busy, and not for that long.
        """
        if self.count(address) >= self.max_per_address:
            victim = _least_active_idle(self._by_address.get(address, []))
            if victim is None:
                return Admission(False, reason=f"{self.max_per_address} connections from {address}")
            return Admission(True, victim)
        if self._count < self.max_connections:
            return Admission(True)
        most = max(len(held) for held in self._by_address.values())
        crowded = [c for held in self._by_address.values() if len(held) == most for c in held]
        victim = _least_active_idle(crowded)
        if victim is None and address not in self._by_address:
            # A newcomer holding none may end the longest-busy call of the most crowded address.
            longest = min(crowded, key=lambda c: c.busy_since)
            if now - longest.busy_since > busy_limit_s:
                victim = longest
        if victim is None:
            return Admission(False, reason=f"the limit is {self.max_connections}")
        return Admission(True, victim)

    def add(self, connection: Tracked) -> None:
        """Count an admitted connection."""
        self._by_address.setdefault(connection.address, []).append(connection)
        self._count += 1

    def remove(self, connection: Tracked) -> None:
        """Stop counting a closed connection (a no-op if it is not counted)."""
        held = self._by_address.get(connection.address)
        if held is None or not any(c is connection for c in held):
            return
        held[:] = [c for c in held if c is not connection]
        self._count -= 1
        if not held:
            del self._by_address[connection.address]


def _least_active_idle(candidates: list[Tracked]) -> Tracked | None:
    idle = [c for c in candidates if c.busy == 0]
    return min(idle, key=lambda c: (c.last_active, c.opened)) if idle else None


class RateLimiter:
    """A token bucket per address: `per_minute` calls a minute, bursts up to `burst`."""

    def __init__(self, per_minute: int, burst: int) -> None:
        if per_minute < 1 or burst < 1:
            raise ValueError("the rate and the burst must be at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def reserve(self, address: str, tokens: int, now: float) -> float | None:
        """Take `tokens` from `address`'s bucket: seconds to wait before they are due, or None
        (nothing taken) when that exceeds MAX_RATE_WAIT_S or `tokens` exceeds the burst."""
        held, at = self._buckets.get(address, (self.burst, now))
        held = min(self.burst, held + (now - at) * self.rate)
        wait = max(0.0, (tokens - held) / self.rate)
        if tokens > self.burst or wait > MAX_RATE_WAIT_S:
            self._remember(address, held, now)
            return None
        self._remember(address, held - tokens, now)
        return wait

    def take(self, address: str, tokens: int, now: float) -> bool:
        """Take `tokens` from `address`'s bucket; False (nothing taken) if it holds fewer."""
        held, at = self._buckets.get(address, (self.burst, now))
        held = min(self.burst, held + (now - at) * self.rate)
        if tokens > held:
            self._remember(address, held, now)
            return False
        self._remember(address, held - tokens, now)
        return True

    def _remember(self, address: str, tokens: float, now: float) -> None:
        self._buckets[address] = (tokens, now)
        if len(self._buckets) > RATE_BUCKETS_KEPT:
            # Forget buckets that are full by now: forgetting one gives nothing back.
            self._buckets = {
                a: (t, at)
                for a, (t, at) in self._buckets.items()
                if t + (now - at) * self.rate < self.burst
            }
        if len(self._buckets) > 2 * RATE_BUCKETS_KEPT:
            self._buckets.clear()  # memory stays bounded; a fresh bucket holds one burst


def raise_open_file_limit() -> None:
    """Raise the process's soft limit on open files to its hard limit (logged), so that the
    RPC server's connections cannot starve the database and the network of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, OPEN_FILES_WANTED)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (ValueError, OSError):
                return
            logger.info("raised the open-file limit from %d to %d", soft, target)
