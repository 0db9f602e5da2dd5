"""Randomness: the chain randomness R, mixed from every block author's VRF output.

Construction. Every block header carries its author's VRF output and proof
(`runtime.primitives.vrf`, an ECVRF on the author's Ed25519 session key) on the input

    alpha_n = BLAKE2b-256(b"xpl-vrf" ‖ R_{n−1} ‖ slot_n as u64 big-endian)

where R_{n−1} is the chain randomness in the parent's state and slot_n the header's Aura slot.
Before any hook runs, the executive checks the proof against the header's author and alpha_n (a
block whose proof is missing, wrong, another key's, or whose output is not the proof's, is
invalid). Then this pallet, first of the hooks that draw anything, stores

    R_n = BLAKE2b-256(b"xpl-randomness" ‖ R_{n−1} ‖ vrf_output_n),   R_0 = the genesis hash

and `current(state)` reads it: in block n's hooks and calls, R_n, its own VRF output included.

What an author can and cannot do. The VRF output is a function of the key and alpha alone: the
extrinsics, their order, the timestamp, the state root, the seal, nothing else in the block moves
it, so trying block variants changes no draw (`tests/runtime/pallets/test_draw_grinding.py` builds
1,000 and every draw stays the same). Sealing two blocks in one slot on one parent gives the same
output twice (and is an equivocation, slashed). An author knows its own output before it
publishes, and can still:
- forfeit its slot: the next slot's author builds the block instead, with its own key and slot,
  so R_n is another value. That is one bit of choice (publish or not), bought with the slot's
  block (its era points and fees). A draw that mixes the outputs of blocks n+1..n+d (compute's
  DRAW_DELAY = 3) is known in advance to nobody but the author of its last block, who can choose
  between its own R and the one the next author would make. For an event of probability q (a job
  audited) that moves the probability to at most 1 − (1 − q)², or down to q², and only by
  forfeiting whenever that helps (in q(1 − q) of the draws). Measured by the test above at
  q = 0.25 over 2,048 jobs: audited 0.262 as drawn, 0.075 when the author forfeits to avoid audits
  (q² = 0.0625), 0.446 when it forfeits to cause them (1 − (1 − q)² = 0.4375), forfeiting for
  18.7% of the jobs. So a worker that is also an author, and times its commitment so that its own
  slot ends the window, is audited with probability q² at the least. Holding m slots of the
  window gives at most 2^m draws to choose from (each forfeit another block lost); Aura's
  round-robin spreads one operator's slots over the authority set. The author of an earlier block
  of the window does not know the later (other authors') outputs: forfeiting there is a blind
  re-draw, not a bias.
- choose its parent where the chain has forked (build on one of two competing blocks): R differs
  by parent, so that is a choice among as many values as forks it can build on, each a block
  that finality keeps or discards.
Nobody can compute another author's output before it is published (only the key's owner can),
so a party that commits something (a worker its result) cannot know the draw that follows.
"""

from __future__ import annotations

from typing import Final

from runtime.framework import HASH_CODEC, BlockContext, Pallet, StorageValue
from runtime.primitives import vrf
from runtime.primitives.hashing import ZERO_HASH, blake2b_256
from runtime.primitives.keys import Keypair
from runtime.state import StateOverlay

NAME: Final = "randomness"

# Constants

VRF_DOMAIN: Final = b"xpl-vrf"
RANDOMNESS_DOMAIN: Final = b"xpl-randomness"

# Storage

ChainRandomness: Final = StorageValue[bytes](NAME, "ChainRandomness", HASH_CODEC, b"")
"""R of the latest block (absent in the genesis state, whose R is the genesis hash)."""


# The interface other pallets and the node use


def current(state: StateOverlay) -> bytes:
    """R of the block being executed (its own VRF output mixed in) or of the block whose state
    this is; ZERO_HASH in the genesis state, which cannot hold its own hash."""
    return ChainRandomness.get(state) or ZERO_HASH


def randomness_at(state: StateOverlay, genesis_hash: bytes) -> bytes:
    """The chain randomness in a block's state: R_n, or R_0 = the genesis hash at genesis."""
    return ChainRandomness.get(state) or genesis_hash


def vrf_input(parent_randomness: bytes, slot: int) -> bytes:
    """alpha: what a block's author proves its VRF on, given R of the parent and the slot."""
    return blake2b_256(VRF_DOMAIN + parent_randomness + slot.to_bytes(8, "big"))


def mix(parent_randomness: bytes, vrf_output: bytes) -> bytes:
    """R_n from R_{n−1} and block n's VRF output."""
    return blake2b_256(RANDOMNESS_DOMAIN + parent_randomness + vrf_output)


def block_vrf_input(ctx: BlockContext) -> bytes:
    """alpha of the block `ctx` opens; read before this pallet's on_initialize writes R_n."""
    return vrf_input(randomness_at(ctx.state, ctx.genesis_hash), ctx.slot)


def prove_block(ctx: BlockContext, author: Keypair) -> None:
    """The author's side: fill in the block's VRF output and proof (before on_initialize)."""
    ctx.vrf_output, ctx.vrf_proof = vrf.prove(author, block_vrf_input(ctx))


def proof_is_valid(ctx: BlockContext) -> bool:
    """Whether the block's VRF proof is its author's on its alpha and proves its VRF output."""
    if len(ctx.vrf_output) != vrf.OUTPUT_LEN:
        return False
    return vrf.verify(ctx.author, block_vrf_input(ctx), ctx.vrf_proof) == ctx.vrf_output


class Randomness(Pallet):
    """The chain randomness, mixed at the start of every block."""

    NAME = NAME

    def on_initialize(self, ctx: BlockContext) -> int:
        """R_n = H(R_{n−1} ‖ this block's VRF output); the executive checked the proof."""
        ChainRandomness.put(
            ctx.state, mix(randomness_at(ctx.state, ctx.genesis_hash), ctx.vrf_output)
        )
        return 0
