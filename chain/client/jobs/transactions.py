"""The SDK's transactions: signed, submitted, followed into a block, and their events read."""

from __future__ import annotations

from typing import Any

from chain.client.chain import TxOutcome, XplClient
from chain.client.jobs.errors import JobClientError, TransactionRefused
from runtime.primitives.keys import Keypair
from runtime.transaction import Call


def include(client: XplClient, keypair: Keypair, call: Call, what: str) -> TxOutcome:
    """Sign, submit and wait for `call` to be in a block; TransactionRefused if it failed."""
    outcome = client.submit_and_watch(client.sign(keypair, call), until="inBlock")
    if not outcome.success:
        raise TransactionRefused(what, outcome.error or "unknown error")
    return outcome


def event_data(outcome: TxOutcome, pallet: str, name: str) -> dict[str, Any]:
    """The data of the transaction's first `pallet.name` event; JobClientError if it has none."""
    for event in outcome.events:
        if event["pallet"] == pallet and event["event"] == name:
            data: dict[str, Any] = event["data"]
            return data
    raise JobClientError(f"the transaction succeeded, but emitted no {pallet}.{name}")
