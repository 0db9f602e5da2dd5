"""A verification check as the client sees it: its phase at a block, its reveals as votes, and
its JSON (what `market_job` answers) read back into the runtime's record.

A check runs in phases once its committee is drawn (DESIGN 8): members commit to their
recomputed leaf hashes and the witness of their recomputation (blocks `drawn_at + 1 ..
commit_deadline`), then reveal them while the worker responds with its committed ones
(`commit_deadline + 1 .. reveal_deadline`); the chain turns each reveal into a vote by comparing
it with the response, and decides.
"""

from __future__ import annotations

from typing import Any

from runtime.pallets import compute
from runtime.primitives.address import decode_address, encode_address
from runtime.primitives.amount import format_amount
from runtime.primitives.hashing import from_hex, to_hex


def phase(check: compute.Check, number: int) -> str:
    """The phase block `number` falls in for `check`: "drawing" (no committee yet, or not by
    block `number`), "commit",
    "reveal", "deciding" (both phases over, the outcome not yet recorded) or "closed"."""
    if check.outcome:
        return "closed"
    if not check.committee or not check.commit_deadline or number <= check.drawn_at:
        return "drawing"
    if number <= check.commit_deadline:
        return "commit"
    if number <= check.reveal_deadline:
        return "reveal"
    return "deciding"


def reveal_vote(check: compute.Check, hashes: tuple[bytes, ...]) -> str:
    """What a reveal counts as: "unavailable" (no hashes), "match" or "differs" (from the
    worker's response), or "pending" while the worker has not responded."""
    if not hashes:
        return "unavailable"
    if not check.response:
        return "pending"
    return "match" if hashes == check.response else "differs"


def check_json(index: int, check: compute.Check, number: int | None = None) -> dict[str, Any]:
    """Check `index` of a job as RPC answers it; with its phase at block `number` if given."""
    return {
        "index": index,
        "kind": check.kind,
        "round": check.round,
        "leaves": list(check.leaves),
        "committee": [encode_address(m) for m in check.committee],
        "drawAt": check.draw_at,
        "drawnAt": check.drawn_at or None,
        "commitDeadline": check.commit_deadline or None,
        "revealDeadline": check.reveal_deadline or None,
        "phase": None if number is None else phase(check, number),
        "commitCount": len(check.commits),
        "commits": [
            {"member": encode_address(m), "commitment": to_hex(c)} for m, c in check.commits
        ],
        "mask": check.mask,
        "reveals": [
            {
                "member": encode_address(m),
                "leafHashes": [to_hex(h) for h in hashes],
                "witness": to_hex(witness),
                "vote": reveal_vote(check, hashes),
            }
            for m, hashes, witness in check.votes()
        ],
        "response": [to_hex(h) for h in check.response],
        "challenger": None if check.challenger is None else encode_address(check.challenger),
        "bond": str(check.bond),
        "outcome": check.outcome,
    }


def check_summary(index: int, check: compute.Check) -> dict[str, Any]:
    """A check as JSON for people and scripts: who committed, each reveal's vote, amounts in XPL."""
    return {
        "index": index,
        "kind": check.kind,
        "round": check.round,
        "leaves": list(check.leaves),
        "committee": [encode_address(m) for m in check.committee],
        "commitBy": check.commit_deadline or None,
        "revealBy": check.reveal_deadline or None,
        "committed": [encode_address(m) for m, _ in check.commits],
        "reveals": {encode_address(m): reveal_vote(check, h) for m, h in check.reveals},
        "responded": bool(check.response),
        "challenger": None if check.challenger is None else encode_address(check.challenger),
        "bond": format_amount(check.bond),
        "outcome": check.outcome or "open",
    }


def check_from_json(data: dict[str, Any]) -> compute.Check:
    """The runtime's record of a check from its `check_json`."""
    return compute.Check(
        kind=data["kind"],
        leaves=tuple(data["leaves"]),
        committee=tuple(decode_address(m) for m in data["committee"]),
        draw_at=data["drawAt"],
        drawn_at=data["drawnAt"] or 0,
        commit_deadline=data["commitDeadline"] or 0,
        reveal_deadline=data["revealDeadline"] or 0,
        round=data["round"],
        commits=tuple(
            (decode_address(c["member"]), from_hex(c["commitment"], length=32))
            for c in data["commits"]
        ),
        reveals=tuple(
            (
                decode_address(r["member"]),
                tuple(from_hex(h, length=32) for h in r["leafHashes"]),
            )
            for r in data["reveals"]
        ),
        mask=data["mask"],
        witnesses=tuple(
            (decode_address(r["member"]), from_hex(r["witness"], length=32))
            for r in data["reveals"]
        ),
        response=tuple(from_hex(h, length=32) for h in data["response"]),
        challenger=None if data["challenger"] is None else decode_address(data["challenger"]),
        bond=int(data["bond"]),
        outcome=data["outcome"],
    )


__all__ = ["check_from_json", "check_json", "check_summary", "phase", "reveal_vote"]
