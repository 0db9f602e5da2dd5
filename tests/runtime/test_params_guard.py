"""No path through the parameter calls stores parameters their own check refuses: a state machine
of Root's `set_params` of every pallet with parameters (compute, market, staking, transaction
payment, the treasury, ...), in any order, each with values near the rules' edges and beyond
them. After every step, every pallet's stored parameters pass that pallet's `check_params` in the
state (compute's incentive guard over the market's slash among them: changing the market's
parameters never lets faking pay); a refused call changes nothing and says why."""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import runtime.executive
from runtime import dispatch
from runtime.framework import ROOT, BlockContext, DispatchError, Pallet, StorageValue
from runtime.genesis import build_genesis_state
from runtime.pallets import market, transaction_payment
from runtime.pallets.market import PPM
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.schema import FieldSpec, Record
from runtime.state import StateOverlay
from tests.runtime.conftest import dev_genesis_config

PALLETS = {p.NAME: p for p in runtime.executive.PALLETS if p.PARAMS is not None}
"""Every pallet with parameters (a pallet added to the runtime is covered at once)."""


def params_item(pallet: Pallet) -> StorageValue[Any]:
    """The storage item a pallet keeps its parameters in: the `Params` its module uses."""
    for module in (type(pallet).__module__, f"runtime.pallets.{pallet.NAME}"):
        item = getattr(importlib.import_module(module), "Params", None)
        if isinstance(item, StorageValue):
            return item
    raise AssertionError(f"{pallet.NAME} declares PARAMS but keeps no `Params` storage item")


STORED: dict[str, Any] = {name: params_item(pallet) for name, pallet in PALLETS.items()}
"""Each pallet's stored parameters."""
OTHERS = sorted(set(PALLETS) - {"compute", "market"})
"""The pallets drawn by `set_other` (compute and market have rules of their own, near the
incentive guard's edges)."""


def field_values(f: FieldSpec) -> st.SearchStrategy[int]:
    """A field's value: at an edge of its range or its default, just past an edge, or anywhere
    its type allows."""
    assert f.lo is not None and f.hi is not None
    type_lo, type_hi = f.ftype.bounds or (f.lo, f.hi)
    inside = sorted({f.lo, f.hi, f.default, f.default + 1, max(f.default - 1, f.lo)} - {f.hi + 1})
    outside = sorted({v for v in (f.lo - 1, f.hi + 1) if type_lo <= v <= type_hi})
    choices = [st.sampled_from(inside), st.integers(type_lo, min(type_hi, 2 * f.hi + 1))]
    if outside:
        choices.append(st.sampled_from(outside))
    return st.one_of(*choices)


def near_edges(record: type[Record]) -> st.SearchStrategy[Any]:
    """A record of defaults with one field changed (`field_values`), or with every field drawn
    (most of those are refused: some field is out of range or a rule between them broken)."""
    specs = record.schema().fields
    defaults = [f.default for f in specs]

    @st.composite
    def one_changed(draw: st.DrawFn) -> Any:
        index = draw(st.integers(0, len(specs) - 1))
        values = list(defaults)
        values[index] = draw(field_values(specs[index]))
        return record(*values)

    every = st.tuples(*(field_values(f) for f in specs)).map(lambda v: record(*v))
    return st.one_of(one_changed(), one_changed(), every)


class ParamsMachine(RuleBasedStateMachine):
    """Root changes parameters in any order; the stored ones always pass their checks."""

    def __init__(self) -> None:
        super().__init__()
        genesis = build_genesis_state(dev_genesis_config())
        self.ctx = BlockContext(
            state=StateOverlay(genesis.get),
            number=1,
            parent_hash=ZERO_HASH,
            timestamp=0,
            author=dev_keypair("Alice").public,
            genesis_hash=ZERO_HASH,
        )
        self.checked: dict[str, Any] = {}

    def stored(self, pallet: str) -> Any:
        return STORED[pallet].get(self.ctx.state)

    def set_params(self, pallet: str, params: Record) -> None:
        """Root's set_params with `params`: stored exactly if accepted, else nothing changed and
        the refusal is the pallet's BadParams with a reason."""
        before = {name: self.stored(name) for name in STORED}
        values = tuple(getattr(params, f.name) for f in params.schema().fields)
        raw = dispatch.encode_call(pallet, "set_params", values)
        events = len(self.ctx.events)
        try:
            dispatch.dispatch(self.ctx, ROOT, raw)
        except DispatchError as exc:
            assert exc.error_name() == "BadParams" and exc.pallet == pallet, exc
            assert exc.reason() and exc.reason() != exc.describe()  # says which rule
            assert {name: self.stored(name) for name in STORED} == before
            assert len(self.ctx.events) == events
            event(f"{pallet}: refused")
            return
        event(f"{pallet}: accepted")
        assert self.stored(pallet) == params
        assert [(r.event.pallet, r.event.name) for r in self.ctx.events[events:]][-1] == (
            pallet,
            "ParamsChanged",
        )

    @rule(
        slash_ppm=st.sampled_from([0, PPM // 10, PPM // 2, PPM, 2 * PPM, 3 * PPM, 100 * PPM]),
        fees=st.sampled_from([(0, 0), (20_000, 50_000), (PPM, PPM)]),
        others=near_edges(market.MarketParams),
        whole=st.booleans(),
    )
    def set_market(self, slash_ppm: int, fees: tuple[int, int], others: Any, whole: bool) -> None:
        """The market's parameters: mostly the current ones with a new slash and fees (the
        fields the guard and settlement read), sometimes a record near every edge."""
        current = self.stored("market")
        candidate = others if whole else current
        candidate = replace(
            candidate, slash_ppm=slash_ppm, protocol_fee_ppm=fees[0], verification_fee_ppm=fees[1]
        )
        self.set_params("market", candidate)

    @rule(
        audit_ppm=st.sampled_from([0, 650_000, PPM, PPM, PPM]),
        audit_leaves=st.sampled_from([1, 16, 16, 64]),
        committee_size=st.sampled_from([1, 3, 5, 5, 9]),
        challenger_share_ppm=st.sampled_from([0, 250_000, 250_000, PPM]),
        collusion_ppm=st.sampled_from([0, 0, 100_000, 250_000, PPM // 2]),
        margin_ppm=st.sampled_from([0, 250_000, 250_000, 2 * PPM]),
    )
    def set_compute(
        self,
        audit_ppm: int,
        audit_leaves: int,
        committee_size: int,
        challenger_share_ppm: int,
        collusion_ppm: int,
        margin_ppm: int,
    ) -> None:
        """The verification parameters the guard weighs, each at a value that may or may not
        keep faking unprofitable with the market's slash in force."""
        candidate = replace(
            self.stored("compute"),
            audit_ppm=audit_ppm,
            audit_leaves=audit_leaves,
            committee_size=committee_size,
            challenger_share_ppm=challenger_share_ppm,
            collusion_ppm=collusion_ppm,
            margin_ppm=margin_ppm,
        )
        self.set_params("compute", candidate)

    @rule(data=st.data(), pallet=st.sampled_from(OTHERS))
    def set_other(self, data: st.DataObject, pallet: str) -> None:
        """Any other pallet's parameters, near their edges (staking, transaction payment, the
        treasury, ...)."""
        record = PALLETS[pallet].PARAMS
        assert record is not None
        self.set_params(pallet, data.draw(near_edges(record)))

    @invariant()
    def stored_parameters_pass_their_checks(self) -> None:
        state = self.ctx.state
        stored = {name: self.stored(name) for name in PALLETS}
        if stored == self.checked:
            return  # a refused call changed nothing (checked above): the guard is costly
        for name, pallet in PALLETS.items():
            pallet.check_params(state, stored[name])
        self.checked = stored
        terms = self.stored("transaction_payment")
        multiplier = transaction_payment.NextFeeMultiplier.get(state)
        assert terms.min_multiplier <= multiplier <= terms.max_multiplier


ParamsMachine.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestParamsMachine = ParamsMachine.TestCase
