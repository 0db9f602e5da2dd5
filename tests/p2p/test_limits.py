"""Scores, bans, rate limits, the outgoing queue and the configuration checks, without a network."""

from __future__ import annotations

import pytest
import trio

from p2p.config import NetworkConfig, NetworkConfigError, RequestLimits, TopicLimits
from p2p.outbox import Outbox, OutgoingFrame
from p2p.rate_limit import TokenBucket, TopicRate
from p2p.scoring import PeerScores
from tests.p2p.nodes import TOPICS, config, seed

pytestmark = pytest.mark.timeout(30)


def test_scores_decay_ban_at_the_threshold_and_a_served_ban_wipes_the_slate() -> None:
    scores = PeerScores(ban_score=-100, ban_seconds=10, half_life=60)
    assert not scores.penalize("p", 60, now=0)
    assert scores.score("p", 60) == pytest.approx(-30)  # one half-life later
    assert not scores.penalize("p", 60, now=60)
    assert scores.penalize("p", 20, now=60)  # -110: banned now
    assert scores.is_banned("p", 65) and not scores.penalize("p", 50, now=66)  # not twice
    assert not scores.is_banned("p", 71)
    assert scores.score("p", 71) == 0
    assert scores.score("stranger", 0) == 0


def test_a_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=10, capacity=20, now=0)
    assert bucket.take(20, 0) and not bucket.take(1, 0)
    assert bucket.delay(5, 0) == pytest.approx(0.5)
    assert bucket.take(5, 0.5) and not bucket.take(1, 0.5)
    assert bucket.take(20, 100) and not bucket.take(21, 200)


def test_a_topic_rate_counts_messages_and_bytes() -> None:
    rate = TopicRate(TopicLimits(1000, 10, 2000), now=0)  # bursts: 20 messages, 4000 bytes
    assert all(rate.admit(100, 0) for _ in range(20))
    assert not rate.admit(1, 0)
    bytes_bound = TopicRate(TopicLimits(1000, 10, 2000), now=0)
    assert all(bytes_bound.admit(1000, 0) for _ in range(4))
    assert not bytes_bound.admit(1000, 0)
    assert bytes_bound.admit(1000, 0.5)


def test_the_outbox_paces_each_topic_and_lets_other_topics_pass() -> None:
    async def main() -> None:
        topics = {"blocks": TopicLimits(1000, 1, 1000), "votes": TOPICS["votes"]}
        outbox = Outbox(topics, max_bytes=10_000, peer_has=lambda message: message == b"had")
        assert outbox.push(OutgoingFrame("blocks", b"b1")) and outbox.push(
            OutgoingFrame("blocks", b"b2")
        )
        assert outbox.push(OutgoingFrame("votes", b"v1", b"had"))  # skipped: the peer has it
        assert outbox.push(OutgoingFrame("votes", b"v2"))
        first = await outbox.next_batch(65536)
        assert [f.data for f in first] == [b"b1", b"v2"]  # b2 waits for the block pace
        assert outbox.skipped == 1
        started = trio.current_time()
        second = await outbox.next_batch(65536)
        assert [f.data for f in second] == [b"b2"]
        assert trio.current_time() - started > 0.5
        assert not outbox.push(OutgoingFrame("blocks", b"x" * 10_001))  # over the byte budget
        assert outbox.queued_bytes == 0

    trio.run(main)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"node_key": b"short"}, "node_key"),
        ({"protocol_prefix": "xpl/abc"}, "protocol_prefix"),
        ({"protocol_prefix": "/xpl/abc/"}, "protocol_prefix"),
        ({"topics": {}}, "at least one"),
        ({"topics": {"Blocks!": TOPICS["blocks"]}}, "topic"),
        ({"topics": {"blocks": TopicLimits(0, 1, 1)}}, "max_message_bytes"),
        ({"request_protocols": {"notifications/1": RequestLimits(1, 1)}}, "reserved"),
        ({"request_protocols": {"sync": RequestLimits(1, 1, timeout=0)}}, "timeout"),
        ({"listen_host": "localhost"}, "IP address"),
        ({"port": 70000}, "port"),
        ({"bootnodes": ("/ip4/127.0.0.1/tcp/1",)}, "bootnode|peer address"),
        ({"bootnodes": ("not an address",)}, "peer address"),
        ({"ban_score": 5}, "ban_score"),
        ({"reconnect_min_delay": 2, "reconnect_max_delay": 1}, "reconnect"),
        ({"max_peers_per_ip": 0}, "max_peers_per_ip"),
        ({"max_pending_per_ip": 0}, "max_pending_per_ip"),
        ({"handshake_timeout": 0}, "handshake_timeout"),
        ({"unlimited_networks": ("the office",)}, "unlimited_networks"),
    ],
)
def test_bad_configurations_are_refused_with_the_field_named(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(NetworkConfigError, match=message):
        config(0, **overrides)


def test_bootnode_addresses_are_parsed() -> None:
    peer_id = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"
    cfg = config(0, bootnodes=(f"/ip4/127.0.0.1/tcp/4000/p2p/{peer_id}",))
    ((peer, address),) = cfg.bootnode_addresses()
    assert peer == peer_id and str(address) == "/ip4/127.0.0.1/tcp/4000"
    assert cfg.protocol_id("sync") == "/xpl/0123456789abcdef/sync"
    minimal = NetworkConfig(node_key=seed(0), protocol_prefix="/x", topics=TOPICS)
    assert minimal.request_protocols == {} and minimal.port == 30333


def test_the_per_ip_limits_spare_loopback_by_default_and_reserved_peers_include_bootnodes() -> None:
    peer = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"
    cfg = config(0, bootnodes=(f"/ip4/127.0.0.1/tcp/4000/p2p/{peer}",), reserved_peers=("v",))
    assert not cfg.is_per_ip_limited("127.0.0.1") and not cfg.is_per_ip_limited("::1")
    assert cfg.is_per_ip_limited("203.0.113.7") and cfg.is_per_ip_limited("")
    assert config(0, unlimited_networks=()).is_per_ip_limited("127.0.0.1")
    assert cfg.reserved_peer_ids == {peer, "v"}
    # twice the 4 gossip streams and 2 sync requests an honest peer opens, and 8 more
    assert cfg.max_inbound_streams == 2 * (4 + 2) + 8


def test_a_peer_list_never_overtakes_the_gossip_queued_before_it() -> None:
    async def main() -> None:
        topics = {"blocks": TopicLimits(1000, 1, 1000), "votes": TOPICS["votes"]}
        outbox = Outbox(topics, max_bytes=10_000, peer_has=lambda message: False)
        outbox.push(OutgoingFrame("blocks", b"b1"))
        outbox.push(OutgoingFrame("blocks", b"b2"))
        outbox.push_in_order(OutgoingFrame("", b"peers", counted=False))
        outbox.push_control(OutgoingFrame("votes", b"have", counted=False))
        first = await outbox.next_batch(65536)
        assert [f.data for f in first] == [b"have", b"b1"]
        second = await outbox.next_batch(65536)
        assert [f.data for f in second] == [b"b2", b"peers"]
        assert outbox.queued_frames == 0

    trio.run(main)
