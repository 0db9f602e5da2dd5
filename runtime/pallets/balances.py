"""Balances: free and held balances, transfers, the existential deposit, reaping, total issuance.

Rules:
- An account exists while its total (free + held) is at least EXISTENTIAL_DEPOSIT. An account whose
  total would fall below it is reaped: its record is removed and the dust is burned. Spending or
  transferring from an account with holds is refused if it would reap it; only a slash can.
  A reaped account's nonce is remembered (system's ReapedNonce), so its old transactions can
  never be replayed.
- A transfer to a new account must carry at least EXISTENTIAL_DEPOSIT.
- Total issuance always equals the sum of all accounts' totals: `withdraw` and reaping burn,
  `deposit` mints, transfers and holds move balance without changing the sum.
- Holds are named (for example "stake" and "escrow"); held balance cannot be spent or transferred
  until released, and can be slashed.
- Freezes (a vote's conviction lock, as Substrate's fungible freezes) keep part of an account's
  balance from leaving it without moving it: named by an id, at most MAX_FREEZES per account, they
  overlap one another (the largest counts) and the staking hold, so staked funds can still be
  locked by a vote and locked funds can still be bonded. A freeze covers at most the free balance
  plus the staking hold (`lockable`); of the free balance only `usable_free` (what the freeze does
  not cover beyond the staking hold) may be withdrawn (fees too), transferred or put under any hold
  but staking's, and a frozen account is never reaped by spending. Slashes ignore freezes; a freeze
  left above its account's total after a slash is cut to the total, and a reaped account's
  freezes go with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from runtime import fields
from runtime.accounts import TREASURY
from runtime.framework import (
    U128_CODEC,
    WEIGHT_PER_MICROS,
    BlockContext,
    DispatchError,
    EventDef,
    Origin,
    Pallet,
    StorageMap,
    StorageValue,
    call,
    ensure_signed,
    value_codec,
)
from runtime.pallets import system
from runtime.pallets.system import AccountInfo
from runtime.primitives import codec
from runtime.primitives.amount import format_amount
from runtime.primitives.codec import U128_MAX, Value
from runtime.state import PrefixIterator, StateOverlay, StateReader

NAME: Final = "balances"

# Constants

EXISTENTIAL_DEPOSIT: Final = 10_000_000_000
"""0.01 XPL: the least an account may hold and still exist."""

TRANSFER_WEIGHT: Final = 40 * WEIGHT_PER_MICROS

STAKING_HOLD: Final = "staking"
"""The hold that freezes overlap: bonded funds stay lockable (staking holds under this reason)."""
MAX_FREEZES: Final = 4
MAX_FREEZE_ID_LEN: Final = 16

# Storage

TotalIssuance: Final = StorageValue[int](NAME, "TotalIssuance", U128_CODEC, 0)

FreezeList = tuple[tuple[str, int], ...]
"""An account's freezes: (id, amount), sorted by id, amounts > 0, at most MAX_FREEZES."""


def _freezes_to_value(freezes: FreezeList) -> Value:
    return [[i, a.to_bytes(16, "big")] for i, a in freezes]


def _freezes_from_value(value: Value) -> FreezeList:
    items = codec.expect_array(value, MAX_FREEZES, "freezes")
    checked = []
    for n, item in enumerate(items):
        f = codec.expect_list(item, 2, f"freezes[{n}]")
        freeze_id = codec.expect_str(f[0], "freezes.id", max_len=MAX_FREEZE_ID_LEN)
        checked.append((freeze_id, codec.expect_u128(f[1], "freezes.amount")))
    return tuple(checked)


FREEZES_CODEC: Final = value_codec(_freezes_to_value, _freezes_from_value)
Freezes: Final = StorageMap[bytes, FreezeList](NAME, "Freezes", lambda a: a, FREEZES_CODEC)
"""Each frozen account's freezes; no entry for an account without any."""

# Events

Transfer: Final = EventDef(
    NAME,
    "Transfer",
    (("from", fields.ACCOUNT), ("to", fields.ACCOUNT), ("amount", fields.BALANCE)),
    "Balance moved from one account to another.",
)
Endowed: Final = EventDef(
    NAME,
    "Endowed",
    (("account", fields.ACCOUNT), ("amount", fields.BALANCE)),
    "A new account was created with this balance.",
)
DustLost: Final = EventDef(
    NAME,
    "DustLost",
    (("account", fields.ACCOUNT), ("amount", fields.BALANCE)),
    "An account was reaped and the balance it had left was burned.",
)
Deposited: Final = EventDef(
    NAME,
    "Deposited",
    (("account", fields.ACCOUNT), ("amount", fields.BALANCE)),
    "Balance was added to an account and to the total issuance (fee shares, rewards).",
)
Held: Final = EventDef(
    NAME,
    "Held",
    (("account", fields.ACCOUNT), ("reason", fields.str_type(16)), ("amount", fields.BALANCE)),
)
Released: Final = EventDef(
    NAME,
    "Released",
    (("account", fields.ACCOUNT), ("reason", fields.str_type(16)), ("amount", fields.BALANCE)),
)
Slashed: Final = EventDef(
    NAME,
    "Slashed",
    (("account", fields.ACCOUNT), ("reason", fields.str_type(16)), ("amount", fields.BALANCE)),
)
FreezeSet: Final = EventDef(
    NAME,
    "FreezeSet",
    (("account", fields.ACCOUNT), ("id", fields.str_type(16)), ("amount", fields.BALANCE)),
    "A freeze on the account was set to this amount (0: removed), or cut to its total by a slash.",
)

# Errors


class BalancesGenesis(Protocol):
    """The part of the genesis config that balances builds from."""

    @property
    def balances(self) -> Sequence[tuple[bytes, int]]:
        """(account, endowment); the treasury is endowed with the deposit if it is not listed."""


class BalancesError(DispatchError):
    """Base of the balances pallet's dispatch errors."""

    pallet = NAME


class InsufficientBalance(BalancesError):
    """The account's free balance is too low."""


class ExistentialDeposit(BalancesError):
    """The amount is below the existential deposit needed to create the receiving account."""


class KeepAlive(BalancesError):
    """The operation would leave the account below the existential deposit (or it has holds)."""


class InsufficientHeld(BalancesError):
    """Less is held under that reason than the amount asked for."""


class TooManyHolds(BalancesError):
    """The account already has the maximum number of named holds."""


class Overflow(BalancesError):
    """The result would exceed the largest representable balance."""


class InvalidHoldReason(BalancesError):
    """A hold's reason must be 1 to 16 characters."""


class Frozen(BalancesError):
    """The funds are frozen by a vote's conviction lock until it expires (see `xpl gov unlock`)."""


class TooManyFreezes(BalancesError):
    """The account already has the maximum number of freezes."""


class InvalidFreezeId(BalancesError):
    """A freeze's id must be 1 to 16 characters."""


# The interface other pallets use


def held(ctx: BlockContext, who: bytes, reason: str) -> int:
    """What `who` holds under `reason` (0 if nothing, or no account)."""
    info = system.account(ctx, who)
    return 0 if info is None else info.held(reason)


def exists(ctx: BlockContext, who: bytes) -> bool:
    """Whether `who` has an account record (one whose total fell below the deposit was reaped)."""
    return system.account(ctx, who) is not None


def free_balance(ctx: BlockContext, who: bytes) -> int:
    """The account's free (spendable) balance; 0 if the account does not exist."""
    info = system.account(ctx, who)
    return 0 if info is None else info.free


# Freezes (the interface conviction voting uses)


def freezes(state: StateOverlay, who: bytes) -> FreezeList:
    """Every freeze on `who`, (id, amount) sorted by id; () if none."""
    return Freezes.get(state, who) or ()


def frozen(ctx: BlockContext, who: bytes) -> int:
    """What the freezes on `who` keep in the account: the largest of them (they overlap)."""
    found = Freezes.get(ctx.state, who)
    if not found:  # the common case, read on every fee and transfer
        return 0
    return max(amount for _, amount in found)


def freeze_of(ctx: BlockContext, who: bytes, freeze_id: str) -> int:
    """The freeze `freeze_id` on `who` (0 if none)."""
    for i, amount in freezes(ctx.state, who):
        if i == freeze_id:
            return amount
    return 0


def lockable(ctx: BlockContext, who: bytes) -> int:
    """The most a freeze on `who` may cover: its free balance and its staking hold."""
    info = system.account(ctx, who)
    return 0 if info is None else info.free + info.held(STAKING_HOLD)


def usable_of(info: AccountInfo, largest_freeze: int) -> int:
    """The part of `info`'s free balance a freeze of `largest_freeze` leaves free to go: the
    freeze covers the staking hold first, then the free balance."""
    return max(0, info.free - max(0, largest_freeze - info.held(STAKING_HOLD)))


def usable_free(ctx: BlockContext, who: bytes) -> int:
    """What of `who`'s free balance may leave the account (fees, transfers, holds but staking's)."""
    info = system.account(ctx, who)
    return 0 if info is None else usable_of(info, frozen(ctx, who))


def set_freeze(ctx: BlockContext, who: bytes, freeze_id: str, amount: int) -> None:
    """Set the freeze `freeze_id` on `who` to `amount`; 0 removes it.

    Raising a freeze needs the amount to be at most `lockable` (InsufficientBalance otherwise);
    lowering one is always allowed, so that a lock recomputed after a slash can still shrink.
    """
    if not 0 < len(freeze_id) <= MAX_FREEZE_ID_LEN:
        raise InvalidFreezeId()
    current = freezes(ctx.state, who)
    before = next((a for i, a in current if i == freeze_id), 0)
    if amount == before:
        return
    rest = [(i, a) for i, a in current if i != freeze_id]
    if amount > before:
        can_lock = lockable(ctx, who)
        if amount > can_lock:
            raise InsufficientBalance(
                f"a freeze of {format_amount(amount)} is more than the "
                f"{format_amount(can_lock)} the account can lock (free and staked)"
            )
        if before == 0 and len(current) >= MAX_FREEZES:
            raise TooManyFreezes()
    if amount:
        rest.append((freeze_id, amount))
    if rest:
        Freezes.insert(ctx.state, who, tuple(sorted(rest)))
    else:
        Freezes.remove(ctx.state, who)
    ctx.deposit_event(FreezeSet, who, freeze_id, amount)


def _cut_freezes(ctx: BlockContext, who: bytes, total: int) -> None:
    """After a slash: cut every freeze on `who` above its `total` to it (0: remove them all)."""
    current = freezes(ctx.state, who)
    if not current or max(a for _, a in current) <= total:
        return
    if total == 0:
        Freezes.remove(ctx.state, who)
    else:
        Freezes.insert(ctx.state, who, tuple((i, min(a, total)) for i, a in current))
    for i, a in current:
        if a > total:
            ctx.deposit_event(FreezeSet, who, i, total)


# Debits and credits


def _reap(ctx: BlockContext, who: bytes, info: AccountInfo) -> None:
    """Remove an account whose total fell below the existential deposit; burn what it had."""
    dust = info.total
    if dust:
        TotalIssuance.put(ctx.state, TotalIssuance.get(ctx.state) - dust)
        ctx.deposit_event(DustLost, who, dust)
    _cut_freezes(ctx, who, 0)
    system.remove_account(ctx, who, info)


def _spend_free(ctx: BlockContext, who: bytes, info: AccountInfo | None, amount: int) -> int:
    """Check that `amount` of free balance may leave `who`; returns its largest freeze.

    InsufficientBalance if the free balance is short, Frozen if a freeze keeps it."""
    if info is None or info.free < amount:
        raise InsufficientBalance()
    largest = frozen(ctx, who)
    if largest and amount > usable_of(info, largest):
        raise Frozen(
            f"{format_amount(amount)} asked, but only {format_amount(usable_of(info, largest))} "
            f"of the free balance is not frozen (the account's lock is {format_amount(largest)})"
        )
    return largest


def _debit(
    ctx: BlockContext, who: bytes, info: AccountInfo | None, amount: int, keep_alive: bool
) -> AccountInfo | None:
    """The account after taking `amount` of free balance; None if it must be reaped."""
    largest = _spend_free(ctx, who, info, amount)
    assert info is not None
    after = info.with_free(info.free - amount)
    if after.total < EXISTENTIAL_DEPOSIT:
        if keep_alive or after.holds:
            raise KeepAlive()
        if largest:
            raise KeepAlive("a frozen account cannot be emptied: its lock keeps it alive")
        return None
    return after


def withdraw(ctx: BlockContext, who: bytes, amount: int, *, keep_alive: bool) -> None:
    """Take `amount` out of an account's free balance and out of the total issuance.

    No event: the caller reports why (a fee, a burn).
    """
    before = system.account(ctx, who)
    after = _debit(ctx, who, before, amount, keep_alive)
    TotalIssuance.put(ctx.state, TotalIssuance.get(ctx.state) - amount)
    if after is None:
        assert before is not None
        _reap(ctx, who, before.with_free(before.free - amount))
    else:
        system.put_account(ctx, who, after)


def _credit(ctx: BlockContext, who: bytes, amount: int) -> bool:
    """Add to `who`'s free balance, creating the account; False if `amount` cannot create it."""
    info = system.account(ctx, who)
    if info is None:
        if amount < EXISTENTIAL_DEPOSIT:
            return False
        system.create_account(ctx, who, amount)
        ctx.deposit_event(Endowed, who, amount)
    else:
        system.put_account(ctx, who, info.with_free(info.free + amount))
    return True


def deposit(ctx: BlockContext, who: bytes, amount: int) -> int:
    """Mint `amount` into an account; returns what was credited (0 if it could not exist)."""
    if amount == 0:
        return 0
    issuance = TotalIssuance.get(ctx.state)
    if issuance + amount > U128_MAX:
        raise Overflow()
    if not _credit(ctx, who, amount):
        return 0
    TotalIssuance.put(ctx.state, issuance + amount)
    ctx.deposit_event(Deposited, who, amount)
    return amount


def refund(ctx: BlockContext, who: bytes, amount: int) -> int:
    """Give back `amount` that `withdraw` took from `who` in this same transaction (a fee
    refunded): to its free balance and the total issuance. No event: the caller reports it.
    Returns what was given back (0 if the account was reaped meanwhile)."""
    info = system.account(ctx, who)
    if info is None or amount == 0:
        return 0
    system.put_account(ctx, who, info.with_free(info.free + amount))
    TotalIssuance.put(ctx.state, TotalIssuance.get(ctx.state) + amount)
    return amount


def transfer(
    ctx: BlockContext, source: bytes, dest: bytes, amount: int, *, keep_alive: bool
) -> None:
    """Move free balance between accounts, creating the receiver or reaping the sender."""
    if source == dest:
        info = system.account(ctx, source)
        if info is None or info.free < amount:
            raise InsufficientBalance()
        ctx.deposit_event(Transfer, source, dest, amount)
        return
    receiver = system.account(ctx, dest)
    if receiver is None and amount < EXISTENTIAL_DEPOSIT:
        raise ExistentialDeposit()
    before = system.account(ctx, source)
    after = _debit(ctx, source, before, amount, keep_alive)
    if after is None:
        assert before is not None
        _reap(ctx, source, before.with_free(before.free - amount))
    else:
        system.put_account(ctx, source, after)
    if receiver is None:
        system.create_account(ctx, dest, amount)
        ctx.deposit_event(Endowed, dest, amount)
    else:
        system.put_account(ctx, dest, receiver.with_free(receiver.free + amount))
    ctx.deposit_event(Transfer, source, dest, amount)


def hold(ctx: BlockContext, who: bytes, reason: str, amount: int) -> None:
    """Move `amount` of free balance under the named hold `reason`: only its usable part
    (`usable_free`), but for the staking hold, which freezes overlap."""
    if not 0 < len(reason) <= system.MAX_HOLD_REASON_LEN:
        raise InvalidHoldReason()
    info = system.account(ctx, who)
    if reason == STAKING_HOLD:
        if info is None or info.free < amount:
            raise InsufficientBalance()
    else:
        _spend_free(ctx, who, info, amount)
    assert info is not None
    current = info.held(reason)
    if current == 0 and len(info.holds) >= system.MAX_HOLDS:
        raise TooManyHolds()
    updated = info.with_free(info.free - amount).with_hold(reason, current + amount)
    system.put_account(ctx, who, updated)
    ctx.deposit_event(Held, who, reason, amount)


def release(ctx: BlockContext, who: bytes, reason: str, amount: int) -> None:
    """Return `amount` held under `reason` to the free balance."""
    info = system.account(ctx, who)
    current = 0 if info is None else info.held(reason)
    if info is None or current < amount:
        raise InsufficientHeld()
    updated = info.with_free(info.free + amount).with_hold(reason, current - amount)
    system.put_account(ctx, who, updated)
    ctx.deposit_event(Released, who, reason, amount)


def transfer_held(ctx: BlockContext, source: bytes, reason: str, dest: bytes, amount: int) -> int:
    """Pay `amount` out of `source`'s hold `reason` into `dest`'s free balance.

    Returns what `dest` received: a payment too small to create `dest`'s account is burned
    instead, as a deposit below the existential deposit would be. A source left below the
    existential deposit is reaped.
    """
    info = system.account(ctx, source)
    current = 0 if info is None else info.held(reason)
    if info is None or current < amount:
        raise InsufficientHeld()
    if amount == 0:
        return 0
    updated = info.with_hold(reason, current - amount)
    if source == dest:
        updated = updated.with_free(updated.free + amount)
        system.put_account(ctx, source, updated)
        ctx.deposit_event(Released, source, reason, amount)
        return amount
    if updated.total < EXISTENTIAL_DEPOSIT:
        _reap(ctx, source, updated)
    else:
        system.put_account(ctx, source, updated)
        _cut_freezes(ctx, source, updated.total)
    if _credit(ctx, dest, amount):
        ctx.deposit_event(Transfer, source, dest, amount)
        return amount
    TotalIssuance.put(ctx.state, TotalIssuance.get(ctx.state) - amount)
    ctx.deposit_event(DustLost, dest, amount)
    return 0


def slash_held(ctx: BlockContext, who: bytes, reason: str, amount: int) -> int:
    """Burn up to `amount` held under `reason`; returns what was taken (callers may re-deposit).

    Freezes do not stop a slash: one left above the account's total is cut to it. If the account
    is left below the existential deposit, it is reaped: what it still had, held or free, is
    burned as dust, and its freezes are removed.
    """
    info = system.account(ctx, who)
    if info is None:
        return 0
    current = info.held(reason)
    taken = min(current, amount)
    if taken == 0:
        return 0
    updated = info.with_hold(reason, current - taken)
    TotalIssuance.put(ctx.state, TotalIssuance.get(ctx.state) - taken)
    ctx.deposit_event(Slashed, who, reason, taken)
    if updated.total < EXISTENTIAL_DEPOSIT:
        _reap(ctx, who, updated)
    else:
        system.put_account(ctx, who, updated)
        _cut_freezes(ctx, who, updated.total)
    return taken


TransferHook = Callable[[BlockContext, int], None]
_TRANSFER_HOOKS: dict[bytes, TransferHook] = {}


def on_transfer_to(account: bytes, hook: TransferHook) -> None:
    """Have `hook(ctx, amount)` run after every transfer call into `account` (the treasury
    counts them as donations): only the calls, which an account makes of its own accord, not the
    transfers pallets make through `transfer`, which record themselves."""
    _TRANSFER_HOOKS[account] = hook


def has_transfer_hook(account: bytes) -> bool:
    """Whether a transfer call into `account` runs a hook (see `on_transfer_to`)."""
    return account in _TRANSFER_HOOKS


def _transfer_call(
    ctx: BlockContext, origin: Origin, dest: bytes, value: int, *, keep_alive: bool
) -> None:
    source = ensure_signed(origin)
    transfer(ctx, source, dest, value, keep_alive=keep_alive)
    hook = _TRANSFER_HOOKS.get(dest)
    if hook is not None and source != dest:
        hook(ctx, value)


def _value_sent(_ctx: BlockContext, args: tuple[Any, ...]) -> int:
    """A transfer's outflow: its value."""
    return int(args[1])


class Balances(Pallet):
    """The balances pallet: transfers, holds, slashes and the total issuance."""

    NAME = NAME
    EVENTS = (Transfer, Endowed, DustLost, Deposited, Held, Released, Slashed, FreezeSet)
    ERRORS = (
        InsufficientBalance,
        ExistentialDeposit,
        KeepAlive,
        InsufficientHeld,
        TooManyHolds,
        Overflow,
        InvalidHoldReason,
        Frozen,
        TooManyFreezes,
        InvalidFreezeId,
    )

    # Calls

    @call(
        args=(("dest", fields.ACCOUNT), ("value", fields.BALANCE)),
        weight=TRANSFER_WEIGHT,
        outflow=_value_sent,
    )
    def transfer(self, ctx: BlockContext, origin: Origin, dest: bytes, value: int) -> None:
        """Transfer free balance; the sender is reaped if it is left below the deposit."""
        _transfer_call(ctx, origin, dest, value, keep_alive=False)

    @call(
        args=(("dest", fields.ACCOUNT), ("value", fields.BALANCE)),
        weight=TRANSFER_WEIGHT,
        outflow=_value_sent,
    )
    def transfer_keep_alive(
        self, ctx: BlockContext, origin: Origin, dest: bytes, value: int
    ) -> None:
        """Transfer free balance, refusing to leave the sender below the deposit."""
        _transfer_call(ctx, origin, dest, value, keep_alive=True)

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: BalancesGenesis) -> None:
        """Create the endowed accounts; each needs at least the existential deposit."""
        endowed = list(config.balances)
        if all(who != TREASURY for who, _ in endowed):
            # The treasury exists from genesis, so that fee shares below the deposit are not lost.
            endowed.append((TREASURY, EXISTENTIAL_DEPOSIT))
        total = 0
        for who, amount in endowed:
            if amount < EXISTENTIAL_DEPOSIT:
                raise ValueError("a genesis balance is below the existential deposit")
            if system.account(ctx, who) is not None:
                raise ValueError("an account is endowed twice in the genesis config")
            system.put_account(ctx, who, AccountInfo(nonce=0, free=amount))
            total += amount
        if total > U128_MAX:
            raise ValueError("genesis balances exceed the largest representable total issuance")
        TotalIssuance.put(ctx.state, total)

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """Accounts at or above the deposit with well-formed holds, summing to the issuance;
        freezes well formed, only on accounts, none above its account's total."""
        problems: list[str] = []
        total = 0
        for account, info in system.accounts_in(iterate):
            who = account.hex()
            total += info.total
            if info.total < EXISTENTIAL_DEPOSIT:
                problems.append(f"account {who} holds {info.total}, below the deposit")
            reasons = [r for r, _ in info.holds]
            if reasons != sorted(set(reasons)) or any(a == 0 for _, a in info.holds):
                problems.append(f"account {who} has malformed holds {info.holds}")
        problems += _freeze_problems(read, iterate)
        raw_issuance = read(TotalIssuance.key)
        issuance = 0 if raw_issuance is None else TotalIssuance.decode(raw_issuance)
        if total != issuance:
            problems.append(f"sum of balances {total} != total issuance {issuance}")
        return problems


def _freeze_problems(read: StateReader, iterate: PrefixIterator) -> list[str]:
    """What is wrong with the stored freezes: each on an account, well formed, within its total."""
    problems: list[str] = []
    for key, raw in iterate(Freezes.prefix):
        who = Freezes.key_suffix(key)
        entries = Freezes.decode(raw)
        ids = [i for i, _ in entries]
        if not entries or ids != sorted(set(ids)) or any(a == 0 for _, a in entries):
            problems.append(f"account {who.hex()} has malformed freezes {entries}")
        raw_account = read(system.Account.key(who))
        if raw_account is None:
            problems.append(f"freezes {entries} on {who.hex()}, which has no account")
            continue
        total = system.Account.decode(raw_account).total
        if any(a > total for _, a in entries):
            problems.append(f"account {who.hex()} has a freeze above its total {total}")
    return problems
