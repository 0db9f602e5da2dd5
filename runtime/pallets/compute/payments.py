"""Paying and penalizing around checks: committee members' penalties and dispute bonds.

Everything here runs in hooks or in a decision, so nothing here fails: penalties come out of a
stash's bond as far as it goes, and bonds out of their holds as far as they go.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.accounts import TREASURY
from runtime.framework import BlockContext
from runtime.pallets import balances, market, staking, treasury
from runtime.pallets.compute.events import MemberPenalized
from runtime.pallets.compute.params import BOND, ComputeParams
from runtime.pallets.compute.records import Check


def penalize_member(
    ctx: BlockContext, job_id: int, index: int, member: bytes, p: ComputeParams, extra: int = 0
) -> int:
    """Take `member_penalty` (and `extra`) from a committee member's staking bond to the
    treasury; what was taken (MemberPenalized says so)."""
    amount = p.member_penalty + extra
    if amount == 0:
        return 0
    taken = staking.penalize(ctx, member, amount)
    ctx.deposit_event(MemberPenalized, job_id, index, member, taken)
    return taken


def _bond_held(ctx: BlockContext, check: Check) -> int:
    if check.challenger is None or not check.bond:
        return 0
    return min(check.bond, balances.held(ctx, check.challenger, BOND))


def release_bond(ctx: BlockContext, check: Check) -> None:
    """Give a dispute's challenger its bond back (the worker failed, or the job ended)."""
    amount = _bond_held(ctx, check)
    if amount:
        assert check.challenger is not None
        balances.release(ctx, check.challenger, BOND, amount)


def keep_bond(ctx: BlockContext, check: Check) -> None:
    """An inconclusive round of a dispute: its bond goes to the treasury (it paid for a
    committee that did not convict), and the fresh round bonds nothing more."""
    amount = _bond_held(ctx, check)
    if amount:
        assert check.challenger is not None
        taken = balances.slash_held(ctx, check.challenger, BOND, amount)
        treasury.receive(ctx, treasury.SLASHES, balances.deposit(ctx, TREASURY, taken))


def forfeit_bond(ctx: BlockContext, job_id: int, check: Check, voters: Sequence[bytes]) -> None:
    """A dispute the worker passed: half the bond to the members with the outcome, the rest to
    the worker it held up."""
    amount = _bond_held(ctx, check)
    if not amount:
        return
    assert check.challenger is not None
    taken = balances.slash_held(ctx, check.challenger, BOND, amount)
    share = taken // 2 // len(voters) if voters else 0
    for voter in voters:
        balances.deposit(ctx, voter, share)
    worker = market.job(ctx, job_id).worker
    rest = taken - share * len(voters)
    if worker is None:
        treasury.receive(ctx, treasury.SLASHES, balances.deposit(ctx, TREASURY, rest))
    else:
        balances.deposit(ctx, worker, rest)
