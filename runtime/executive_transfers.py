"""The fused path of a plain transfer: `apply_extrinsic`'s effects for the common transfer in one
step.

Most transactions of a busy block are transfers between two existing accounts that have plenty:
no holds or freezes on the sender, a receiver that exists, nobody reaped, no transfer hook. For
such a transfer the general path (withdraw the fee, bump the nonce, open a layer, run the call,
close it) reads the sender's record three times, writes it three times, and makes some sixty
Python calls; its outcome is simple: the sender pays the fee and the value and its nonce goes up,
the receiver gains the value, the total issuance loses the fee, and three events are emitted.

`apply_plain_transfer` makes exactly those writes (the same keys, first written in the same
order, with the same final values) and emits the same events, after the same checks
(`apply_extrinsic` makes the mortality, nonce, weight and fee checks before it, as for any call).
Where the transfer is not plain, or could fail, or could reap or create an account, it changes
nothing and returns False, and `apply_extrinsic` takes its general path: the fused path is only
ever a shortcut to the outcome the general path has, never another rule.
`tests/runtime/test_executive_transfers.py` checks with hypothesis that both paths give the same
state changes, events, fees and refusals over random accounts, balances, holds, freezes, values
and fees.
"""

from __future__ import annotations

from typing import Final

from runtime.framework import BlockContext, EventRecord, Weight
from runtime.pallets import balances, system, transaction_payment
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT, Freezes, TotalIssuance
from runtime.pallets.system import Account, AccountInfo

FUSED_CALLS: Final = frozenset(
    {(balances.NAME, "transfer"), (balances.NAME, "transfer_keep_alive")}
)
"""The calls the fused path may apply. Both differ only when the sender would be left below the
existential deposit, which the fused path never applies."""


def transfer_args(values: object) -> tuple[bytes, int] | None:
    """A transfer's arguments (dest, value) from its codec values, as `CallDef.decode_args`
    decodes them (a 32-byte account, a 16-byte big-endian balance), in a few C-level checks;
    None where they are not well formed (`decode_args` then names what is wrong)."""
    if type(values) is list and len(values) == 2:
        dest, value = values
        if type(dest) is bytes and len(dest) == 32 and type(value) is bytes and len(value) == 16:
            return dest, int.from_bytes(value, "big")
    return None


_TRANSFER: Final = balances.Transfer
_FEE_PAID: Final = transaction_payment.TransactionFeePaid
_SUCCESS: Final = system.ExtrinsicSuccess
_new_tuple: Final = tuple.__new__


def apply_plain_transfer(
    ctx: BlockContext,
    index: int,
    signer: bytes,
    sender: AccountInfo,
    args: tuple[object, ...],
    fee: int,
    tip: int,
    weight: Weight,
    length: int,
) -> bool:
    """Apply the checked transfer `args` (dest, value) of extrinsic `index`, paying `fee`, if it
    is a plain one that succeeds; False (and nothing changed) if the general path must apply it.
    `sender` is the signer's record as the state holds it now (`apply_extrinsic` read it for the
    nonce check)."""
    dest, value = args
    assert type(dest) is bytes and type(value) is int
    if dest == signer or balances.has_transfer_hook(dest):
        return False
    state = ctx.state
    if sender.holds or Freezes.get(state, signer):
        return False
    left = sender.free - fee - value
    # At least the deposit left: neither the fee nor the transfer can fail or reap the sender.
    if left < EXISTENTIAL_DEPOSIT:
        return False
    receiver = Account.get(state, dest)
    if receiver is None:
        return False
    # The general path's writes, in the order it first makes them: the total issuance and the
    # sender (the fee), the receiver. Its intermediate values of the sender are overwritten there.
    # The records are built as `tuple.__new__` builds them, without the named tuples' Python
    # constructors (the same objects: about 1.4 us a transfer less for these five).
    new = _new_tuple
    TotalIssuance.put(state, TotalIssuance.get(state) - fee)
    Account.insert(state, signer, new(AccountInfo, (sender.nonce + 1, left, ())))
    received = (receiver.nonce, receiver.free + value, receiver.holds)
    Account.insert(state, dest, new(AccountInfo, received))
    ctx.phase = index
    ctx.fees_collected += fee - tip
    ctx.tips_collected += tip
    ctx.weight_used += weight
    ctx.length_used += length
    ctx.events += (
        new(EventRecord, (index, _FEE_PAID, (signer, fee, tip))),
        new(EventRecord, (index, _TRANSFER, (signer, dest, value))),
        new(EventRecord, (index, _SUCCESS, (weight,))),
    )
    return True
