"""What the nodes of one simulated network share so that the world runs fast: block execution
and signature checks.

Every node of a `SimNetwork` runs the same deterministic runtime on the same blocks, so what one
node computed is what every other would:
- `SignatureCache` is a `SignatureVerifier` that remembers each (public key, message, signature)
  triple's result, the most recent `SIGNATURE_CACHE_ENTRIES` of them;
- `ExecutionCache` is a `BlockExecutor` that remembers what executing a block on its parent's
  state gave (the changes and their trie commit, or the rule it broke), keyed by the block's hash
  and the parent's state root, the most recent `EXECUTION_CACHE_ENTRIES` of them. Each node still
  makes every check before execution itself (known, parent, finality, number, Aura header against
  its own clock) and commits the shared changes into its own store.
Keyed by everything the answer depends on, a cached answer is the one the node would have
computed, so a run is the same with or without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from chain.core.boundary import ChainStoreReads
from chain.core.importer import BlockRejected, ExecutedBlock, execute_and_commit
from runtime.block import Block, Header
from runtime.executive import PendingSignatures, SignatureVerifier
from runtime.primitives.keys import verify

SIGNATURE_CACHE_ENTRIES: Final = 8_192
"""The most signature results remembered (the oldest are forgotten first): bounds the memory a
long run spends on them (about 250 bytes an entry). Every node checks a vote or a transaction
within seconds of the first, so this is tens of seconds of signatures even with 64 validators
(16 validators at 20 transfers a second hit as often as with 200,000 entries)."""

EXECUTION_CACHE_ENTRIES: Final = 256
"""The most block executions remembered (the oldest are forgotten first): every node imports a
block within seconds of the first, so a few minutes of blocks are enough; a node that syncs
older blocks executes them itself."""

Triple = tuple[bytes, bytes, bytes]


class SignatureCache:
    """A signature verifier that checks each (key, message, signature) triple once."""

    def __init__(self, entries: int = SIGNATURE_CACHE_ENTRIES) -> None:
        self._entries = entries
        self._known: dict[Triple, bool] = {}
        self.hits = 0
        self.misses = 0

    def check(self, public: bytes, message: bytes, signature: bytes) -> bool:
        """`verify`'s answer for the triple, remembered."""
        triple = (public, message, signature)
        known = self._known.get(triple)
        if known is not None:
            self.hits += 1
            return known
        self.misses += 1
        ok = verify(public, message, signature)
        if len(self._known) >= self._entries:
            del self._known[next(iter(self._known))]
        self._known[triple] = ok
        return ok

    def submit(self, items: Sequence[Triple]) -> PendingSignatures:
        """Nothing is checked until the results are asked for (as `InlineVerifier`)."""
        return _CachedSignatures(self, items)


class _CachedSignatures:
    """A block's triples, checked through the cache when the results are asked for."""

    def __init__(self, cache: SignatureCache, items: Sequence[Triple]) -> None:
        self._cache = cache
        self._items = items

    def __call__(self) -> list[bool]:
        check = self._cache.check
        return [check(pk, msg, sig) for pk, msg, sig in self._items]

    def cancel(self) -> None:
        """Nothing was started: forget the triples."""
        self._items = ()


class ExecutionCache:
    """A block executor that executes each block once per parent state and shares the outcome."""

    def __init__(self, entries: int = EXECUTION_CACHE_ENTRIES) -> None:
        self._entries = entries
        self._known: dict[tuple[bytes, bytes], ExecutedBlock | BlockRejected] = {}
        self.hits = 0
        self.misses = 0

    def __call__(
        self,
        store: ChainStoreReads,
        parent: Header,
        block: Block,
        *,
        verifier: SignatureVerifier | None,
        cache: dict[bytes, Any] | None,
    ) -> ExecutedBlock:
        """`execute_and_commit`'s outcome for the block on `parent`'s state: the one computed
        before, or computed now and remembered (a refusal is raised again, as the same rule)."""
        key = (block.hash, parent.state_root)
        known = self._known.get(key)
        if known is None:
            self.misses += 1
            try:
                known = execute_and_commit(store, parent, block, verifier=verifier, cache=cache)
            except BlockRejected as exc:
                known = exc
            if len(self._known) >= self._entries:
                del self._known[next(iter(self._known))]
            self._known[key] = known
        else:
            self.hits += 1
        if isinstance(known, BlockRejected):
            raise type(known)(str(known))
        return known


class SharedExecution:
    """What the nodes of one network share: block executions and signature checks."""

    def __init__(self) -> None:
        self.executions = ExecutionCache()
        self.signatures = SignatureCache()


__all__ = [
    "EXECUTION_CACHE_ENTRIES",
    "SIGNATURE_CACHE_ENTRIES",
    "ExecutionCache",
    "SharedExecution",
    "SignatureCache",
]
