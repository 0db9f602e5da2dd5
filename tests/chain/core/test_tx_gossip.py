"""Peers' batches of transactions: what is admissible is pooled and the batch relayed; a flood of
validly signed transactions that cannot pay their fee costs the node one cheap check each, once,
and no signature check, and costs its sender until the network bans it; an honest relay that
raced a block is not charged, and a few stale transactions cost little. Bans cover every
transaction found invalid (a fee it cannot pay included) but do not keep a retracted block's
transactions out; a nonce further ahead than an account may pool is refused before the signature
too.

The charges are fed to the network's own peer scores (`p2p.scoring`, with the node's defaults) to
see what they come to over time.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from chain.core import pool_upkeep
from chain.core.actions import Action, ReportPeer
from chain.core.messages import TOPIC_TRANSACTIONS, encode_transactions
from chain.core.pool import PoolError
from chain.core.tx_gossip import COST_USELESS_BATCH
from chain.core.voter_messages import Verdict
from p2p.config import NetworkConfig
from p2p.scoring import PeerScores
from runtime import executive
from runtime.primitives.keys import Keypair, dev_keypair

ALICE, BOB, DAVE = (dev_keypair(n) for n in ("Alice", "Bob", "Dave"))
XPL = 10**12
FLOOD = 4_000


def charges(actions: Sequence[Action], peer: str) -> list[int]:
    return [a.cost for a in actions if isinstance(a, ReportPeer) and a.peer == peer]


def scores() -> PeerScores:
    """Peer scores as the node's network keeps them by default."""
    return PeerScores(
        ban_score=NetworkConfig.ban_score,
        ban_seconds=NetworkConfig.ban_seconds,
        half_life=NetworkConfig.score_half_life,
    )


def counted(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[bytes]:
    """Replace `module.name` by a wrapper that records each call's first argument."""
    calls: list[bytes] = []
    real = getattr(module, name)

    def wrapper(first, *args, **kwargs):
        calls.append(first)
        return real(first, *args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


@pytest.fixture(scope="module")
def unpayable(dev, h) -> list[bytes]:
    """FLOOD validly signed transfers, each from its own account that holds nothing."""
    g = dev.genesis_header.hash
    return [
        h.transfer(
            Keypair.from_seed(b"unfunded" + i.to_bytes(24, "big")),
            ALICE.public,
            XPL,
            nonce=0,
            genesis_hash=g,
        ).raw
        for i in range(FLOOD)
    ]


def test_a_reshuffled_flood_of_unpayable_transactions_costs_no_signature_check(
    dev, unpayable, monkeypatch
):
    core = dev.node()
    signatures = counted(monkeypatch, executive, "verify")
    cheap_checks = counted(monkeypatch, pool_upkeep, "validate_transaction")
    batch = list(unpayable)
    rng = random.Random(5)
    network = scores()
    banned_after = None
    counts = []
    for n in range(1, 5):
        rng.shuffle(batch)  # a new message each time: the network's duplicate filter passes it
        now = dev.at(10) + n * 1_000
        verdict, actions = core.on_gossip(
            "flooder", TOPIC_TRANSACTIONS, encode_transactions(batch), now
        )
        assert verdict is Verdict.IGNORE  # nothing to relay
        counts.append((len(signatures), len(cheap_checks)))
        for cost in charges(actions, "flooder"):
            if network.penalize("flooder", cost, now / 1000) and banned_after is None:
                banned_after = n
    # One cheap check each, in the first round only; never a signature.
    assert counts == [(0, FLOOD)] * 4
    assert len(core.pool) == 0
    assert banned_after is not None and banned_after <= 3


def test_a_reshuffled_flood_of_underpriced_replacements_costs_no_signature_check(
    dev, h, monkeypatch
):
    core = dev.node()
    g = core.genesis_hash
    pooled = h.transfer(BOB, DAVE.public, XPL, nonce=0, genesis_hash=g, tip=5)
    core.submit_transaction(pooled.raw, dev.at(10))
    # Bob's nonce 0 again, as many ways as the flood, none with a higher tip.
    batch = [
        h.transfer(BOB, DAVE.public, XPL + i, nonce=0, genesis_hash=g, tip=5).raw
        for i in range(1, FLOOD + 1)
    ]
    signatures = counted(monkeypatch, executive, "verify")
    rng = random.Random(6)
    network = scores()
    banned_after = None
    for n in range(1, 4):
        rng.shuffle(batch)
        now = dev.at(10) + n * 1_000
        verdict, actions = core.on_gossip(
            "flooder", TOPIC_TRANSACTIONS, encode_transactions(batch), now
        )
        assert verdict is Verdict.IGNORE
        for cost in charges(actions, "flooder"):
            if network.penalize("flooder", cost, now / 1000) and banned_after is None:
                banned_after = n
    assert signatures == []
    assert core.pool.get(pooled.hash) == pooled and len(core.pool) == 1
    assert banned_after == 3


def test_a_relay_that_raced_a_block_is_not_charged_and_a_few_stale_cost_little(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    g = core.genesis_hash
    txs = [h.transfer(BOB, DAVE.public, XPL, nonce=n, genesis_hash=g) for n in range(5)]
    for tx in txs:
        core.submit_transaction(tx.raw, dev.at(10))
    block = h.authored(core.on_timer("slot", dev.at(11)))
    assert block is not None and len(core.pool) == 0
    # The same five, relayed by a peer that had not seen the block yet: nobody's fault.
    raced = encode_transactions([tx.raw for tx in txs])
    verdict, actions = core.on_gossip("relay", TOPIC_TRANSACTIONS, raced, dev.at(11) + 10)
    assert verdict is Verdict.IGNORE and charges(actions, "relay") == []
    # Five others with the used nonces (say, replaced by the ones included): a little.
    others = [h.transfer(BOB, DAVE.public, 2 * XPL, nonce=n, genesis_hash=g) for n in range(5)]
    stale = encode_transactions([tx.raw for tx in others])
    verdict, actions = core.on_gossip("relay", TOPIC_TRANSACTIONS, stale, dev.at(11) + 20)
    assert verdict is Verdict.IGNORE
    assert charges(actions, "relay") == [COST_USELESS_BATCH]
    # With one good transaction among them the batch is relayed, and nobody is charged.
    fresh = h.transfer(BOB, DAVE.public, XPL, nonce=5, genesis_hash=g)
    mixed = encode_transactions([*[tx.raw for tx in others], fresh.raw])
    verdict, actions = core.on_gossip("relay", TOPIC_TRANSACTIONS, mixed, dev.at(11) + 30)
    assert verdict is Verdict.ACCEPT and fresh.hash in core.pool
    assert charges(actions, "relay") == []
    # A stale batch every three seconds for ten minutes does not get a relay banned.
    network = scores()
    assert not any(
        network.penalize("relay", COST_USELESS_BATCH, float(t)) for t in range(0, 600, 3)
    )


def test_a_submission_that_cannot_pay_is_banned_for_a_while(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    pauper = Keypair.from_seed(b"pauper".ljust(32, b"\0"))
    tx = h.transfer(pauper, ALICE.public, XPL, nonce=0, genesis_hash=core.genesis_hash)
    refusals = []
    for _ in range(2):
        with pytest.raises((executive.InvalidTransaction, PoolError)) as refused:
            core.submit_transaction(tx.raw, dev.at(10))
        refusals.append(refused.value.kind)
    assert refusals == ["payment", "banned"]
    assert core.pool.is_banned(tx.hash, dev.at(10) + core.pool.ban_ms - 1)
    assert not core.pool.is_banned(tx.hash, dev.at(10) + core.pool.ban_ms)


def test_a_ban_does_not_keep_a_retracted_blocks_transaction_out_of_the_pool(local, h):
    chain = local(2)
    alice, bob, observer = chain.node(ALICE), chain.node(BOB), chain.node(None)
    tx = h.transfer(BOB, DAVE.public, XPL, nonce=0, genesis_hash=chain.genesis_header.hash)
    alice.submit_transaction(tx.raw, chain.at(10))

    def authored(core, slot):
        header = h.authored(core.on_timer("slot", chain.at(slot)))
        assert header is not None
        return core.store.block(header.hash)

    a1 = authored(alice, 10)
    assert a1.extrinsics == (tx.raw,)
    observer.import_block(a1, chain.at(10))
    # Submitted here once #1 is best: stale, so banned.
    with pytest.raises(executive.StaleNonce):
        observer.submit_transaction(tx.raw, chain.at(10) + 10)
    assert observer.pool.is_banned(tx.hash, chain.at(10) + 10)
    # Bob's longer fork without it retracts #1: the transaction is valid again, and pooled.
    b1, b2 = authored(bob, 11), authored(bob, 13)
    observer.import_block(b1, chain.at(13))
    observer.import_block(b2, chain.at(13))
    assert observer.best_header == b2.header
    assert observer.pool.is_ready(tx.hash)
    assert not observer.pool.is_banned(tx.hash, chain.at(13))


def test_a_nonce_further_ahead_than_an_account_may_pool_is_refused(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    g = core.genesis_hash
    furthest = core.pool.max_per_account - 1
    waiting = h.transfer(BOB, DAVE.public, XPL, nonce=furthest, genesis_hash=g)
    core.submit_transaction(waiting.raw, dev.at(10))
    assert waiting.hash in core.pool and not core.pool.is_ready(waiting.hash)
    beyond = h.transfer(BOB, DAVE.public, XPL, nonce=furthest + 1, genesis_hash=g)
    with pytest.raises(executive.FutureNonce):
        core.submit_transaction(beyond.raw, dev.at(10))
