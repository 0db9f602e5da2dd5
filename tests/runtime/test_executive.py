"""The executive: how the pool's validation classifies transactions, and which blocks execute."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from chain.client.chain import transfer_call
from runtime import executive
from runtime.block import Block, extrinsics_root
from runtime.executive import (
    BadExtrinsicSignature,
    BadMortality,
    BadSignature,
    BadVrfProof,
    BlockBuilder,
    CannotPayFee,
    ExhaustsResources,
    ExtrinsicsRootMismatch,
    FutureNonce,
    InvalidBlock,
    InvalidCall,
    InvalidExtrinsic,
    InvalidTransaction,
    NonceExhausted,
    StaleNonce,
    TransactionOutdated,
    TransactionTooBig,
    UndecodableExtrinsic,
    ValidTransaction,
    WrongParent,
    execute_block,
    validate_transaction,
)
from runtime.pallets import balances, system, transaction_payment
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.system import EXTRINSIC_BASE_WEIGHT, MAX_NORMAL_WEIGHT
from runtime.pallets.transaction_payment import NextFeeMultiplier
from runtime.primitives import codec
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import dev_keypair
from runtime.primitives.trie import root_of
from runtime.state import StateOverlay
from runtime.transaction import Call, Mortality, SignedTransaction, sign_transaction

if TYPE_CHECKING:
    from tests.runtime.conftest import ChainFactory, DevChain

ALICE, BOB, CHARLIE, DAVE, EVE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve")
)
TRANSFER_WEIGHT = EXTRINSIC_BASE_WEIGHT + balances.TRANSFER_WEIGHT


def validate(chain: DevChain, tx: SignedTransaction) -> ValidTransaction:
    return validate_transaction(chain.read, chain.head, tx, genesis_hash=chain.genesis_hash)


def refusal(action: Callable[[], object]) -> str:
    with pytest.raises(InvalidTransaction) as refused:
        action()
    return refused.value.kind


def with_fields(tx: SignedTransaction, edit: Callable[[list[Any]], None]) -> SignedTransaction:
    """The transaction with its encoded fields changed (the signature is kept as it was)."""
    fields = codec.decode(tx.raw)
    edit(fields)
    return SignedTransaction.decode(codec.encode(fields))


def block_of(chain: DevChain, extrinsics: Sequence[bytes], **header: Any) -> Block:
    return Block(chain.header_for(extrinsics, **header), tuple(extrinsics))


# Validation: each kind of refusal


def test_each_reason_is_its_own_exception_with_the_kind_rpc_reports() -> None:
    assert {cls: cls.kind for cls in InvalidTransaction.__subclasses__()} == {
        InvalidCall: "call",
        StaleNonce: "stale",
        FutureNonce: "future",
        NonceExhausted: "exhausted",
        BadSignature: "bad_signature",
        CannotPayFee: "payment",
        TransactionOutdated: "outdated",
        BadMortality: "bad_mortality",
        ExhaustsResources: "exhausts_resources",
        TransactionTooBig: "too_big",
    }
    assert set(InvalidBlock.__subclasses__()) == {
        WrongParent,
        ExtrinsicsRootMismatch,
        UndecodableExtrinsic,
        InvalidExtrinsic,
        BadExtrinsicSignature,
        BadVrfProof,
    }


def test_a_good_transaction_is_valid(chain: DevChain) -> None:
    tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED), tip=9, mortality=Mortality(16, 0))
    valid = validate(chain, tx)
    assert (valid.signer, valid.nonce, valid.account_nonce) == (BOB.public, 0, 0)
    assert valid.priority == transaction_payment.priority(valid.fee, TRANSFER_WEIGHT, len(tx.raw))
    assert valid.weight == TRANSFER_WEIGHT
    bob = system.Account.get(StateOverlay(chain.read), BOB.public)
    assert bob is not None and valid.fee_budget == bob.free - ED
    assert valid.longevity_until == 16
    assert (
        validate(chain, chain.sign(BOB, transfer_call(CHARLIE.public, ED))).longevity_until is None
    )
    # Validation changes nothing.
    before = dict(chain.state)
    validate(chain, tx)
    assert chain.state == before


def test_stale_nonce(chain: DevChain) -> None:
    tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED))
    chain.produce([tx])
    assert refusal(lambda: validate(chain, tx)) == "stale"
    assert refusal(lambda: chain.builder().push(tx)) == "stale"


def test_future_nonce_is_valid_for_the_pool_but_not_for_a_block(chain: DevChain) -> None:
    tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED), nonce=3)
    valid = validate(chain, tx)
    assert (valid.nonce, valid.account_nonce) == (3, 0)
    assert refusal(lambda: chain.builder().push(tx)) == "future"


def test_bad_signature(chain: DevChain) -> None:
    tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED))
    flipped = with_fields(tx, lambda f: f.__setitem__(2, bytes([f[2][0] ^ 1]) + f[2][1:]))
    assert refusal(lambda: validate(chain, flipped)) == "bad_signature"
    # Charlie's signature presented as Bob's.
    by_charlie = chain.sign(CHARLIE, transfer_call(CHARLIE.public, ED))
    as_bob = with_fields(by_charlie, lambda f: f.__setitem__(1, BOB.public))
    assert refusal(lambda: validate(chain, as_bob)) == "bad_signature"
    # A changed amount under the original signature.
    more = with_fields(tx, lambda f: f[6][2].__setitem__(1, (ED + 1).to_bytes(16, "big")))
    assert refusal(lambda: validate(chain, more)) == "bad_signature"


def test_signature_check_can_be_left_to_the_caller(chain: DevChain) -> None:
    tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED))
    flipped = with_fields(tx, lambda f: f.__setitem__(2, bytes(64)))
    validate_transaction(
        chain.read, chain.head, flipped, genesis_hash=chain.genesis_hash, check_signature=False
    )


def test_another_chains_transaction(chain: DevChain) -> None:
    foreign = sign_transaction(
        BOB, transfer_call(CHARLIE.public, ED), nonce=0, genesis_hash=blake2b_256(b"other chain")
    )
    assert refusal(lambda: validate(chain, foreign)) == "bad_signature"


def test_a_transaction_from_another_fork_is_refused(chain: DevChain) -> None:
    chain.produce()
    chain.produce()
    # Signed over a block 1 that is not this chain's block 1.
    forked = sign_transaction(
        BOB,
        transfer_call(CHARLIE.public, ED),
        nonce=0,
        genesis_hash=chain.genesis_hash,
        mortality=Mortality(8, 1),
        birth_hash=blake2b_256(b"a sibling of block 1"),
    )
    assert refusal(lambda: validate(chain, forked)) == "bad_signature"


def test_payment(make_chain: ChainFactory) -> None:
    chain = make_chain(endowed=[(ALICE.public, 1_000 * ED), (BOB.public, ED + 1)])
    # Bob cannot pay the fee and keep the deposit; Eve has no account at all.
    assert (
        refusal(lambda: validate(chain, chain.sign(BOB, transfer_call(ALICE.public, 1))))
        == "payment"
    )
    assert (
        refusal(lambda: validate(chain, chain.sign(EVE, transfer_call(ALICE.public, 1))))
        == "payment"
    )


def test_the_fee_and_nonce_are_checked_before_the_signature(
    make_chain: ChainFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = make_chain(endowed=[(ALICE.public, 1_000 * ED)])
    checked: list[bytes] = []
    real_verify = executive.verify

    def counting(public: bytes, message: bytes, signature: bytes) -> bool:
        checked.append(public)
        return real_verify(public, message, signature)

    monkeypatch.setattr(executive, "verify", counting)
    # Eve holds nothing: refused for the fee, whatever her signature, without checking it.
    unpaid = chain.sign(EVE, transfer_call(ALICE.public, 1))
    forged = with_fields(unpaid, lambda f: f.__setitem__(2, bytes(64)))
    assert refusal(lambda: validate(chain, unpaid)) == "payment"
    assert refusal(lambda: validate(chain, forged)) == "payment"
    # A nonce too far ahead is refused as cheaply.
    ahead = chain.sign(ALICE, transfer_call(EVE.public, ED), nonce=5)
    assert validate(chain, ahead).nonce == 5
    assert checked == [ALICE.public]
    assert (
        refusal(
            lambda: validate_transaction(
                chain.read, chain.head, ahead, genesis_hash=chain.genesis_hash, max_nonce_ahead=4
            )
        )
        == "future"
    )
    assert checked == [ALICE.public]
    # One that can pay has its signature checked last.
    flipped = with_fields(
        chain.sign(ALICE, transfer_call(EVE.public, ED)), lambda f: f.__setitem__(2, bytes(64))
    )
    assert refusal(lambda: validate(chain, flipped)) == "bad_signature"
    assert checked == [ALICE.public] * 2


def test_outdated_mortality(chain: DevChain) -> None:
    tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED), mortality=Mortality(2, 0))
    chain.produce()
    validate(chain, tx)  # for block 2: the last one it may be in
    chain.produce()
    assert refusal(lambda: validate(chain, tx)) == "outdated"
    assert refusal(lambda: chain.builder().push(tx)) == "outdated"


def test_birth_block_not_built_yet(chain: DevChain) -> None:
    tx = sign_transaction(
        BOB,
        transfer_call(CHARLIE.public, ED),
        nonce=0,
        genesis_hash=chain.genesis_hash,
        mortality=Mortality(8, 1),
        birth_hash=blake2b_256(b"block 1 to come"),
    )
    assert refusal(lambda: validate(chain, tx)) == "bad_mortality"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(Call("balances", "mint", [BOB.public, bytes(16)]), id="unknown-call"),
        pytest.param(Call("treasury", "transfer", [BOB.public, bytes(16)]), id="unknown-pallet"),
        pytest.param(Call("balances", "transfer", [BOB.public]), id="missing-argument"),
        pytest.param(Call("balances", "transfer", [BOB.public, bytes(16), 0]), id="extra-argument"),
        pytest.param(
            Call("balances", "transfer", [BOB.public[:31], bytes(16)]), id="short-account"
        ),
        pytest.param(Call("balances", "transfer", [BOB.public, 5]), id="amount-not-u128"),
        pytest.param(Call("balances", "transfer", [None, bytes(16)]), id="account-none"),
    ],
)
def test_unknown_call_or_bad_arguments(chain: DevChain, call: Call) -> None:
    tx = chain.sign(BOB, call)
    assert refusal(lambda: validate(chain, tx)) == "call"
    assert refusal(lambda: chain.builder().push(tx)) == "call"


def test_too_big_for_any_block(chain: DevChain, monkeypatch: pytest.MonkeyPatch) -> None:
    # No call of this runtime is heavy enough, and no decodable transaction long enough, to
    # exceed a block's normal class; a call declaring more than the whole class is made here.
    key = ("balances", "transfer")
    heavy = replace(executive.CALLS[key], weight=lambda _args: MAX_NORMAL_WEIGHT)
    monkeypatch.setitem(executive.CALLS, key, heavy)
    tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED))
    assert refusal(lambda: validate(chain, tx)) == "too_big"
    assert refusal(lambda: chain.builder().push(tx)) == "exhausts_resources"
    monkeypatch.undo()
    monkeypatch.setattr(system, "MAX_NORMAL_LENGTH", len(tx.raw) - 1)
    assert refusal(lambda: validate(chain, tx)) == "too_big"


# Blocks: what execute_block refuses


def signed_block(chain: DevChain) -> tuple[list[SignedTransaction], Block]:
    """A valid block of three transfers on the chain's head (not applied)."""
    txs = [
        chain.sign(BOB, transfer_call(CHARLIE.public, ED)),
        chain.sign(CHARLIE, transfer_call(EVE.public, 2 * ED), mortality=Mortality(4, 0)),
        chain.sign(BOB, transfer_call(DAVE.public, ED), nonce=1),
    ]
    return txs, block_of(chain, [tx.raw for tx in txs])


def test_a_valid_block_executes(chain: DevChain) -> None:
    _, block = signed_block(chain)
    result = chain.execute(block)
    assert result.context.number == 1
    assert [r.event.name for r in result.context.events].count("ExtrinsicSuccess") == 3


def test_a_tampered_extrinsic_is_refused(chain: DevChain) -> None:
    txs, block = signed_block(chain)
    more = with_fields(txs[0], lambda f: f[6][2].__setitem__(1, (2 * ED).to_bytes(16, "big")))
    tampered = [more.raw, *block.extrinsics[1:]]
    # Under the old header: the body no longer matches the extrinsics root.
    with pytest.raises(ExtrinsicsRootMismatch, match="extrinsics root"):
        chain.execute(Block(block.header, tuple(tampered)))
    # With a header recomputed for it: the signature no longer matches.
    with pytest.raises(BadExtrinsicSignature, match="bad signature"):
        chain.execute(block_of(chain, tampered))


def test_a_wrong_extrinsics_root_is_refused(chain: DevChain) -> None:
    _, block = signed_block(chain)
    header = replace(block.header, extrinsics_root=extrinsics_root(block.extrinsics[:2]))
    with pytest.raises(ExtrinsicsRootMismatch, match="extrinsics root"):
        chain.execute(Block(header, block.extrinsics))
    with pytest.raises(ExtrinsicsRootMismatch, match="extrinsics root"):
        chain.execute(Block(block.header, block.extrinsics[::-1]))


def test_a_block_on_another_parent_is_refused(chain: DevChain) -> None:
    _, block = signed_block(chain)
    other_parent = replace(block.header, parent_hash=blake2b_256(b"not the head"))
    with pytest.raises(WrongParent, match="parent"):
        chain.execute(Block(other_parent, block.extrinsics))
    skipped = replace(block.header, number=2)
    with pytest.raises(WrongParent, match="parent"):
        chain.execute(Block(skipped, block.extrinsics))


@pytest.mark.parametrize("garbage", [b"", b"\xc0", b"\x97" + bytes(7), codec.encode([1, 2, 3])])
def test_an_undecodable_extrinsic_is_refused(chain: DevChain, garbage: bytes) -> None:
    _, block = signed_block(chain)
    with pytest.raises(UndecodableExtrinsic, match="does not decode"):
        chain.execute(block_of(chain, [*block.extrinsics, garbage]))


def test_a_bad_signature_is_refused_by_the_default_verifier(chain: DevChain) -> None:
    txs, _ = signed_block(chain)
    forged = with_fields(txs[1], lambda f: f.__setitem__(2, CHARLIE.sign(b"something else")))
    extrinsics = [txs[0].raw, forged.raw, txs[2].raw]
    with pytest.raises(BadExtrinsicSignature, match="extrinsic 1 has a bad signature"):
        chain.execute(block_of(chain, extrinsics))
    foreign = sign_transaction(
        DAVE, transfer_call(BOB.public, ED), nonce=0, genesis_hash=blake2b_256(b"other chain")
    )
    with pytest.raises(BadExtrinsicSignature, match="bad signature"):
        chain.execute(block_of(chain, [foreign.raw]))


class Answers:
    """Signature results decided in advance; whether they were cancelled."""

    def __init__(self, results: list[bool]) -> None:
        self.results = results
        self.cancelled = False

    def __call__(self) -> list[bool]:
        return self.results

    def cancel(self) -> None:
        self.cancelled = True


def test_a_block_refused_for_a_fee_costs_no_signature_check(
    chain: DevChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[bytes] = []
    real_verify = executive.verify
    monkeypatch.setattr(
        executive, "verify", lambda pk, msg, sig: checked.append(pk) or real_verify(pk, msg, sig)
    )
    good = chain.sign(BOB, transfer_call(CHARLIE.public, ED))
    unpaid = chain.sign(EVE, transfer_call(BOB.public, ED))  # Eve holds nothing
    block = block_of(chain, [good.raw, unpaid.raw])
    with pytest.raises(InvalidExtrinsic, match="extrinsic 1"):
        chain.execute(block)
    assert checked == []
    # A verifier that checks in parallel is told to stop.
    answers = Answers([True, True])

    class Parallel:
        def submit(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> Answers:
            return answers

    with pytest.raises(InvalidExtrinsic, match="extrinsic 1"):
        execute_block(
            chain.read, chain.head, block, genesis_hash=chain.genesis_hash, verifier=Parallel()
        )
    assert answers.cancelled


def test_the_verifier_is_what_decides_signatures(chain: DevChain) -> None:
    _, block = signed_block(chain)

    class Refuser:
        def submit(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> Answers:
            assert [pk for pk, _, _ in items] == [BOB.public, CHARLIE.public, BOB.public]
            return Answers([True, True, False])

    with pytest.raises(BadExtrinsicSignature, match="extrinsic 2 has a bad signature"):
        execute_block(
            chain.read, chain.head, block, genesis_hash=chain.genesis_hash, verifier=Refuser()
        )


@pytest.mark.parametrize("problem", ["replayed", "future", "outdated", "payment", "unknown-call"])
def test_a_block_with_an_invalid_transaction_is_refused(chain: DevChain, problem: str) -> None:
    good = chain.sign(BOB, transfer_call(CHARLIE.public, ED))
    if problem == "replayed":
        extrinsics = [good.raw, good.raw]
    elif problem == "future":
        extrinsics = [chain.sign(BOB, transfer_call(CHARLIE.public, ED), nonce=1).raw]
    elif problem == "outdated":
        chain.produce()
        chain.produce()
        stale = chain.sign(BOB, transfer_call(CHARLIE.public, ED), mortality=Mortality(1, 0))
        extrinsics = [stale.raw]
    elif problem == "payment":
        extrinsics = [chain.sign(EVE, transfer_call(BOB.public, ED)).raw]
    else:
        extrinsics = [chain.sign(BOB, Call("balances", "mint", [])).raw]
    with pytest.raises(InvalidExtrinsic, match="invalid"):
        chain.execute(block_of(chain, extrinsics))


# Blocks: built and re-executed


def test_a_built_block_re_executes_to_the_same_changes(chain: DevChain) -> None:
    builder = chain.builder()
    pushed = [
        chain.sign(BOB, transfer_call(EVE.public, 3 * ED), tip=5),
        chain.sign(EVE, transfer_call(DAVE.public, ED), nonce=0),  # Eve exists by now
        chain.sign(CHARLIE, transfer_call(DAVE.public, 10**18), mortality=Mortality(8, 0)),  # fails
        chain.sign(BOB, transfer_call(BOB.public, ED), nonce=1),  # to oneself
    ]
    outcomes = [builder.push(tx) for tx in pushed]
    assert outcomes == [True, True, False, True]
    # Refused pushes leave no trace in the block.
    assert (
        refusal(lambda: builder.push(chain.sign(BOB, transfer_call(DAVE.public, ED), nonce=9)))
        == "future"
    )
    assert refusal(lambda: builder.push(pushed[0])) == "stale"
    assert builder.extrinsics == [tx.raw for tx in pushed]
    parent, parent_state = chain.head, dict(chain.state)
    block, built = chain.seal(builder)

    executed = execute_block(parent_state.get, parent, block, genesis_hash=chain.genesis_hash)
    assert executed.changes == built.changes
    assert [r.to_json() for r in executed.context.events] == [
        r.to_json() for r in built.context.events
    ]
    assert executed.context.weight_used == built.context.weight_used == 4 * TRANSFER_WEIGHT
    post = dict(parent_state)
    for key, value in executed.changes.items():
        if value is None:
            post.pop(key, None)
        else:
            post[key] = value
    assert root_of(post) == block.header.state_root
    assert block.header.seal_is_valid()
    assert chain.problems() == []


def test_a_chain_of_blocks_re_executes(chain: DevChain) -> None:
    for n in range(5):
        parent, parent_state = chain.head, dict(chain.state)
        txs = [chain.sign(BOB, transfer_call(CHARLIE.public, ED + n), mortality=Mortality(4, n))]
        block, built = chain.produce(txs)
        executed = execute_block(parent_state.get, parent, block, genesis_hash=chain.genesis_hash)
        assert executed.changes == built.changes
    assert chain.nonce(BOB.public) == 5


@pytest.fixture(scope="module")
def full_block(make_chain: ChainFactory) -> dict[str, Any]:
    """A block filled with transfers until the next one no longer fit."""
    chain = make_chain()
    parent, parent_state = chain.head, dict(chain.state)
    builder = BlockBuilder(
        chain.read,
        chain.head,
        timestamp=chain.head.timestamp + 6_000,
        slot=chain.head.timestamp // 6_000 + 1,
        author=chain.author,
        genesis_hash=chain.genesis_hash,
    )
    call = transfer_call(EVE.public, ED)
    nonce, refused = 0, None
    while refused is None:
        tx = chain.sign(BOB, call, nonce=nonce)
        try:
            builder.push(tx)
        except InvalidTransaction as exc:
            refused = (exc.kind, tx)
            break
        nonce += 1
    block, result = chain.seal(builder)
    return {
        "chain": chain,
        "parent": parent,
        "parent_state": parent_state,
        "block": block,
        "result": result,
        "refused": refused,
    }


def test_blocks_respect_the_normal_weight_limit(full_block: dict[str, Any]) -> None:
    kind, _ = full_block["refused"]
    assert kind == "exhausts_resources"
    block, result = full_block["block"], full_block["result"]
    assert len(block.extrinsics) == MAX_NORMAL_WEIGHT // TRANSFER_WEIGHT
    assert result.context.weight_used <= MAX_NORMAL_WEIGHT
    assert result.context.weight_used + TRANSFER_WEIGHT > MAX_NORMAL_WEIGHT


def test_a_full_block_re_executes_and_one_more_transaction_does_not_fit(
    full_block: dict[str, Any],
) -> None:
    chain, parent, state = full_block["chain"], full_block["parent"], full_block["parent_state"]
    block = full_block["block"]
    executed = execute_block(state.get, parent, block, genesis_hash=chain.genesis_hash)
    assert executed.changes == full_block["result"].changes
    _, extra = full_block["refused"]
    overfull = [*block.extrinsics, extra.raw]
    header = chain.header_for(overfull, parent=parent)
    with pytest.raises(InvalidExtrinsic, match="does not fit"):
        execute_block(
            state.get, parent, Block(header, tuple(overfull)), genesis_hash=chain.genesis_hash
        )


def test_a_full_block_raises_the_fee_multiplier(full_block: dict[str, Any]) -> None:
    chain, state = full_block["chain"], full_block["parent_state"]
    before = NextFeeMultiplier.get(StateOverlay(state.get))
    after = NextFeeMultiplier.get(StateOverlay(chain.read))
    assert after > before
    assert NextFeeMultiplier.key in full_block["result"].changes


def test_a_shared_decode_cache_changes_nothing(chain: DevChain) -> None:
    # The node hands a cache of decoded parent-state values to validation and execution; using
    # it (even after validation wrote a fee into its own overlay) must not change any result.
    txs, block = signed_block(chain)
    plain = chain.execute(block)
    cache: dict[bytes, Any] = {}
    for tx in txs[:2]:
        validate_transaction(
            chain.read, chain.head, tx, genesis_hash=chain.genesis_hash, cache=cache
        )
    assert cache, "validation read the state through the cache"
    for _ in range(2):
        cached = execute_block(
            chain.read, chain.head, block, genesis_hash=chain.genesis_hash, cache=cache
        )
        assert cached.changes == plain.changes
    # The cache holds the parent's values: Bob's record before any fee was taken.
    bob_key = system.Account.key(BOB.public)
    bob_raw = chain.read(bob_key)
    assert bob_raw is not None
    assert cache[bob_key] == system.Account.decode(bob_raw)
