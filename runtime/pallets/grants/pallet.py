"""The grants pallet: compute grants' calls and invariants."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime import dispatch, fields
from runtime.framework import BlockContext, Origin, Pallet, Weight
from runtime.framework import call as declare_call
from runtime.pallets import balances, system
from runtime.pallets.bounties.funds import ensure_spender, fund, return_all
from runtime.pallets.governance.spending import register_spending_call
from runtime.pallets.grants.errors import (
    ERRORS,
    BadGrant,
    CallNotAllowed,
    GrantExpired,
    NotBuilder,
    PriceAboveGrant,
    SpendTooLarge,
    UnknownGrant,
)
from runtime.pallets.grants.events import (
    EVENTS,
    GrantAwarded,
    GrantCallDispatched,
    GrantClosed,
)
from runtime.pallets.grants.storage import (
    ALLOWED_CALLS,
    AWARD_WEIGHT,
    CALL_WEIGHT,
    CLOSE_WEIGHT,
    NAME,
    SUBMIT,
    SUBMIT_PRICE_ARG,
    Grant,
    GrantCount,
    Grants,
    grant,
    grant_account,
)
from runtime.primitives import codec
from runtime.state import PrefixIterator, StateOverlay, StateReader


def _call_weight(args: tuple[Any, ...]) -> Weight:
    """A grant call's weight: its own and that of the call it dispatches (its own alone if the
    call does not decode: it fails before dispatching anything)."""
    try:
        return CALL_WEIGHT + dispatch.weight_of(args[1])
    except dispatch.BadCall:
        return CALL_WEIGHT


def _named(raw: bytes) -> tuple[str, str]:
    """The (pallet, name) an encoded call names, read before its arguments are checked, so that a
    call no grant may make is refused as such whatever its arguments; BadCall if it names none."""
    try:
        f = codec.expect_list(codec.decode(raw), 3, "call")
        return (
            codec.expect_str(f[0], "call.pallet", max_len=64),
            codec.expect_str(f[1], "call.name", max_len=64),
        )
    except codec.DecodeError as exc:
        raise dispatch.BadCall(f"the call does not decode: {exc}") from exc


def _held(ctx: BlockContext, account: bytes) -> int:
    info = system.account(ctx, account)
    return 0 if info is None else info.total - info.free


class GrantsPallet(Pallet):
    """Compute grants: allowances from the treasury that a builder spends on compute jobs only."""

    NAME = NAME
    EVENTS = EVENTS
    ERRORS = ERRORS

    # Calls

    @declare_call(
        args=(
            ("builder", fields.ACCOUNT),
            ("amount", fields.BALANCE),
            ("max_price", fields.BALANCE),
            ("expires_at", fields.U64),
        ),
        weight=AWARD_WEIGHT,
        outflow=0,
    )
    def award(
        self,
        ctx: BlockContext,
        origin: Origin,
        builder: bytes,
        amount: int,
        max_price: int,
        expires_at: int,
    ) -> None:
        """Award `builder` a compute grant (Root, or a track whose max_spend covers `amount`):
        the treasury pays `amount` into the grant's account, from which the builder's jobs, at
        a max_price up to `max_price` per 10^9 cost units, hold their escrow until block
        `expires_at`."""
        ensure_spender(ctx, origin, amount, SpendTooLarge)
        if amount < balances.EXISTENTIAL_DEPOSIT:
            raise BadGrant(
                f"a grant is at least the existential deposit {balances.EXISTENTIAL_DEPOSIT}"
            )
        if max_price == 0:
            raise BadGrant("a grant's max_price must be above zero")
        if expires_at <= ctx.number:
            raise BadGrant(f"a grant must expire after block {ctx.number}")
        grant_id = GrantCount.get(ctx.state)
        GrantCount.put(ctx.state, grant_id + 1)
        account = grant_account(grant_id)
        fund(ctx, "grants", account, amount)
        Grants.insert(
            ctx.state, grant_id, Grant(builder, amount, max_price, ctx.number, expires_at)
        )
        ctx.deposit_event(GrantAwarded, grant_id, builder, amount, max_price, expires_at, account)

    @declare_call(
        args=(("grant", fields.U64), ("call", dispatch.CALL)),
        weight=_call_weight,
        outflow=0,  # the grant's account pays; the builder pays only the fee
    )
    def call(self, ctx: BlockContext, origin: Origin, grant_id: int, raw: bytes) -> None:
        """The builder makes a market call as the grant's account: `market.submit_job` (its
        escrow held from the grant, at a max_price up to the grant's, before it expires) or
        `market.cancel_job` (the refund returns to the grant). Every other call is refused."""
        current = grant(ctx, grant_id)
        if origin.signer is None or origin.signer != current.builder:
            raise NotBuilder()
        name = _named(raw)
        if name not in ALLOWED_CALLS:
            raise CallNotAllowed(
                "a grant pays for compute jobs only (market.submit_job, market.cancel_job), "
                f"not {'.'.join(name)}"
            )
        _, args = dispatch.decode_call(raw)
        if name == SUBMIT:
            if current.closed or ctx.number >= current.expires_at:
                raise GrantExpired()
            price = args[SUBMIT_PRICE_ARG]
            if price > current.max_price:
                raise PriceAboveGrant(f"the grant pays at most {current.max_price}, not {price}")
        dispatch.dispatch(ctx, Origin(signer=grant_account(grant_id)), raw)
        ctx.deposit_event(GrantCallDispatched, grant_id, ".".join(name))

    @declare_call(args=(("grant", fields.U64),), weight=CLOSE_WEIGHT, outflow=0)
    def close(self, ctx: BlockContext, origin: Origin, grant_id: int) -> None:
        """Return what is left of a grant to the treasury: by its builder at any time, by
        governance (Root or a track covering the award) at any time, by anyone once it has
        expired or was closed. Escrow that open jobs hold returns to the grant's account as they
        end; the grant stays closed until a later close sweeps it (and ends the grant once
        nothing is held). Anyone may sweep the account of a grant that has ended."""
        if grant_id >= GrantCount.get(ctx.state):
            raise UnknownGrant(f"no grant {grant_id}")
        current = Grants.get(ctx.state, grant_id)
        if current is not None:
            _ensure_may_close(ctx, origin, current)
        account = grant_account(grant_id)
        returned = return_all(ctx, account)
        held = _held(ctx, account)
        if current is not None:
            if held:
                Grants.insert(ctx.state, grant_id, replace(current, closed=True))
            else:
                Grants.remove(ctx.state, grant_id)
        ctx.deposit_event(GrantClosed, grant_id, returned, held)

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """Every grant's id is below GrantCount and its award at least the existential
        deposit."""
        problems: list[str] = []
        raw_count = read(GrantCount.key)
        count = 0 if raw_count is None else GrantCount.decode(raw_count)
        for key, raw in iterate(Grants.prefix):
            grant_id = int.from_bytes(Grants.key_suffix(key), "big")
            if grant_id >= count:
                problems.append(f"grant {grant_id} is beyond the grant count {count}")
            if Grants.decode_at(key, raw).awarded < balances.EXISTENTIAL_DEPOSIT:
                problems.append(f"grant {grant_id} was awarded less than the existential deposit")
        return problems


def _ensure_may_close(ctx: BlockContext, origin: Origin, current: Grant) -> None:
    """BadOrigin / NotBuilder unless `origin` may close the grant now."""
    if origin.signer is None:
        ensure_spender(ctx, origin, current.awarded, SpendTooLarge)
        return
    if origin.signer == current.builder:
        return
    if not current.closed and ctx.number < current.expires_at:
        raise NotBuilder(f"only the builder may close the grant before block {current.expires_at}")


def _award_amount(_state: StateOverlay, args: tuple[Any, ...]) -> int:
    """What an award pays: its amount."""
    return int(args[1])


def _grant_awarded(state: StateOverlay, args: tuple[Any, ...]) -> int:
    """What closing grant `args[0]` answers for: its award (0 for no grant)."""
    found = Grants.get(state, args[0])
    return 0 if found is None else found.awarded


register_spending_call(NAME, "award", _award_amount)
register_spending_call(NAME, "close", _grant_awarded)
