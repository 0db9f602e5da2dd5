"""`xpl node`'s flags for its JSON-RPC server and metrics: where they listen, who may call the
RPC server, and its limits (`chain.service.rpc.limits`, `chain.service.rpc.access`)."""

from __future__ import annotations

import argparse
import logging
import math

from chain.cli.errors import CliError
from chain.service.rpc import limits as rpc_limits
from chain.service.rpc.access import (
    METHOD_POLICIES,
    AccessError,
    RpcAccess,
    parse_allowed_hosts,
    parse_cors,
)
from chain.service.rpc.limits import RpcLimits


def port_number(text: str) -> int:
    """A TCP port number (0: any free port)."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _rate(text: str) -> int:
    if text == "0":
        return 0
    return _count(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from exc
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def add_rpc_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the RPC server's flags: where it listens, who may call it, and its limits."""
    p = parser.add_argument_group(
        "RPC", "the JSON-RPC server (HTTP and WebSocket on one port; see README, Security)"
    )
    p.add_argument("--rpc-port", type=port_number, default=9944)
    p.add_argument(
        "--rpc-external",
        action="store_true",
        help="listen on all interfaces, not only 127.0.0.1 (then only safe methods are served "
        "unless --rpc-methods unsafe); put a firewall or proxy in front",
    )
    p.add_argument(
        "--rpc-methods",
        default="auto",
        choices=list(METHOD_POLICIES),
        help="serve unsafe methods (peers' addresses, test controls) too: auto serves them only "
        "when listening on 127.0.0.1",
    )
    p.add_argument(
        "--rpc-cors",
        default=None,
        metavar="ORIGINS",
        help="browser origins allowed to call the node: 'all', or a comma list "
        "(http://host:port, or http://host:* for any port); default: pages from localhost",
    )
    p.add_argument(
        "--rpc-allowed-hosts",
        default=None,
        metavar="HOSTS",
        help="Host names the node answers to besides localhost and IP addresses (against DNS "
        "rebinding): 'all', or a comma list of names",
    )
    limits = rpc_limits
    p.add_argument(
        "--rpc-max-connections",
        type=_count,
        default=limits.DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="open connections in all (default: %(default)s)",
    )
    p.add_argument(
        "--rpc-max-connections-per-ip",
        type=_count,
        default=limits.DEFAULT_MAX_CONNECTIONS_PER_IP,
        metavar="N",
        help="open connections from one address, IPv6 by /64 (default: %(default)s)",
    )
    p.add_argument(
        "--rpc-rate-limit",
        type=_rate,
        default=limits.DEFAULT_RATE_LIMIT_PER_MINUTE,
        metavar="CALLS",
        help="calls a minute from one address (each request and each call of a batch; a "
        "body's JSON values cost more), 0 for no limit (default: %(default)s)",
    )
    p.add_argument(
        "--rpc-header-timeout",
        type=_seconds,
        default=limits.DEFAULT_HEADER_TIMEOUT_S,
        metavar="S",
        help="seconds a client has to send a request's headers (default: %(default)s)",
    )
    p.add_argument(
        "--rpc-body-timeout",
        type=_seconds,
        default=limits.DEFAULT_BODY_TIMEOUT_S,
        metavar="S",
        help="seconds to receive a request body or send an answer (default: %(default)s)",
    )
    p.add_argument(
        "--rpc-ws-idle-timeout",
        type=_seconds,
        default=limits.DEFAULT_WS_IDLE_TIMEOUT_S,
        metavar="S",
        help="seconds a WebSocket without subscriptions may make no call (default: %(default)s)",
    )
    p.add_argument(
        "--rpc-ping-interval",
        type=_seconds,
        default=limits.DEFAULT_WS_PING_INTERVAL_S,
        metavar="S",
        help="seconds between WebSocket pings; silent for two is closed (default: %(default)s)",
    )


def rpc_settings(args: argparse.Namespace) -> tuple[RpcLimits, RpcAccess]:
    """The RPC server's limits and access rules from `add_rpc_arguments`' flags."""
    try:
        access = RpcAccess(
            cors=RpcAccess.cors if args.rpc_cors is None else parse_cors(args.rpc_cors),
            allowed_hosts=(
                RpcAccess.allowed_hosts
                if args.rpc_allowed_hosts is None
                else parse_allowed_hosts(args.rpc_allowed_hosts)
            ),
            methods=args.rpc_methods,
        )
    except AccessError as exc:
        raise CliError(str(exc)) from exc
    limits = RpcLimits(
        max_connections=args.rpc_max_connections,
        max_connections_per_ip=args.rpc_max_connections_per_ip,
        rate_limit_per_minute=args.rpc_rate_limit or None,
        header_timeout_s=args.rpc_header_timeout,
        body_timeout_s=args.rpc_body_timeout,
        ws_idle_timeout_s=args.rpc_ws_idle_timeout,
        ws_ping_interval_s=args.rpc_ping_interval,
    )
    return limits, access


def add_prometheus_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the metrics server's flags."""
    parser.add_argument("--prometheus-port", type=port_number, default=9615)
    parser.add_argument(
        "--prometheus-external",
        action="store_true",
        help="serve the metrics on all interfaces, not only 127.0.0.1",
    )
    parser.add_argument("--no-prometheus", action="store_true")


def warn_external(args: argparse.Namespace, access: RpcAccess) -> None:
    """Say loudly what listening on every interface exposes."""
    log = logging.getLogger("xpl.node")
    if args.rpc_external:
        served = "every method" if access.serves_unsafe("0.0.0.0") else "only safe methods"
        log.warning(
            "--rpc-external: the JSON-RPC server listens on all interfaces (port %d) and serves "
            "%s to anyone who can reach it; keep it behind a firewall or proxy",
            args.rpc_port,
            served,
        )
        if access.methods == "unsafe":
            log.warning("--rpc-methods unsafe: strangers can call the unsafe methods")
    if args.prometheus_external and not args.no_prometheus:
        log.warning(
            "--prometheus-external: the metrics are served on all interfaces (port %d)",
            args.prometheus_port,
        )
