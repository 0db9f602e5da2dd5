"""Transaction gossip: what this node sends (transactions submitted here, batched) and what it
takes from its peers (their batches pooled, and the useless ones charged to the sender).

Outgoing, a batch goes out when it is full or after a short wait, so that a burst of submissions
costs a few messages rather than one each.

Incoming, each transaction of a batch is refused on its hash if it is pooled, banned or was in a
recent best block, else checked cheapest first with the signature last (`PoolUpkeep.admit`), and
banned for a while if it is invalid. An honest relay sends only what its own pool took, so what it
sends is admissible here, or already pooled, or (often: blocks overtake transaction batches in the
network's queues) already in a block this node imported first; none of that is charged. It may
still send a few that are invalid here (paid for from a balance our best state no longer has, or
stale after a replacement), so a batch is charged by how many of its transactions were refused,
lightly, and a little more if none of it was admissible; the network's scores decay, so an
occasional one is forgotten. A relay whose pool has room may also send what a full pool here
refuses as below its floor: a few of those per batch are free, the rest are charged as refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chain.core.actions import Action, Gossip, ReportPeer, SetTimer
from chain.core.boundary import GOSSIP_TIMER
from chain.core.messages import (
    MAX_TX_BATCH,
    TOPIC_TRANSACTIONS,
    TX_BATCH_BYTES,
    encode_transactions,
)
from chain.core.pool import (
    AccountLimitReached,
    FeesExceedBalance,
    PoolError,
    PoolFull,
    ReplacementUnderpriced,
    TransactionBanned,
)
from chain.core.pool_upkeep import PoolUpkeep
from runtime.executive import BadSignature, InvalidTransaction
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256

TX_GOSSIP_DELAY_MS: Final = 100
"""Transactions submitted here wait this long to be gossiped together in one batch."""

COST_BAD_TRANSACTION: Final = 50
"""A transaction no honest node relays (it does not decode, or its signature does not match):
the batch is refused at once and its sender charged this."""
COST_USELESS_BATCH: Final = 2
"""A batch of which nothing was admissible (something refused, nothing pooled): on top of the
per-transaction charge. With the network's 60 s half-life and ban at -100, a peer that keeps
sending more than one such batch every 1.7 s is banned in time; below that it may go on."""
REFUSED_PER_POINT: Final = 100
"""Each this many refused transactions in a batch cost its sender a point: invalid, banned, or a
replacement or an account's transaction the pool would not take (rare from honest relays; those
cost the cheap checks each time, never a signature), and those a full pool refused beyond
FULL_POOL_ALLOWANCE. Already pooled or recently included are not charged.

A peer flooding 4,000 unpayable transactions a batch is banned by its third batch; a relay with a
few stale ones pays 2 at most (those a recent best block holds are free). Within it an attacker
may still mix up to 99 refused transactions with one admissible one per batch uncharged: each
admissible one is a new validly signed transaction of a funded account, which its signer paid to
make as much as the node pays to check it, and the refused ones cost the cheap checks once and
then a hash lookup (or the cheap checks each time, for those the pool would not take)."""


FULL_POOL_ALLOWANCE: Final = 100
"""Transactions of one batch that a full pool may refuse as below its floor without charge.

A relay with room in its pool relays what this node's full pool does not want (the pools' floors
differ while the network is busy); beyond this many in one batch they count as refused. Each
refusal costs the node the cheap checks and an O(log n) look at the pool's floor, never a
signature, so a peer flooding 4,000 such transactions a batch pays 41 points a batch and is
banned by its third; below the allowance it costs the node at most 100 cheap checks a batch,
and the network's rate limits bound the batches."""


class TransactionOutbox:
    """The transactions submitted here that are not gossiped yet."""

    def __init__(self) -> None:
        self._outbox: list[bytes] = []
        self._outbox_bytes = 0
        self._armed = False

    def add(self, raw: bytes, now_ms: int) -> list[Action]:
        """Queue a transaction: send the batch if it is full, else make sure the timer is set."""
        self._outbox.append(raw)
        self._outbox_bytes += len(raw)
        if self._outbox_bytes >= TX_BATCH_BYTES or len(self._outbox) >= MAX_TX_BATCH:
            return self.flush()
        if not self._armed:
            self._armed = True
            return [SetTimer(GOSSIP_TIMER, now_ms + TX_GOSSIP_DELAY_MS)]
        return []

    def on_timer(self) -> list[Action]:
        """The gossip timer fired: send what is queued."""
        self._armed = False
        return self.flush()

    def flush(self) -> list[Action]:
        """Gossip the queued transactions as one batch, if any."""
        if not self._outbox:
            return []
        batch, self._outbox, self._outbox_bytes = self._outbox, [], 0
        return [Gossip(TOPIC_TRANSACTIONS, encode_transactions(batch))]


@dataclass(frozen=True, slots=True)
class BatchTaken:
    """What became of a peer's batch of transactions."""

    admitted: int
    """Transactions newly pooled: if any, the batch is worth relaying."""
    bad: bool
    """It held a transaction no honest node relays: the batch is refused."""
    actions: list[Action]
    """Transactions the pooled ones pushed out, and the sender's charge if any."""


def take_batch(
    upkeep: PoolUpkeep, peer: str, extrinsics: Sequence[bytes], now_ms: int
) -> BatchTaken:
    """Pool what is admissible of `peer`'s batch, and charge the peer for what was refused."""
    actions: list[Action] = []
    admitted = refused = full = 0
    pool = upkeep.pool
    for raw in extrinsics:
        tx_hash = blake2b_256(raw)
        if pool.was_included(tx_hash, now_ms):
            continue  # the relay raced the block that holds it: not its doing
        try:
            _tx, dropped = upkeep.admit(raw, now_ms, tx_hash=tx_hash)
        except DecodeError as exc:
            actions.append(ReportPeer(peer, COST_BAD_TRANSACTION, f"a transaction: {exc}"))
            return BatchTaken(admitted, True, actions)
        except BadSignature:
            actions.append(
                ReportPeer(peer, COST_BAD_TRANSACTION, "a transaction with a bad signature")
            )
            return BatchTaken(admitted, True, actions)
        except (
            InvalidTransaction,
            TransactionBanned,
            ReplacementUnderpriced,
            AccountLimitReached,
            FeesExceedBalance,
        ):
            refused += 1
            continue
        except PoolFull:
            full += 1
            continue
        except PoolError:
            continue  # already pooled: not the sender's doing
        admitted += 1
        actions.extend(dropped)
    refused += max(0, full - FULL_POOL_ALLOWANCE)
    cost = refused // REFUSED_PER_POINT
    if refused and not admitted:
        cost += COST_USELESS_BATCH
    if cost:
        actions.append(
            ReportPeer(
                peer,
                cost,
                f"{refused} of {len(extrinsics)} transactions refused, {admitted} admissible",
            )
        )
    return BatchTaken(admitted, False, actions)
