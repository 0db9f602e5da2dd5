"""Why a transaction may not be in a block (`InvalidTransaction`, one subclass a reason) and why a
block is refused (`InvalidBlock`, one subclass a rule). `runtime.executive` re-exports them all."""

from __future__ import annotations

from typing import ClassVar


class InvalidTransaction(Exception):
    """A transaction that may not be included in a block now; each subclass is one reason.

    `kind` names the reason in a word, as the RPC's `data.kind` reports it.
    """

    kind: ClassVar[str]


class InvalidCall(InvalidTransaction):
    """The call is unknown, or its arguments do not decode."""

    kind = "call"


class StaleNonce(InvalidTransaction):
    """The nonce was already used by the account."""

    kind = "stale"


class FutureNonce(InvalidTransaction):
    """The nonce is ahead of the account's next one."""

    kind = "future"


class NonceExhausted(InvalidTransaction):
    """The account's nonce is at the largest a nonce holds: it can sign no further transaction."""

    kind = "exhausted"


class BadSignature(InvalidTransaction):
    """The signature is not the signer's over this chain's transaction."""

    kind = "bad_signature"


class CannotPayFee(InvalidTransaction):
    """The signer cannot pay the fee."""

    kind = "payment"


class TransactionOutdated(InvalidTransaction):
    """The transaction's mortality period is over."""

    kind = "outdated"


class BadMortality(InvalidTransaction):
    """The transaction's birth block is unknown or not built yet."""

    kind = "bad_mortality"


class ExhaustsResources(InvalidTransaction):
    """The transaction does not fit in what is left of the block."""

    kind = "exhausts_resources"


class TransactionTooBig(InvalidTransaction):
    """The transaction can never fit in a block."""

    kind = "too_big"


class InvalidBlock(Exception):
    """A block that breaks the rules; nothing of it is kept. Each subclass is one rule."""


class WrongParent(InvalidBlock):
    """The block does not extend the parent it is executed on."""


class ExtrinsicsRootMismatch(InvalidBlock):
    """The header's extrinsics root is not the root of the body."""


class UndecodableExtrinsic(InvalidBlock):
    """An extrinsic of the body does not decode."""


class InvalidExtrinsic(InvalidBlock):
    """An extrinsic may not be in this block; the InvalidTransaction is the cause."""


class BadExtrinsicSignature(InvalidBlock):
    """An extrinsic's signature does not check."""


class BadVrfProof(InvalidBlock):
    """The header's VRF proof is missing, is not its author's on the chain randomness and slot,
    or does not prove the header's VRF output."""
