"""Following the node's head: a new-heads subscription where the node offers one, else polling."""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

from chain.client.chain import XplClient
from chain.client.rpc import ClientSubscription, RpcClientError

log = logging.getLogger("xpl.worker")

HEAD_WAIT_S: Final = 0.5
"""How often a wait for the next head looks at whether the worker should stop."""
IDLE_STEP_S: Final = 5.0
"""A step runs at least this often, new head or not."""
POLL_S: Final = 1.0
"""Polling interval where the node offers no head subscription."""


class HeadFollower:
    """The node's best block number as it moves: a new-heads subscription, else polling."""

    def __init__(self, client: XplClient) -> None:
        self._client = client
        self._subscription: ClientSubscription | None = None
        self._last = -1
        try:
            self._subscription = client.rpc.subscribe(
                "chain_subscribeNewHeads", [], "chain_unsubscribeNewHeads"
            )
        except RpcClientError as exc:
            log.info("the node offers no head subscription (%s); polling every %.0f s", exc, POLL_S)

    def wait(self, stop: threading.Event) -> int | None:
        """The best block number once there is a new one (or IDLE_STEP_S passed); None on stop.

        Raises RpcConnectionError when the node goes away.
        """
        deadline = time.monotonic() + IDLE_STEP_S
        while not stop.is_set():
            if self._subscription is None:
                number = self._client.best_number()
                if number != self._last or time.monotonic() > deadline:
                    self._last = number
                    return number
                stop.wait(POLL_S)
                continue
            try:
                header = self._subscription.next(timeout=HEAD_WAIT_S)
            except TimeoutError:
                if time.monotonic() > deadline:
                    return self._client.best_number()
                continue
            # Heads that queued up during a long step: only the newest matters.
            while True:
                try:
                    header = self._subscription.next(timeout=0)
                except TimeoutError:
                    break
            self._last = int(header["number"], 16)
            return self._last
        return None

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
