"""What the world sees of its nodes: it records blocks, finality and economics, and judges the
invariants, from the actions the nodes' cores return (a network observer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from chain.core.actions import Action, BlockImported, Finalized
from runtime.accounts import TREASURY
from runtime.api import account_info
from runtime.block import Header
from runtime.primitives.address import encode_address
from sim.invariants import KEPT_BLOCKS, InvariantChecker, InvariantViolated, Violation, issuance_of
from sim.network import SimNode
from sim.tables import Recorder
from sim.world.build import World


@dataclass
class Economics:
    """Cumulative figures over the blocks the first validator finalized."""

    block: int = 0
    issuance: int = 0
    treasury: int = 0
    fees: int = 0
    rewards: int = 0
    minted: int = 0
    burned: int = 0


class Observation:
    """The world's observer: rows for blocks and finality, invariants after every block."""

    def __init__(
        self,
        world: World,
        recorder: Recorder,
        replay: Callable[[int], str],
        on_best: Callable[[str, Header], None] | None = None,
    ) -> None:
        self.world = world
        self.recorder = recorder
        self.replay = replay
        """The replay command of the run to a simulated time."""
        self.on_best = on_best
        """Called with a node's name and its new best block."""
        genesis = world.spec.genesis_header()
        state = world.spec.genesis_state()
        self.checker = InvariantChecker(
            genesis_issuance=issuance_of(state.get),
            genesis_hash=genesis.hash,
            report=self._report,
            stakes={v.name: v.bond for v in world.validators},
        )
        self.recorded: dict[bytes, int] = {}
        """Blocks recorded in the blocks table, by hash, with their numbers (those more than
        KEPT_BLOCKS below the highest finality are forgotten: memory stays flat)."""
        self.forgotten_below = 0
        """Blocks below this height count as recorded (all that were are final by now)."""
        self.blocks_recorded = 0
        self.heights: dict[str, tuple[int, int]] = {}
        """Each node's (best, finalized) heights last recorded."""
        self.first = world.validator_names[0]
        self.final_header: Header = genesis
        """The first validator's finalized head."""
        self.economics = Economics(issuance=self.checker.genesis_issuance)
        self.economics_recorded = replace(self.economics)
        """The figures at the last economics row (its fees, rewards, minted and burned are
        what happened since)."""

    def __call__(self, node: SimNode, action: Action) -> None:
        if isinstance(action, BlockImported):
            self._on_block(node, action)
        elif isinstance(action, Finalized):
            self._on_finalized(node, action)

    def _on_block(self, node: SimNode, action: BlockImported) -> None:
        core = node.require_core()
        header = action.header
        t_ms = self.world.t_ms()
        if header.number >= self.forgotten_below and header.hash not in self.recorded:
            self.recorded[header.hash] = header.number
            self.blocks_recorded += 1
            body = core.store.body(header.hash) or ()
            self.recorder.row(
                "blocks",
                t_ms=t_ms,
                number=header.number,
                hash=header.hash.hex(),
                parent=header.parent_hash.hex(),
                author=encode_address(header.digest.author),
                slot=header.digest.slot,
                size_bytes=len(header.encode()) + sum(len(x) for x in body),
                extrinsics=len(body),
            )
        self.checker.on_import(node.name, header)
        self.checker.on_block(node.name, header, core.reader, core.store.check_invariants)
        self.checker.on_finality(node.name, core.finalized_header)
        self._record_heights(node)
        if action.best and self.on_best is not None:
            self.on_best(node.name, header)

    def _on_finalized(self, node: SimNode, action: Finalized) -> None:
        self.checker.on_finalized(node.name, action.headers)
        core = node.require_core()
        self.checker.on_finality(node.name, core.finalized_header)
        self._record_heights(node)
        if node.name != self.first:
            return
        e = self.economics
        for header in action.headers:
            if header.number <= e.block:
                continue
            figures = self.checker.figures.get(header.hash)
            if figures is not None:
                e.fees += figures.fees
                e.rewards += figures.rewards
                e.minted += figures.minted
                e.burned += figures.burned
                e.issuance = figures.issuance
            e.block = header.number
            self.final_header = header
        e.treasury = account_info(core.reader(core.finalized_header.hash), TREASURY).total

    def _record_heights(self, node: SimNode) -> None:
        core = node.require_core()
        heights = (core.best_header.number, core.finalized_header.number)
        if self.heights.get(node.name) == heights:
            return
        self.heights[node.name] = heights
        self.recorder.row(
            "finality",
            t_ms=self.world.t_ms(),
            node=node.name,
            best=heights[0],
            finalized=heights[1],
            lag_blocks=heights[0] - heights[1],
        )

    def record_economics(self) -> None:
        """One row of the economics table: the figures up to the first validator's finality."""
        self._forget()
        e, last = self.economics, self.economics_recorded
        self.recorder.row(
            "economics",
            t_ms=self.world.t_ms(),
            block=e.block,
            issuance=e.issuance,
            fees=e.fees - last.fees,
            treasury=e.treasury,
            rewards=e.rewards - last.rewards,
            minted=e.minted - last.minted,
            burned=e.burned - last.burned,
        )
        self.economics_recorded = replace(e)

    def _forget(self) -> None:
        """Forget recorded blocks and finalized heights far below finality."""
        below = max(self.checker.finalized_heights, default=0) - KEPT_BLOCKS
        if below <= self.forgotten_below:
            return
        self.forgotten_below = below
        self.recorded = {h: n for h, n in self.recorded.items() if n >= below}
        self.checker.forget_below(below)

    def _report(self, name: str, node: str, header: Header, detail: str) -> None:
        t_ms = self.world.t_ms()
        raise InvariantViolated(
            Violation(
                name=name,
                node=node,
                block=header.number,
                t_ms=t_ms,
                detail=detail,
                replay=self.replay(t_ms),
            )
        )
