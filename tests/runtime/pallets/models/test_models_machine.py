"""A hypothesis state machine over the models pallet: owners create models, publish versions
(next, skipped, too far, repeated or lower numbers; good and bad descriptors and sizes; by the
owner or not; weights roots another owner published first or not) and retire them. After every
step each account holds exactly the deposits of the models and versions this model says it owns,
a published version never changes but for being retired, and every pallet's invariants hold."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from runtime.pallets import models
from runtime.primitives import codec
from runtime.workloads import qmlp_model_bytes
from tests.runtime.pallets.market_helpers import OUTSIDER, REQUESTER, REQUESTER2, market_chain

OWNERS = (OUTSIDER, REQUESTER, REQUESTER2)
NAMES = ("a", "b", "c")
ARCHITECTURES = ((8, 4), (16, 8, 4), (4, 4))
ROOTS = (bytes(range(32)), bytes(32), b"\xff" * 32)


class ModelsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = market_chain()
        self.models: dict[int, tuple[int, str, list[int]]] = {}
        """Model id -> (owner index, name, version numbers)."""
        self.versions: dict[tuple[int, int], models.ModelVersion] = {}
        """What each version was published as (its deposits and block as the chain set them)."""
        self.retired: set[tuple[int, int]] = set()
        self.root_owner: dict[bytes, int] = {}
        """Each published weights root -> the owner index that first published it."""

    def owned(self, who: int) -> list[int]:
        return [i for i, (o, _, _) in self.models.items() if o == who]

    @rule(who=st.integers(0, 2), name=st.sampled_from(NAMES))
    def create(self, who: int, name: str) -> None:
        out = self.chain.call(OWNERS[who], "models", "create_model", name)
        taken = any(self.models[i][1] == name for i in self.owned(who))
        assert (out.error is None) == (not taken), out.error
        if out.error is None:
            self.models[len(self.models) + 1] = (who, name, [])

    def caller(self, model_id: int, stranger: int) -> int:
        """The model's owner, or (stranger > 0) another account."""
        found = self.models.get(model_id)
        owner = 0 if found is None else found[0]
        return (owner + stranger) % len(OWNERS)

    @rule(
        model_id=st.integers(1, 4),
        stranger=st.sampled_from([0, 0, 0, 1, 2]),
        step=st.sampled_from([1, 1, 1, 2, 0, -1, 1001, 1002]),
        root=st.sampled_from(ROOTS),
        architecture=st.sampled_from(ARCHITECTURES),
        size_off=st.sampled_from([0, 0, 0, 0, 1, -1]),
        canonical=st.sampled_from([True, True, True, False]),
        fee=st.integers(0, 10**13),
    )
    def publish(
        self,
        model_id: int,
        stranger: int,
        step: int,
        root: bytes,
        architecture: tuple[int, ...],
        size_off: int,
        canonical: bool,
        fee: int,
    ) -> None:
        who = self.caller(model_id, stranger)
        found = self.models.get(model_id)
        latest = found[2][-1] if found and found[2] else 0
        number = max(0, latest + step)
        descriptor = codec.encode(list(architecture))
        if not canonical:  # the first width in a wider form than needed
            descriptor = bytes([descriptor[0]]) + b"\xcd\x00" + descriptor[1:]
        size = qmlp_model_bytes(architecture) + size_off
        args = (model_id, number, "qmlp_i8", descriptor, root, size, "int8", "MIT", fee)
        out = self.chain.call(OWNERS[who], "models", "publish_version", *args)
        ok = (
            found is not None
            and found[0] == who
            and latest < number <= latest + 1 + models.MAX_VERSION_SKIP
            and self.root_owner.get(root, who) == who
            and canonical
            and size_off == 0
        )
        assert (out.error is None) == ok, (out.error, ok)
        if ok:
            assert found is not None
            found[2].append(number)
            self.root_owner.setdefault(root, who)
            stored = models.Versions.get(self.chain.overlay(), (model_id, number))
            assert stored is not None and stored.fee_per_use == fee
            self.versions[(model_id, number)] = stored

    @rule(
        model_id=st.integers(1, 4),
        stranger=st.sampled_from([0, 0, 0, 1]),
        index=st.integers(0, 3),
    )
    def retire(self, model_id: int, stranger: int, index: int) -> None:
        who = self.caller(model_id, stranger)
        found = self.models.get(model_id)
        numbers = found[2] if found else []
        number = numbers[index] if index < len(numbers) else 99
        out = self.chain.call(OWNERS[who], "models", "retire_version", model_id, number)
        ok = found is not None and found[0] == who and number in numbers
        ok = ok and (model_id, number) not in self.retired
        assert (out.error is None) == ok, (out.error, ok)
        if ok:
            self.retired.add((model_id, number))

    @invariant()
    def deposits_and_versions_are_as_published(self) -> None:
        state = self.chain.overlay()
        for who, owner in enumerate(OWNERS):
            owed = 0
            for model_id in self.owned(who):
                owed += models.MODEL_DEPOSIT
                for number in self.models[model_id][2]:
                    published = self.versions[(model_id, number)]
                    owed += published.deposit
                    if (model_id, number) not in self.retired:
                        owed += published.weights_deposit
            assert self.chain.held(owner, models.HOLD) == owed
        for key, published in self.versions.items():
            stored = models.Versions.get(state, key)
            assert stored is not None
            if key in self.retired:
                assert not stored.live and stored.weights_deposit == 0
                stored = replace(stored, retired_at=0, weights_deposit=published.weights_deposit)
            assert stored == published  # nothing else ever changes

    @invariant()
    def every_pallets_invariants_hold(self) -> None:
        assert self.chain.problems() == []


ModelsMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_models_machine = ModelsMachine.TestCase
