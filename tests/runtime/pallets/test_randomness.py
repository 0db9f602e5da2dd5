"""The randomness pallet: every block carries its author's VRF proof on the chain randomness, a
block without a valid one is refused, and R evolves as its docstring specifies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from chain.client.chain import transfer_call
from runtime.block import Block, Digest, Header
from runtime.executive import BadVrfProof, InvalidBlock, execute_block
from runtime.pallets import randomness
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.primitives import vrf
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import DevChain

ALICE, BOB, CHARLIE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie"))


def next_block(chain: DevChain, digest: Callable[[Digest], Digest] = lambda d: d) -> Block:
    """The chain author's next (empty) block on the head, its digest changed by `digest` and the
    header sealed again by the digest's author."""
    header = chain.header_for([])
    changed = replace(header, digest=replace(digest(header.digest), seal=b""))
    signer = next(k for k in (ALICE, BOB, CHARLIE) if k.public == changed.digest.author)
    return Block(changed.sealed_by(signer), ())


def with_vrf(digest: Digest, keypair: Keypair, alpha: bytes) -> Digest:
    """The digest with `keypair`'s VRF output and proof on `alpha`."""
    output, proof = vrf.prove(keypair, alpha)
    return replace(digest, vrf_output=output, vrf_proof=proof)


def execute(chain: DevChain, block: Block) -> None:
    execute_block(chain.read, chain.head, block, genesis_hash=chain.genesis_hash)


def alpha_of(chain: DevChain, slot: int) -> bytes:
    """The next block's VRF input, recomputed from the docstring's rule."""
    r = chain.randomness[chain.head.hash]
    return blake2b_256(b"xpl-vrf" + r + slot.to_bytes(8, "big"))


def test_a_block_with_the_authors_proof_executes(chain: DevChain) -> None:
    chain.produce()
    execute(chain, next_block(chain))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda c, d: replace(d, vrf_output=b"", vrf_proof=b""), id="missing"),
        pytest.param(lambda c, d: replace(d, vrf_proof=b""), id="proof-missing"),
        pytest.param(lambda c, d: replace(d, vrf_output=b""), id="output-missing"),
        pytest.param(
            lambda c, d: replace(d, vrf_proof=d.vrf_proof[:-1] + bytes([d.vrf_proof[-1] ^ 1])),
            id="proof-bit-flipped",
        ),
        pytest.param(lambda c, d: replace(d, vrf_output=bytes(32)), id="output-not-the-proofs"),
        pytest.param(
            lambda c, d: replace(d, vrf_output=vrf.prove(BOB, alpha_of(c, d.slot))[0]),
            id="another-keys-output",
        ),
        pytest.param(
            lambda c, d: with_vrf(d, BOB, alpha_of(c, d.slot)),
            id="another-keys-proof",
        ),
        pytest.param(
            lambda c, d: with_vrf(d, ALICE, alpha_of(c, d.slot + 1)),
            id="proof-for-another-slot",
        ),
        pytest.param(
            lambda c, d: replace(
                d, vrf_output=c.head.digest.vrf_output, vrf_proof=c.head.digest.vrf_proof
            ),
            id="the-parents-proof-replayed",
        ),
        pytest.param(
            lambda c, d: with_vrf(d, ALICE, b""),
            id="proof-on-another-input",
        ),
    ],
)
def test_a_block_without_its_authors_vrf_proof_is_refused(
    chain: DevChain, tamper: Callable[[DevChain, Digest], Digest]
) -> None:
    chain.produce()
    block = next_block(chain, lambda d: tamper(chain, d))
    with pytest.raises(BadVrfProof) as refused:
        execute(chain, block)
    assert isinstance(refused.value, InvalidBlock)


def test_a_proof_counts_only_for_its_own_author(chain: DevChain) -> None:
    # Bob's valid proof in a header that names Bob as its author executes (the runtime checks the
    # proof against the header's author; the node checks that the author owns the slot); the same
    # proof under Alice's name does not.
    chain.produce()
    slot = chain.head.digest.slot + 1
    alpha = alpha_of(chain, slot)
    execute(chain, next_block(chain, lambda d: with_vrf(replace(d, author=BOB.public), BOB, alpha)))
    with pytest.raises(BadVrfProof):
        execute(chain, next_block(chain, lambda d: with_vrf(d, BOB, alpha)))


def test_r_evolves_as_specified(chain: DevChain) -> None:
    r = chain.genesis_hash  # R_0
    for n in range(1, 7):
        txs = [chain.sign(BOB, transfer_call(CHARLIE.public, ED + n))] if n % 2 else []
        block, result = chain.produce(txs)
        d = block.header.digest
        alpha = blake2b_256(b"xpl-vrf" + r + d.slot.to_bytes(8, "big"))
        assert vrf.verify(ALICE.public, alpha, d.vrf_proof) == d.vrf_output
        r = blake2b_256(b"xpl-randomness" + r + d.vrf_output)
        assert randomness.current(StateOverlay(chain.read)) == r
        # The block's own hooks and calls read R_n, its own output mixed in.
        assert randomness.current(result.context.state) == r


def test_the_genesis_state_reads_zero_and_the_first_block_mixes_the_genesis_hash(
    chain: DevChain,
) -> None:
    genesis = StateOverlay(chain.read)
    assert randomness.current(genesis) == bytes(32)
    assert randomness.randomness_at(genesis, chain.genesis_hash) == chain.genesis_hash
    block, _ = chain.produce()
    expected = randomness.mix(chain.genesis_hash, block.header.digest.vrf_output)
    assert randomness.current(StateOverlay(chain.read)) == expected


def test_block_contents_do_not_move_r(chain: DevChain) -> None:
    # Two blocks on one parent, in one slot, by one author, with different bodies:
    # the same VRF output and the same R.
    parent_state = dict(chain.state)
    head, headers = chain.head, list(chain.headers)
    first, _ = chain.produce([chain.sign(BOB, transfer_call(CHARLIE.public, ED))])
    r_first = randomness.current(StateOverlay(chain.read))
    chain.state, chain.head, chain.headers = parent_state, head, headers
    builder = chain.builder()
    builder.push(chain.sign(CHARLIE, transfer_call(BOB.public, 2 * ED)))
    second, _ = chain.seal(builder)
    assert first.hash != second.hash
    assert first.header.digest.vrf_output == second.header.digest.vrf_output
    assert randomness.current(StateOverlay(chain.read)) == r_first


def test_the_header_carries_the_output_into_json(chain: DevChain) -> None:
    block, _ = chain.produce()
    digest = block.header.to_json()["digest"]
    assert digest["vrfOutput"] == "0x" + block.header.digest.vrf_output.hex()
    assert len(block.header.digest.vrf_proof) == vrf.PROOF_LEN
    assert Header.decode(block.header.encode()) == block.header
