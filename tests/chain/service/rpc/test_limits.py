"""The bookkeeping of the transport's limits, by property: which connection is admitted, refused
or closed to make room, and how many calls a token bucket lets through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.service.rpc.limits import (
    ConnectionTable,
    RateLimiter,
    RpcLimits,
    Tracked,
    client_key,
)

# An event: a connection from address a (0..3) opens, the connection at index i closes, or the
# connection at index i starts or finishes answering a call.
events = st.lists(
    st.one_of(
        st.tuples(st.just("open"), st.integers(0, 3)),
        st.tuples(st.just("close"), st.integers(0, 50)),
        st.tuples(st.just("busy"), st.integers(0, 50)),
        st.tuples(st.just("idle"), st.integers(0, 50)),
    ),
    max_size=80,
)


@given(events, st.integers(1, 6), st.integers(1, 4))
def test_the_table_keeps_its_limits_and_never_closes_a_busy_connection(
    script: list[tuple[str, int]], max_connections: int, max_per_address: int
) -> None:
    table = ConnectionTable(max_connections, max_per_address)
    held: list[Tracked] = []
    for now, (kind, value) in enumerate(script):
        if kind == "open":
            address = f"10.0.0.{value}"
            admission = table.admission(address)
            if admission.evict is not None:
                assert admission.evict.busy == 0
                table.remove(admission.evict)
                held.remove(admission.evict)
            if admission.admit:
                connection = Tracked(address, now, now)
                table.add(connection)
                held.append(connection)
            else:
                # Refused only when what it would replace is busy.
                crowded = [c for c in held if c.address == address]
                if len(crowded) < max_per_address:
                    most = max(sum(1 for c in held if c.address == h.address) for h in held)
                    crowded = [
                        c for c in held if sum(1 for d in held if d.address == c.address) == most
                    ]
                assert all(c.busy for c in crowded)
        elif held:
            connection = held[value % len(held)]
            if kind == "close":
                table.remove(connection)
                held.remove(connection)
            else:
                connection.busy = 1 if kind == "busy" else 0
                connection.last_active = now
        assert len(table) == len(held) <= max_connections
        for connection in held:
            assert table.count(connection.address) <= max_per_address


@given(
    st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=200),
    st.integers(1, 600),
    st.integers(1, 20),
)
def test_a_bucket_lets_through_no_more_than_its_burst_and_rate(
    gaps: list[float], per_minute: int, burst: int
) -> None:
    limiter = RateLimiter(per_minute, burst)
    now = 0.0
    served = 0
    for gap in gaps:
        now += gap
        if limiter.take("a", 1, now):
            served += 1
    assert served <= burst + now * per_minute / 60 + 1e-9
    # More than the burst at once is never served; another address is not affected.
    assert not limiter.take("b", burst + 1, now)
    assert limiter.take("b", burst, now)


def test_ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() -> None:
    assert (
        client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    )
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"


@pytest.mark.parametrize(
    "bad",
    [
        {"max_connections": 0},
        {"max_connections_per_ip": 0},
        {"rate_limit_per_minute": 0},
        {"header_timeout_s": 0},
        {"body_timeout_s": float("inf")},
        {"ws_ping_interval_s": -1},
    ],
    ids=str,
)
def test_limits_out_of_range_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RpcLimits(**bad)  # type: ignore[arg-type]
