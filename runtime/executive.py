"""The state transition function: how a block and each transaction in it change the state.

Reading order, as a specification:

    execute_block(read, parent, block)
        check extrinsics root     the body is the one the header commits to; decode it
        initialize_block          the author's VRF proof on the chain randomness (`randomness`);
                                  hooks: chain randomness, block number, parent hash, recent hashes
                                  (their weight is mandatory: apart from the transactions')
        check signatures          started in parallel, or left for last (`SignatureVerifier`)
        apply_extrinsic × n       mortality, nonce, weight, fee, dispatch (reverted on failure),
                                  the fee of a duty that succeeded refunded; a plain transfer's
                                  same outcome in one step (`runtime.executive_transfers`)
        finalize_block            hooks: fee payout, fee multiplier, events
        signature results         a block refused before this cancels the checks not started
                                  (`execute_block_pending` leaves the wait to its caller)
        -> the block's state changes (the node commits them to the trie and checks the state root)

`validate_transaction` is what the transaction pool asks before it admits a transaction; the
checks are the same as `apply_extrinsic`'s, made against the best block's state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from runtime import dispatch
from runtime.block import Block, Header, extrinsics_root
from runtime.executive_errors import BadExtrinsicSignature as BadExtrinsicSignature
from runtime.executive_errors import BadMortality as BadMortality
from runtime.executive_errors import BadSignature as BadSignature
from runtime.executive_errors import BadVrfProof as BadVrfProof
from runtime.executive_errors import CannotPayFee as CannotPayFee
from runtime.executive_errors import ExhaustsResources as ExhaustsResources
from runtime.executive_errors import ExtrinsicsRootMismatch as ExtrinsicsRootMismatch
from runtime.executive_errors import FutureNonce as FutureNonce
from runtime.executive_errors import InvalidBlock as InvalidBlock
from runtime.executive_errors import InvalidCall as InvalidCall
from runtime.executive_errors import InvalidExtrinsic as InvalidExtrinsic
from runtime.executive_errors import InvalidTransaction as InvalidTransaction
from runtime.executive_errors import NonceExhausted as NonceExhausted
from runtime.executive_errors import StaleNonce as StaleNonce
from runtime.executive_errors import TransactionOutdated as TransactionOutdated
from runtime.executive_errors import TransactionTooBig as TransactionTooBig
from runtime.executive_errors import UndecodableExtrinsic as UndecodableExtrinsic
from runtime.executive_errors import WrongParent as WrongParent
from runtime.executive_transfers import FUSED_CALLS, apply_plain_transfer, transfer_args
from runtime.framework import BlockContext, CallDef, DispatchError, EventDef, Origin, Pallet
from runtime.pallets import randomness, system, transaction_payment
from runtime.pallets.balances import Balances
from runtime.pallets.bounties import BountiesPallet
from runtime.pallets.compute import Compute
from runtime.pallets.conviction_voting import ConvictionVoting
from runtime.pallets.grants import GrantsPallet
from runtime.pallets.market import Market
from runtime.pallets.models import ModelsPallet
from runtime.pallets.randomness import Randomness
from runtime.pallets.referenda import Referenda
from runtime.pallets.scheduler import Scheduler
from runtime.pallets.session import Session
from runtime.pallets.staking import Staking
from runtime.pallets.sudo import Sudo
from runtime.pallets.system import System
from runtime.pallets.transaction_payment import TransactionPayment
from runtime.pallets.treasury import Treasury
from runtime.primitives.codec import U32_MAX, DecodeError
from runtime.primitives.keys import Keypair, verify
from runtime.state import StateOverlay, StateReader
from runtime.transaction import (
    DecodedTransactions,
    SignedTransaction,
    decode_transactions,
    signing_messages,
)

PALLETS: Final[tuple[Pallet, ...]] = (
    System(),
    Randomness(),
    Session(),
    Balances(),
    TransactionPayment(),
    Staking(),
    ModelsPallet(),
    Market(),
    Compute(),
    Scheduler(),
    Referenda(),
    ConvictionVoting(),
    Sudo(),
    Treasury(),
    BountiesPallet(),
    GrantsPallet(),
)
"""The runtime's pallets, in hook order (randomness first of those that draw: market and compute
read the block's own chain randomness in their hooks)."""

CALLS: Final[dict[tuple[str, str], CallDef]] = {
    (p.NAME, name): c for p in PALLETS for name, c in p.calls().items()
}
dispatch.register(CALLS)
EVENTS: Final[dict[tuple[str, str], EventDef]] = {
    (e.pallet, e.name): e for p in PALLETS for e in p.EVENTS
}


@dataclass(frozen=True, slots=True)
class ValidTransaction:
    """What the pool needs to order a valid transaction."""

    signer: bytes
    nonce: int
    account_nonce: int
    priority: int
    """The fee per share of the block (`transaction_payment.priority`). A duty call, refunded
    once it succeeds, is charged up front as any other, so its priority follows its fee too."""
    fee: int
    weight: int
    longevity_until: int | None
    """The last block number that may include it (None: immortal)."""
    fee_budget: int
    """What the signer could pay in all when it was checked (`transaction_payment.fee_budget`:
    its free balance above the deposit, less what its locks freeze): the pool charges the fees
    and outflows of the signer's pooled transactions against it together."""
    outflow: int = 0
    """At most what the call moves out of the signer's free balance besides the fee (its
    `CallDef.outflow`; `transaction_payment.SPENDS_EVERYTHING` when the call cannot say)."""
    birth_hash: bytes = b""
    """The hash of the block it was born at on the chain it was checked against (the genesis
    hash if immortal; empty: not known). Its signature is over that hash, so it holds only on a
    chain with that block: a pool that checked it on one fork must not include it on another."""


class PendingSignatures(Protocol):
    """Signature checks submitted: call it for one result per item (waiting for them), or cancel
    the checks not started when the block is refused for a cheaper reason first."""

    def __call__(self) -> list[bool]: ...

    def cancel(self) -> None:
        """Give up on the results: checks not started are not made."""
        ...


class SignatureVerifier(Protocol):
    """Checks many (public key, message, signature) triples; may work in parallel."""

    def submit(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> PendingSignatures:
        """Start checking (or be ready to, when the results are asked for)."""
        ...


class DeferredSignatures:
    """Triples checked one after another in this process when the results are asked for, so
    that a block refused for a cheaper reason first (a fee it cannot pay) costs no check."""

    def __init__(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> None:
        self._items = items

    def __call__(self) -> list[bool]:
        return [verify(pk, msg, sig) for pk, msg, sig in self._items]

    def cancel(self) -> None:
        """Nothing was started: forget the triples."""
        self._items = ()


class InlineVerifier:
    """Checks signatures one after another in this process, last (see `DeferredSignatures`)."""

    def submit(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> PendingSignatures:
        """Nothing is checked until the results are asked for."""
        return DeferredSignatures(items)


CHECKED_SIGNATURES: Final = 65_536
"""The most signature checks a node remembers (about 13 MB): a few full pools' worth."""


class CheckedSignatures:
    """Signature checks this node made and found valid, keyed by the exact triple checked
    (public key ‖ 32-byte message ‖ signature), so that a block's transaction whose signature the
    pool checked on admission is not checked again when a block holding it is imported.

    Why a hit is as good as a check: Ed25519 verification is a pure function of the triple, and
    only triples that verified here are ever added. The message is the hash of the chain, the
    runtime version, the transaction's birth hash and its body, so a transaction with the same
    hash (the same bytes) born on another fork, or on a chain where its birth block differs, has
    another message, misses the cache and is checked. A peer can only fill the cache with
    signatures that are valid (it pays their checks on admission, as before); evicting entries
    costs us at most the checks we made without the cache. Bounded: the oldest quarter is dropped
    when it is full."""

    __slots__ = ("_keys", "max_entries")

    def __init__(self, max_entries: int = CHECKED_SIGNATURES) -> None:
        self.max_entries = max_entries
        self._keys: dict[bytes, None] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, public: bytes, message: bytes, signature: bytes) -> None:
        """Remember a triple that verified (the caller checked it just now)."""
        keys = self._keys
        if len(keys) >= self.max_entries:
            drop = max(1, self.max_entries // 4)
            for key in list(keys)[:drop]:
                del keys[key]
        keys[public + message + signature] = None

    def known(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        """For each (public key, message, signature), whether it verified here before."""
        keys = self._keys
        return [pk + msg + sig in keys for pk, msg, sig in items]

    def verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        """Check a signature, remembering it if it is valid."""
        if public + message + signature in self._keys:
            return True
        if not verify(public, message, signature):
            return False
        self.add(public, message, signature)
        return True


class _CheckedOrPending:
    """The results of a batch of which some items were known good: the rest come from `pending`."""

    def __init__(self, known: list[bool], pending: PendingSignatures) -> None:
        self._known = known
        self._pending = pending

    def __call__(self) -> list[bool]:
        rest = iter(self._pending())
        return [True if known else next(rest) for known in self._known]

    def cancel(self) -> None:
        """Cancel the checks of the items that were not known."""
        self._pending.cancel()


class SkipChecked:
    """A `SignatureVerifier` that leaves out the triples in `checked` (they verified here
    before: see `CheckedSignatures`) and hands the rest to `verifier` (None: in this process)."""

    def __init__(self, checked: CheckedSignatures, verifier: SignatureVerifier | None) -> None:
        self.checked = checked
        self.verifier = verifier or InlineVerifier()

    def submit(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> PendingSignatures:
        """Start checking the items not known good."""
        if not len(self.checked):
            return self.verifier.submit(items)
        known = self.checked.known(items)
        if not any(known):
            return self.verifier.submit(items)
        rest = [item for item, ok in zip(items, known, strict=True) if not ok]
        return _CheckedOrPending(known, self.verifier.submit(rest))


# Blocks


def initialize_block(
    read: StateReader,
    parent: Header,
    *,
    timestamp: int,
    slot: int,
    author: bytes,
    vrf_output: bytes,
    vrf_proof: bytes,
    genesis_hash: bytes,
    cache: dict[bytes, Any] | None = None,
) -> BlockContext:
    """Open a block on top of `parent`, check its author's VRF proof (BadVrfProof) and run every
    pallet's on_initialize.

    `cache` holds decoded values of the parent's state, if the caller keeps one (see StateOverlay).
    """
    ctx = _open_block(read, parent, timestamp, slot, author, genesis_hash, cache)
    ctx.vrf_output, ctx.vrf_proof = vrf_output, vrf_proof
    if not randomness.proof_is_valid(ctx):
        raise BadVrfProof("the VRF proof is not the author's on the chain randomness and slot")
    _on_initialize(ctx)
    return ctx


def _open_block(
    read: StateReader,
    parent: Header,
    timestamp: int,
    slot: int,
    author: bytes,
    genesis_hash: bytes,
    cache: dict[bytes, Any] | None,
) -> BlockContext:
    return BlockContext(
        state=StateOverlay(read, cache),
        number=parent.number + 1,
        parent_hash=parent.hash,
        timestamp=timestamp,
        author=author,
        genesis_hash=genesis_hash,
        slot=slot,
    )


def _on_initialize(ctx: BlockContext) -> None:
    for pallet in PALLETS:
        ctx.mandatory_weight += pallet.on_initialize(ctx)


def finalize_block(ctx: BlockContext) -> dict[bytes, bytes | None]:
    """Run every pallet's on_finalize, store the events, and return the encoded state changes."""
    ctx.phase = None
    for pallet in PALLETS:
        pallet.on_finalize(ctx)
    system.store_events(ctx)
    return ctx.state.changes()


def birth_hash(ctx: BlockContext, tx: SignedTransaction) -> bytes:
    """The hash of the block a transaction was born at, checking its mortality for this block."""
    mortality = tx.body.mortality
    if mortality.immortal:
        return ctx.genesis_hash
    if mortality.birth >= ctx.number:
        raise BadMortality("the transaction's birth block is not built yet")
    if mortality.expired_at(ctx.number):
        raise TransactionOutdated("the transaction's mortality period is over")
    if mortality.birth == ctx.number - 1:
        return ctx.parent_hash
    found = system.BlockHash.get(ctx.state, mortality.birth)
    if found is None:
        raise BadMortality("the transaction's birth block is unknown")
    return found


def lookup_call(tx: SignedTransaction) -> tuple[CallDef, tuple[object, ...]]:
    """The call's definition and its decoded arguments; InvalidCall if it is unknown or they do
    not decode."""
    call = tx.body.call
    name = (call.pallet, call.name)
    call_def = CALLS.get(name)
    if call_def is None:
        raise InvalidCall(f"unknown call {call.pallet}.{call.name}")
    if name in FUSED_CALLS:  # the common transfer, decoded in a few checks
        transfer = transfer_args(call.args)
        if transfer is not None:
            return call_def, transfer
    try:
        args = call_def.decode_args(call.args)
    except DecodeError as exc:
        raise InvalidCall(f"bad arguments: {exc}") from exc
    return call_def, args


def apply_extrinsic(
    ctx: BlockContext,
    index: int,
    tx: SignedTransaction,
    *,
    fused: bool = True,
    mortality_checked: bool = False,
) -> bool:
    """Apply one transaction whose signature was checked; returns True if its call succeeded.

    Raises InvalidTransaction (and changes nothing) if the transaction may not be in this block.
    A plain transfer takes the fused path (`executive_transfers`), which has the same outcome;
    `fused=False` takes the general path for every call. `mortality_checked`: its `birth_hash`
    was taken in this block already (as a block's import takes every one before it applies any:
    what it reads, the block number and the block hashes of on_initialize, no call changes).
    """
    call_def, args = lookup_call(tx)
    if not mortality_checked:
        birth_hash(ctx, tx)
    signer, body = tx.signer, tx.body
    tx_nonce, tip = body.nonce, body.tip
    # The signer's record, read once: the fused path below takes it as it is now.
    sender = system.account(ctx, signer)
    nonce = system.nonce_of(ctx, signer) if sender is None else sender.nonce
    if tx_nonce != nonce:
        refusal = StaleNonce if tx_nonce < nonce else FutureNonce
        raise refusal(f"nonce {tx_nonce}, but the account's next is {nonce}")
    if nonce >= U32_MAX:
        raise NonceExhausted(f"nonce {nonce} is the largest an account's nonce holds")
    length = len(tx.raw)
    weight = system.EXTRINSIC_BASE_WEIGHT + call_def.weight(args)
    # As Substrate's CheckWeight: the normal class within its share, and the whole block (the
    # hooks' mandatory weight included) within MAX_BLOCK_WEIGHT, which only hooks heavier than
    # the share kept for them (MAX_BLOCK_WEIGHT - MAX_NORMAL_WEIGHT) can bring to bear.
    if (
        ctx.weight_used + weight > system.MAX_NORMAL_WEIGHT
        or ctx.mandatory_weight + ctx.weight_used + weight > system.MAX_BLOCK_WEIGHT
        or ctx.length_used + length > system.MAX_NORMAL_LENGTH
    ):
        raise ExhaustsResources("the transaction does not fit the block")
    terms = transaction_payment.params_in(ctx.state)
    multiplier = transaction_payment.current_multiplier(ctx.state)
    fee = transaction_payment.compute_fee(multiplier, length, weight, tip, terms)
    if (
        fused
        and (call_def.pallet, call_def.name) in FUSED_CALLS
        and sender is not None
        and apply_plain_transfer(ctx, index, signer, sender, args, fee, tip, weight, length)
    ):
        return True
    ctx.phase = index
    paid_event = len(ctx.events)
    try:
        transaction_payment.withdraw_fee(ctx, signer, fee, tip)
    except DispatchError as exc:
        raise CannotPayFee(exc.reason()) from exc
    system.inc_nonce(ctx, signer)
    ctx.weight_used += weight
    ctx.length_used += length
    events_before = len(ctx.events)
    state = ctx.state
    state.begin()
    try:
        call_def.function(ctx, Origin(signer=signer), *args)
    except DispatchError as exc:
        state.rollback()
        del ctx.events[events_before:]
        ctx.deposit_event(system.ExtrinsicFailed, exc.pallet, exc.error_name(), weight)
        return False
    except BaseException:
        state.rollback()
        raise
    state.commit()
    if not call_def.pays:  # a duty done: free (a failed one paid in full above)
        transaction_payment.refund_fee(ctx, signer, fee, tip, paid_event)
    ctx.deposit_event(system.ExtrinsicSuccess, weight)
    return True


@dataclass(frozen=True, slots=True)
class BlockResult:
    """What executing a block produced: its state changes and the context it ran in."""

    changes: dict[bytes, bytes | None]
    context: BlockContext
    tx_hashes: tuple[bytes, ...]
    """The hashes of the block's extrinsics, in order."""


def execute_block(
    read: StateReader,
    parent: Header,
    block: Block,
    *,
    genesis_hash: bytes,
    verifier: SignatureVerifier | None = None,
    cache: dict[bytes, Any] | None = None,
    decoded: DecodedTransactions | None = None,
) -> BlockResult:
    """Execute a block on its parent's state; raise InvalidBlock if any rule is broken.

    `decoded` holds the transactions the node's pool decoded (see `DecodedTransactions`).
    """
    result, signatures = execute_block_pending(
        read,
        parent,
        block,
        genesis_hash=genesis_hash,
        verifier=verifier,
        cache=cache,
        decoded=decoded,
    )
    require_signatures(signatures)
    return result


def require_signatures(signatures: PendingSignatures) -> None:
    """Wait for a block's signature checks; BadExtrinsicSignature names the first that failed."""
    results = signatures()
    if not all(results):
        raise BadExtrinsicSignature(f"extrinsic {results.index(False)} has a bad signature")


@dataclass(frozen=True, slots=True)
class CheckedAhead:
    """A block's transactions decoded, and its signature checks submitted, before its import
    (while the block before it was imported: `chain.core.checks_ahead`). Its import uses them
    only where its body is exactly `extrinsics` and the triples it computes are exactly `items`
    (another birth hash gives another triple); otherwise the checks are cancelled and its own
    are submitted, so that what was done ahead can only save work, never decide anything."""

    extrinsics: tuple[bytes, ...]
    root: bytes
    """`extrinsics_root(extrinsics)`, computed when they were checked ahead."""
    txs: list[SignedTransaction]
    items: list[tuple[bytes, bytes, bytes]]
    pending: PendingSignatures
    births: list[bytes] | None = None
    """The birth hashes `items`' messages were computed with, over `genesis_hash` (None: not
    said). Where the import's own births are these, its messages are these (a message is a
    function of the genesis hash, the birth hash and the body alone): it takes `items` as they
    are rather than hashing every message again to compare them."""
    genesis_hash: bytes = b""


def execute_block_pending(
    read: StateReader,
    parent: Header,
    block: Block,
    *,
    genesis_hash: bytes,
    verifier: SignatureVerifier | None = None,
    cache: dict[bytes, Any] | None = None,
    decoded: DecodedTransactions | None = None,
    ahead: CheckedAhead | None = None,
    after_submit: Callable[[], None] | None = None,
) -> tuple[BlockResult, PendingSignatures]:
    """`execute_block` without the wait for its signature checks: the result holds only once
    `require_signatures` passed on the pending checks returned with it, and the caller must make
    that call, or cancel them, before it writes anything or returns. This lets the node commit the
    changes to the trie while verification workers are still checking (`execute_and_commit`).

    `ahead`: this block's checks submitted before (see `CheckedAhead`); cancelled if unused.
    `after_submit` is called once this block's checks are submitted (to submit the next block's
    behind them).
    """
    header = block.header
    if ahead is not None and ahead.extrinsics != block.extrinsics:
        ahead.pending.cancel()
        ahead = None
    try:
        if header.parent_hash != parent.hash or header.number != parent.number + 1:
            raise WrongParent("the block does not extend the given parent")
        # Computed ahead from these very bytes, or now: both are functions of the bytes alone.
        root = extrinsics_root(block.extrinsics) if ahead is None else ahead.root
        if root != header.extrinsics_root:
            raise ExtrinsicsRootMismatch("the extrinsics root does not match the body")
        if ahead is not None:
            txs = ahead.txs
        else:
            try:
                extrinsics = block.extrinsics
                txs = (
                    decode_transactions(extrinsics)
                    if decoded is None
                    else decoded.decode_all(extrinsics)
                )
            except DecodeError as exc:
                raise UndecodableExtrinsic(f"an extrinsic does not decode: {exc}") from exc
        ctx = initialize_block(
            read,
            parent,
            timestamp=header.timestamp,
            slot=header.digest.slot,
            author=header.digest.author,
            vrf_output=header.digest.vrf_output,
            vrf_proof=header.digest.vrf_proof,
            genesis_hash=genesis_hash,
            cache=cache,
        )
        try:
            # An immortal transaction's birth hash is the genesis hash (`birth_hash`'s first
            # case), taken here without the call: most of a block's transactions are.
            genesis = ctx.genesis_hash
            births = [
                genesis if tx.body.mortality.period == 0 else birth_hash(ctx, tx) for tx in txs
            ]
        except InvalidTransaction as exc:
            raise InvalidExtrinsic(f"an extrinsic is invalid: {exc}") from exc
        if ahead is not None and ahead.births == births and ahead.genesis_hash == genesis_hash:
            items = ahead.items  # the messages of these bodies over these births
        else:
            bodies = [tx.body_bytes for tx in txs]
            messages = signing_messages(genesis_hash, zip(births, bodies, strict=True))
            items = [(tx.signer, m, tx.signature) for tx, m in zip(txs, messages, strict=True)]
    except BaseException:
        if ahead is not None:
            ahead.pending.cancel()
        raise
    if ahead is not None and (items is ahead.items or ahead.items == items):
        signatures = ahead.pending
    else:
        if ahead is not None:
            ahead.pending.cancel()
        signatures = (verifier or InlineVerifier()).submit(items)
    try:
        if after_submit is not None:
            after_submit()
        for index, tx in enumerate(txs):
            try:
                apply_extrinsic(ctx, index, tx, mortality_checked=True)
            except InvalidTransaction as exc:
                raise InvalidExtrinsic(f"extrinsic {index} is invalid: {exc}") from exc
        changes = finalize_block(ctx)
    except BaseException:
        signatures.cancel()
        raise
    return BlockResult(changes, ctx, tuple([tx.hash for tx in txs])), signatures


class BlockBuilder:
    """Builds a block from transactions one at a time, as the author does: its VRF output and
    proof (in `context`, for the header) are the author's on the chain randomness and `slot`."""

    def __init__(
        self,
        read: StateReader,
        parent: Header,
        *,
        timestamp: int,
        slot: int,
        author: Keypair,
        genesis_hash: bytes,
        cache: dict[bytes, Any] | None = None,
    ) -> None:
        ctx = _open_block(read, parent, timestamp, slot, author.public, genesis_hash, cache)
        randomness.prove_block(ctx, author)
        _on_initialize(ctx)
        self.context = ctx
        self.extrinsics: list[bytes] = []
        self.included: list[SignedTransaction] = []

    def push(self, tx: SignedTransaction, *, born: bytes = b"") -> bool:
        """Include a transaction whose signature was checked; InvalidTransaction if it cannot be.

        `born`: the birth block's hash its signature was checked over (`ValidTransaction.
        birth_hash`); BadMortality if this block's chain has another block at that height, where
        the signature would not hold (a transaction pooled on a fork the author has left)."""
        if born and birth_hash(self.context, tx) != born:
            raise BadMortality("the transaction was born at a block this chain does not hold")
        ok = apply_extrinsic(self.context, len(self.extrinsics), tx)
        self.extrinsics.append(tx.raw)
        self.included.append(tx)
        return ok

    def finish(self) -> BlockResult:
        """Close the block; the builder must not be used afterwards."""
        hashes = tuple(tx.hash for tx in self.included)
        return BlockResult(finalize_block(self.context), self.context, hashes)


# Transactions


def validate_transaction(
    read: StateReader,
    best: Header,
    tx: SignedTransaction,
    *,
    genesis_hash: bytes,
    check_signature: bool = True,
    cache: dict[bytes, Any] | None = None,
    max_nonce_ahead: int | None = None,
    checked: CheckedSignatures | None = None,
) -> ValidTransaction:
    """Check a transaction for inclusion in the block after `best`; raise InvalidTransaction.

    The cheap checks (call, size, mortality, nonce, fee: a few state reads) come before the
    signature, which costs more than all of them together: a transaction that cannot pay is
    refused without it. `max_nonce_ahead` refuses (FutureNonce) a nonce further than that ahead
    of the account's next one; None lets any future nonce through. With `check_signature` False
    the caller checks the signature itself, later (`check_transaction_signature`). A signature
    found valid is remembered in `checked`, if given (and one remembered there is not checked).
    """
    ctx = _context_after(read, best, genesis_hash, cache)
    call_def, args = lookup_call(tx)
    length = len(tx.raw)
    weight = system.EXTRINSIC_BASE_WEIGHT + call_def.weight(args)
    if weight > system.MAX_NORMAL_WEIGHT or length > system.MAX_NORMAL_LENGTH:
        raise TransactionTooBig("the transaction can never fit in a block")
    born = birth_hash(ctx, tx)
    account_nonce = system.nonce_of(ctx, tx.signer)
    if tx.nonce < account_nonce:
        raise StaleNonce(
            f"nonce {tx.nonce} was already used (the account's next is {account_nonce})"
        )
    if tx.nonce >= U32_MAX:
        raise NonceExhausted(f"nonce {tx.nonce} is the largest an account's nonce holds")
    if max_nonce_ahead is not None and tx.nonce > account_nonce + max_nonce_ahead:
        raise FutureNonce(
            f"nonce {tx.nonce} is more than {max_nonce_ahead} ahead of the account's next "
            f"({account_nonce})"
        )
    terms = transaction_payment.params_in(ctx.state)
    multiplier = transaction_payment.current_multiplier(ctx.state)
    fee = transaction_payment.compute_fee(multiplier, length, weight, tx.tip, terms)
    fee_budget = transaction_payment.fee_budget(ctx, tx.signer)
    outflow = call_def.outflow(ctx, args)
    try:
        transaction_payment.withdraw_fee(ctx, tx.signer, fee, tx.tip)
    except DispatchError as exc:
        raise CannotPayFee(exc.reason()) from exc
    message = tx.message(genesis_hash, born) if check_signature else b""
    if check_signature and not _verify(tx.signer, message, tx.signature, checked):
        raise BadSignature("the signature does not match")
    mortality = tx.body.mortality
    return ValidTransaction(
        signer=tx.signer,
        nonce=tx.nonce,
        account_nonce=account_nonce,
        priority=transaction_payment.priority(fee, weight, length),
        fee=fee,
        weight=weight,
        longevity_until=None if mortality.immortal else mortality.birth + mortality.period,
        fee_budget=fee_budget,
        outflow=transaction_payment.SPENDS_EVERYTHING if outflow is None else outflow,
        birth_hash=born,
    )


def check_transaction_signature(
    read: StateReader,
    best: Header,
    tx: SignedTransaction,
    *,
    genesis_hash: bytes,
    cache: dict[bytes, Any] | None = None,
    checked: CheckedSignatures | None = None,
) -> None:
    """BadSignature unless `tx` is signed by its signer over this chain's transaction (born on the
    chain of `best`): `validate_transaction`'s last and costliest check, for a caller that made
    the others first and checks the signature only if it will keep the transaction. A signature
    found valid is remembered in `checked`, if given."""
    born = birth_hash(_context_after(read, best, genesis_hash, cache), tx)
    if not _verify(tx.signer, tx.message(genesis_hash, born), tx.signature, checked):
        raise BadSignature("the signature does not match")


def _verify(
    public: bytes, message: bytes, signature: bytes, checked: CheckedSignatures | None
) -> bool:
    if checked is None:
        return verify(public, message, signature)
    return checked.verify(public, message, signature)


def _context_after(
    read: StateReader, best: Header, genesis_hash: bytes, cache: dict[bytes, Any] | None
) -> BlockContext:
    """A context as the block after `best` would see the state, to check a transaction in (what
    the checks write to it is thrown away)."""
    return BlockContext(
        state=StateOverlay(read, cache),
        number=best.number + 1,
        parent_hash=best.hash,
        timestamp=best.timestamp,
        author=best.digest.author,
        genesis_hash=genesis_hash,
    )
