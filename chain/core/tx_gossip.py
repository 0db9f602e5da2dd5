"""Transactions submitted here, gossiped together: a batch goes out when it is full or after a
short wait, so that a burst of submissions costs a few messages rather than one each."""

from __future__ import annotations

from typing import Final

from chain.core.actions import Action, Gossip, SetTimer
from chain.core.boundary import GOSSIP_TIMER
from chain.core.messages import (
    MAX_TX_BATCH,
    TOPIC_TRANSACTIONS,
    TX_BATCH_BYTES,
    encode_transactions,
)

TX_GOSSIP_DELAY_MS: Final = 100
"""Transactions submitted here wait this long to be gossiped together in one batch."""


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
