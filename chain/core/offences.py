"""Offences: catching an author that sealed two blocks for one slot, reporting each offence on
chain once, and the node's own staking transactions (offence reports, votes noted on chain)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from chain.core.actions import Action
from chain.core.pool import PoolError
from chain.core.view import CoreView
from chain.storage.chain_store import ChainStoreError
from runtime.api import make_call
from runtime.block import Header
from runtime.consensus import SlotEquivocation, encode_equivocation
from runtime.executive import InvalidTransaction
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import Keypair
from runtime.transaction import Mortality, SignedTransaction, sign_transaction

log = logging.getLogger("xpl.core")

OWN_TX_MORTALITY: Final = 64
"""Blocks the node's own transactions (offence reports, noted votes) stay valid for."""
_SEEN_SLOTS: Final = 4_096
"""The most (slot, author) pairs remembered with the header sealed for them (the oldest are
forgotten first); each header is kept encoded (about 0.3 KB, a third of a decoded one)."""

Submit = Callable[[bytes, int], tuple[SignedTransaction, list[Action]]]
"""Submits a signed transaction as if it came from this node's user (pooled and gossiped)."""


class Offences:
    """Notes who sealed which slot, and signs and pools this node's own staking transactions."""

    def __init__(
        self,
        view: CoreView,
        authority: Keypair | None,
        *,
        submit: Submit,
        next_nonce: Callable[[bytes], int],
    ) -> None:
        self.view = view
        self.authority = authority
        self._submit = submit
        self._next_nonce = next_nonce
        self._seen_slots: dict[tuple[int, bytes], bytes] = {}
        self._offences: list[SlotEquivocation] = []
        self._reported: set[bytes] = set()

    def note_slot(self, header: Header) -> None:
        """Remember who sealed which slot, to catch an author sealing two blocks for one."""
        key = (header.digest.slot, header.digest.author)
        seen = self._seen_slots.get(key)
        if seen is None:
            if len(self._seen_slots) >= _SEEN_SLOTS:
                del self._seen_slots[next(iter(self._seen_slots))]
            self._seen_slots[key] = header.encode()
        elif seen != header.encode():
            self._offences.append(SlotEquivocation(Header.decode(seen), header))

    def note_slot_if_sealed(self, header: Header) -> None:
        """Note a refused block's slot too, if a current authority really sealed it."""
        if (
            header.digest.author
            in self.view.authority_set_after(self.view.store.finalized_hash).keys
            and header.seal_is_valid()
        ):
            self.note_slot(header)

    @property
    def pending(self) -> bool:
        """Whether offences were caught that are not reported yet."""
        return bool(self._offences)

    def report_pending(self, now_ms: int) -> list[Action]:
        """Report the offences caught since the last call, each once."""
        actions: list[Action] = []
        offences, self._offences = self._offences, []
        for proof in offences:
            log.warning(
                "authority 0x%s sealed two blocks for slot %d",
                proof.first.digest.author.hex()[:16],
                proof.slot,
            )
            if not self.sealed_its_own_slot(proof.first):
                log.info("not reporting it: slot %d was not its to seal", proof.slot)
                continue
            if self.first_report(proof.offence_key + proof.first.digest.author):
                actions.extend(
                    self.submit_own(now_ms, "report_equivocation", encode_equivocation(proof))
                )
        return actions

    def sealed_its_own_slot(self, header: Header) -> bool:
        """Whether the header's sealer was its slot's Aura author, in the set after its parent
        (the set that authors the parent's children; the finalized block's set if that state
        is not at hand). The runtime refuses a slot offence by anyone else, so reporting one
        would only cost this node the fee."""
        try:
            keys = self.view.authority_set_after(header.parent_hash).keys
        except ChainStoreError:
            keys = self.view.authority_set_after(self.view.store.finalized_hash).keys
        return bool(keys) and keys[header.digest.slot % len(keys)] == header.digest.author

    def first_report(self, key: bytes) -> bool:
        """Whether offence `key` is new here (each is reported once)."""
        if key in self._reported:
            return False
        self._reported.add(key)
        return True

    def submit_own(self, now_ms: int, name: str, *args: Any) -> list[Action]:
        """Sign `staking.<name>(args)` with the authority key and pool it, as this node's own."""
        if self.authority is None:
            return []
        finalized = self.view.finalized_header
        try:
            tx = sign_transaction(
                self.authority,
                make_call("staking", name, *args),
                nonce=self._next_nonce(self.authority.public),
                genesis_hash=self.view.genesis_hash,
                mortality=Mortality(OWN_TX_MORTALITY, finalized.number),
                birth_hash=finalized.hash,
            )
            _tx, actions = self._submit(tx.raw, now_ms)
        except (ValueError, DecodeError, InvalidTransaction, PoolError) as exc:
            log.warning("staking.%s could not be pooled: %s", name, exc)
            return []
        log.debug("pooled staking.%s in transaction 0x%s", name, tx.hash.hex())
        return actions
