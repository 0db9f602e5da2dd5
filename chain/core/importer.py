"""The rules a block must follow to be imported, and the sealing of a block this node authors.

    verify_and_execute(store, block, now_ms=...)    checks, in order, and writes nothing:
        known?            a block already stored is not imported twice (AlreadyKnown)
        parent            must be stored (UnknownParent otherwise: sync may fetch it)
        finality          a block at or below the finalized height conflicts with finality
        number            one more than its parent's
        header            Aura: slot after the parent's, not in the future, right author (not
                          disabled for an offence), seal
        execute           runtime.executive.execute_block on the parent's state (signatures
                          submitted there)                                (execute_and_commit)
        trie commit       of the block's changes, while workers may still check signatures
        signatures        every one valid (waited for here)
        state root        the trie root after the block's changes must equal the header's

    seal_block(store, parent, result, extrinsics, slot=..., author=...)
                          the author's side: the same trie commit, then a header sealed by the
                          author

Both return an ExecutedBlock; storing it (one atomic write: header, body, state changes, best
pointer) is the node core's step after this one (`chain.core.chain_updates`). A block that breaks
a rule raises BlockRejected, or the subclass that says what is missing. `consensus_params` is
what both read of the parent's state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chain.core import aura
from chain.core.boundary import ChainStoreReads
from runtime.block import Block, Digest, Header, extrinsics_root
from runtime.executive import (
    BlockResult,
    CheckedAhead,
    InvalidBlock,
    SignatureVerifier,
    execute_block_pending,
    require_signatures,
)
from runtime.pallets import session
from runtime.primitives.keys import Keypair
from runtime.primitives.trie import TrieCommit
from runtime.state import StateOverlay
from runtime.transaction import DecodedTransactions


class BlockRejected(Exception):
    """A block this node will not import; the message says which rule it breaks."""


class UnknownParent(BlockRejected):
    """The block's parent is not known here (yet): sync may fetch it."""


class AlreadyKnown(BlockRejected):
    """The block is already stored."""


class ConflictsWithFinality(BlockRejected):
    """The block is at or below the finalized height."""


class BadBlockNumber(BlockRejected):
    """The block's number is not its parent's plus one."""


class BadHeader(BlockRejected):
    """The header breaks Aura's rules: slot, author or seal (aura.BadSeal is the cause)."""


class ExecutionFailed(BlockRejected):
    """The runtime refuses the block (runtime.executive.InvalidBlock is the cause)."""


class StateRootMismatch(BlockRejected):
    """The state after executing the block is not the one its header commits to."""


class BadJustification(BlockRejected):
    """A finality justification that does not prove the block final."""


@dataclass(frozen=True, slots=True)
class ExecutedBlock:
    """A block ready to persist: its execution result and the trie commit of its changes."""

    block: Block
    result: BlockResult
    commit: TrieCommit


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """What consensus reads from a parent's state to check (or author) its child."""

    authorities: session.AuthoritySet
    disabled: tuple[bytes, ...]
    slot_duration_ms: int


def consensus_params(store: ChainStoreReads, parent_hash: bytes) -> ConsensusParams:
    """The authority set, disabled authorities and slot duration for a child of `parent_hash`."""
    state = StateOverlay(store.reader(parent_hash))
    return ConsensusParams(
        session.authority_set(state), session.Disabled.get(state), session.SlotDurationMs.get(state)
    )


class BlockExecutor(Protocol):
    """Runs `execute_and_commit` for a block whose header passed the checks, or gives what it
    would give (a simulator's nodes share one execution of each block on each parent state)."""

    def __call__(
        self,
        store: ChainStoreReads,
        parent: Header,
        block: Block,
        *,
        verifier: SignatureVerifier | None,
        cache: dict[bytes, Any] | None,
    ) -> ExecutedBlock: ...


def verify_and_execute(
    store: ChainStoreReads,
    block: Block,
    *,
    now_ms: int,
    verifier: SignatureVerifier | None = None,
    cache: dict[bytes, Any] | None = None,
    executor: BlockExecutor | None = None,
    decoded: DecodedTransactions | None = None,
    ahead: CheckedAhead | None = None,
    after_submit: Callable[[], None] | None = None,
) -> ExecutedBlock:
    """Check every rule a block must follow; nothing is written.

    `decoded`: the transactions the pool decoded, which the block's need not be again; `ahead`,
    its checks submitted before, and `after_submit`, called once its checks are submitted (see
    `execute_block_pending`): all three used when the block is executed here (`executor` None).
    """
    header = block.header
    if store.header(header.hash) is not None:
        raise AlreadyKnown(f"block #{header.number} is already known")
    parent = store.header(header.parent_hash)
    if parent is None:
        raise UnknownParent(f"the parent of block #{header.number} is unknown")
    finalized = store.finalized_header
    if header.number <= finalized.number:
        raise ConflictsWithFinality(f"block #{header.number} conflicts with the finalized chain")
    if header.number != parent.number + 1:
        raise BadBlockNumber("the block number does not follow its parent's")
    params = consensus_params(store, parent.hash)
    try:
        aura.check_header(
            header,
            parent,
            params.authorities.keys,
            params.slot_duration_ms,
            now_ms,
            disabled=params.disabled,
        )
    except aura.BadSeal as exc:
        raise BadHeader(str(exc)) from exc
    if executor is None:
        return execute_and_commit(
            store,
            parent,
            block,
            verifier=verifier,
            cache=cache,
            decoded=decoded,
            ahead=ahead,
            after_submit=after_submit,
        )
    return executor(store, parent, block, verifier=verifier, cache=cache)


def execute_and_commit(
    store: ChainStoreReads,
    parent: Header,
    block: Block,
    *,
    verifier: SignatureVerifier | None,
    cache: dict[bytes, Any] | None,
    decoded: DecodedTransactions | None = None,
    ahead: CheckedAhead | None = None,
    after_submit: Callable[[], None] | None = None,
) -> ExecutedBlock:
    """Execute the block on its parent's state and check the state root its header commits to.

    The trie commit of the changes is made while the signature checks may still run in the
    verification workers; their results are waited for after it, and before the state root is
    compared, so that the block is refused for the same reason as if they had come first.
    """
    header = block.header
    try:
        result, signatures = execute_block_pending(
            store.reader(parent.hash),
            parent,
            block,
            genesis_hash=store.genesis_hash,
            verifier=verifier,
            cache=cache,
            decoded=decoded,
            ahead=ahead,
            after_submit=after_submit,
        )
    except InvalidBlock as exc:
        raise ExecutionFailed(str(exc)) from exc
    try:
        commit = store.commit_state(parent.state_root, result.changes)
    except BaseException:
        signatures.cancel()
        raise
    try:
        require_signatures(signatures)
    except InvalidBlock as exc:
        raise ExecutionFailed(str(exc)) from exc
    if commit.root != header.state_root:
        raise StateRootMismatch("the state root does not match the state after execution")
    return ExecutedBlock(block, result, commit)


def seal_block(
    store: ChainStoreReads,
    parent: Header,
    result: BlockResult,
    extrinsics: Sequence[bytes],
    *,
    slot: int,
    author: Keypair,
) -> ExecutedBlock:
    """The author's side: commit the built block's changes and seal its header."""
    commit = store.commit_state(parent.state_root, result.changes)
    ctx = result.context
    header = Header(
        parent_hash=parent.hash,
        number=parent.number + 1,
        state_root=commit.root,
        extrinsics_root=extrinsics_root(extrinsics),
        timestamp=ctx.timestamp,
        digest=Digest(
            slot=slot,
            author=author.public,
            seal=b"",
            vrf_output=ctx.vrf_output,
            vrf_proof=ctx.vrf_proof,
        ),
    ).sealed_by(author)
    return ExecutedBlock(Block(header, tuple(extrinsics)), result, commit)
