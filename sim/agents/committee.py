"""Committee members: each validator's duties on the checks its committees are drawn for.

One agent per validator, homed on the validator's own node, does what the node's verification
service (`chain.service.verification`) does, with the same code: it finds the checks it may owe
something (`committee_duties.checks_to_watch`: the whole state at the start or after a gap, the
new blocks' events from then on), asks `committee_duties.duty` what is due in
the next block, recomputes the named leaves with `recomputation.gather_material` and
`recomputation.recompute_answer` (the NumPy path), and submits `committee_duties.attestation_call`
(the commitment, then in the reveal phase the reveal) with `committee_duties.phase_mortality`, so
that it lands in its phase or not at all. The published results store (`PublishedResults`) is its
`LeafSource`, in place of the blob store and its peers; a result leaf the check builds on that is
not published makes its answer RESULT_WITHHELD, as the service's.

The service itself runs on trio in a node process, so it is not imported here; the recomputation
takes no simulated time (a validator verifies within its commit window by the guard's bound).

Behaviours, as the service's `--verifier-behaviour`: "honest"; "lazy" (copies the worker's
published hashes with a made-up witness, recomputing nothing); "silent" (never attests);
"unavailable" (reveals "unavailable" without trying).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

from chain.service.committee_duties import (
    COMMIT,
    REVEAL,
    CheckKey,
    OpenCheck,
    attestation_call,
    checks_to_watch,
    duty,
    later_open_checks,
    may_owe,
    phase_mortality,
    read_open_check,
)
from chain.service.recomputation import (
    ResultWithheld,
    Unavailable,
    gather_material,
    made_up_hashes,
    made_up_witness,
    published_hashes,
    recompute_answer,
)
from runtime.api import make_call
from runtime.block import Header
from runtime.pallets import compute
from runtime.primitives.keys import Keypair
from sim.agents.job_steps import record_step
from sim.agents.published import PublishedResults
from sim.world.context import AgentContext

log = logging.getLogger("xpl.sim.agents")

BEHAVIOURS: Final = ("honest", "lazy", "silent", "unavailable")
RESEND_AFTER_BLOCKS: Final = 2
"""Blocks a sent attestation may take to show on chain before it is sent again (while due)."""
SENT_KEPT_BLOCKS: Final = 256
"""How long an attestation's sending is remembered, in blocks: long past `RESEND_AFTER_BLOCKS`,
after which it holds nothing back (forgotten, so that a long run's memory stays flat: a member
stops owing a check without its sendings being dropped otherwise)."""
MAX_CACHED_ANSWERS: Final = 1_024
"""Answers kept between a check's commitment and its reveal."""

Answer = tuple[tuple[bytes, ...], bytes]


@dataclass
class CommitteeMember:
    """A validator's committee duties, on its own node (see the module)."""

    name: str
    key: Keypair
    results: PublishedResults
    behaviour: str = "honest"

    _known: bytes | None = field(default=None, init=False)
    _candidates: dict[CheckKey, None] = field(default_factory=dict, init=False)
    _answers: dict[tuple[int, int, int, bytes], Answer] = field(default_factory=dict, init=False)
    """By (job id, check index, round, job digest): a reorg may put another job under an id."""
    _labels: dict[tuple[int, int, int, bytes], str] = field(default_factory=dict, init=False)
    _sent: dict[tuple[CheckKey, str], int] = field(default_factory=dict, init=False)
    _sweep_at: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(
                f"unknown committee behaviour {self.behaviour!r} (one of {BEHAVIOURS})"
            )

    def start(self, ctx: AgentContext) -> None:
        """Nothing until the first block: the checks are read from the state then."""

    def sample(self, ctx: AgentContext) -> None:
        """Members write no samples (the world records validators' economics)."""

    def on_block(self, ctx: AgentContext, header: Header) -> None:
        """Do what is due in the next block on each check this member may owe something."""
        if self.behaviour == "silent" or not ctx.online:
            return
        self._refresh(ctx)
        self._forget_old_sendings(header.number)
        for key in list(self._candidates):
            due = self._due(ctx, key)
            if due is not None:
                self._attest(ctx, *due)

    def _refresh(self, ctx: AgentContext) -> None:
        """Add the checks opened since the last block (every open one after a start or a gap)."""
        opened, self._known = checks_to_watch(ctx.core().store, self.key.public, self._known)
        for key in opened:
            self._candidates.setdefault(key)

    def _due(self, ctx: AgentContext, key: CheckKey) -> tuple[OpenCheck, str] | None:
        """The check and what this member owes it in the next block; drops what needs nothing
        more."""
        best = ctx.best_header()
        read = ctx.state()
        current = read_open_check(read, *key)
        if current is None:
            self._forget(key)
            for later in later_open_checks(read, *key):
                self._candidates.setdefault(later)
            return None
        me = self.key.public
        if not may_owe(current.check, me, best.number):
            self._candidates.pop(key, None)
            return None
        what = duty(current.check, me, best.number)
        if what is None:
            return None
        sent = self._sent.get((key, what))
        if sent is not None and best.number < sent + RESEND_AFTER_BLOCKS:
            return None
        return current, what

    def _attest(self, ctx: AgentContext, current: OpenCheck, what: str) -> None:
        check = current.check
        answer, label = self._answer(current)
        best = ctx.best_header()
        phase_end = check.commit_deadline if what == COMMIT else check.reveal_deadline
        timing = phase_mortality(
            phase_end,
            best,
            ctx.finalized_header(),
            drawn_at=check.drawn_at,
            header_of=ctx.core().header,
        )
        if timing is None:
            return
        pallet, name, args = attestation_call(
            current.key, what, self.key, *answer, digest=current.digest
        )
        if ctx.submit(
            self.key, make_call(pallet, name, *args), mortality=timing[0], birth=timing[1]
        ):
            self._sent[(current.key, what)] = best.number
            if what == REVEAL:
                record_step(
                    ctx,
                    "attested",
                    current.job_id,
                    best.number,
                    current.job,
                    verdict=label,
                    distinct=(self.key.public, current.index, check.round),
                )

    def _answer(self, current: OpenCheck) -> tuple[Answer, str]:
        """The hashes and witness this member commits to and reveals (once per round), and what
        kind of answer it is."""
        check = current.check
        key = (current.job_id, current.index, check.round, current.digest)
        cached = self._answers.get(key)
        if cached is not None:
            return cached, self._labels[key]
        answer: Answer
        if self.behaviour == "lazy":
            try:
                hashes = published_hashes(current.job, check.leaves, self.results)
            except Unavailable:
                hashes = made_up_hashes(current.job_id, current.index, len(check.leaves))
            answer, label = (hashes, made_up_witness(current.job_id, current.index)), "lazy"
        elif self.behaviour == "unavailable":
            answer, label = ((), compute.NO_WITNESS), "unavailable"
        else:
            try:
                material = gather_material(current.job, check.leaves, self.results)
                answer, label = recompute_answer(material, check.mask, device="numpy"), "recomputed"
            except ResultWithheld:
                answer, label = (compute.RESULT_WITHHELD, compute.NO_WITNESS), "withheld"
            except Unavailable:
                answer, label = ((), compute.NO_WITNESS), "unavailable"
        if len(self._answers) >= MAX_CACHED_ANSWERS:
            oldest = next(iter(self._answers))
            del self._answers[oldest]
            del self._labels[oldest]
        self._answers[key] = answer
        self._labels[key] = label
        return answer, label

    def _forget_old_sendings(self, number: int) -> None:
        """Drop the sendings more than `SENT_KEPT_BLOCKS` below block `number` (every so often)."""
        if number < self._sweep_at:
            return
        self._sweep_at = number + SENT_KEPT_BLOCKS
        self._sent = {k: n for k, n in self._sent.items() if n + SENT_KEPT_BLOCKS > number}

    def _forget(self, key: CheckKey) -> None:
        self._candidates.pop(key, None)
        for sent in [s for s in self._sent if s[0] == key]:
            del self._sent[sent]
        for answer in [a for a in self._answers if a[:2] == key]:
            del self._answers[answer]
            del self._labels[answer]


__all__ = ["BEHAVIOURS", "CommitteeMember"]
