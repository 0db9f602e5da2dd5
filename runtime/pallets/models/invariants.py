"""The models pallet's invariants, checked on committed states: deposits held match the models
and versions, and the owners' lists match the models."""

from __future__ import annotations

from runtime.pallets import system
from runtime.pallets.models.constants import HOLD
from runtime.pallets.models.storage import (
    Models,
    NextModelId,
    OwnerModels,
    Versions,
    WeightsRoots,
)
from runtime.state import PrefixIterator, StateOverlay, StateReader


def models_problems(read: StateReader, iterate: PrefixIterator) -> list[str]:
    """What is wrong with the models in a committed state (empty: nothing):

    - each account's "models" hold is the deposits of its models and their versions;
    - each account's list of models is the models it owns, and every model id is below the next;
    - each model's versions are increasing and exist, and every version belongs to a model;
    - a retired version holds no weights deposit;
    - each weights root's first publication is a version with that root, and every version with
      that root belongs to the same owner.
    """
    state = StateOverlay(read)
    problems: list[str] = []
    owed: dict[bytes, int] = {}
    owned: dict[bytes, list[int]] = {}
    listed: set[tuple[int, int]] = set()
    roots: dict[bytes, bytes] = {}
    """Each version's weights root -> its model's owner."""
    next_id = NextModelId.get(state)
    for key, raw in iterate(Models.prefix):
        model_id = int.from_bytes(Models.key_suffix(key), "big")
        found = Models.decode(raw)
        if model_id >= next_id:
            problems.append(f"model {model_id} is not below the next id {next_id}")
        owned.setdefault(found.owner, []).append(model_id)
        owed[found.owner] = owed.get(found.owner, 0) + found.deposit
        if list(found.versions) != sorted(set(found.versions)):
            problems.append(f"model {model_id}'s versions are not increasing")
        listed.update((model_id, v) for v in found.versions)
    for key, raw in iterate(Versions.prefix):
        suffix = Versions.key_suffix(key)
        model_id, number = int.from_bytes(suffix[:8], "big"), int.from_bytes(suffix[8:], "big")
        version = Versions.decode(raw)
        parent = Models.get(state, model_id)
        if (model_id, number) not in listed or parent is None:
            problems.append(f"version {number} of model {model_id} is not listed by its model")
            continue
        listed.discard((model_id, number))
        owed[parent.owner] = owed.get(parent.owner, 0) + version.deposit + version.weights_deposit
        if roots.setdefault(version.weights_root, parent.owner) != parent.owner:
            problems.append(f"two owners published the weights of model {model_id} v{number}")
        if WeightsRoots.get(state, version.weights_root) is None:
            problems.append(f"version {number} of model {model_id}'s weights are not recorded")
        if not version.live and version.weights_deposit:
            problems.append(f"retired version {number} of model {model_id} holds its weights")
    for key, raw in iterate(WeightsRoots.prefix):
        first = WeightsRoots.decode(raw)
        at = Versions.get(state, (first.model_id, first.version))
        if at is None or at.weights_root != WeightsRoots.key_suffix(key):
            problems.append(f"a weights root's first publication {first} is not its version")
    for model_id, number in sorted(listed):
        problems.append(f"model {model_id} lists version {number}, which does not exist")
    lists = {
        OwnerModels.key_suffix(k): OwnerModels.decode(v) for k, v in iterate(OwnerModels.prefix)
    }
    if {a: tuple(sorted(ids)) for a, ids in owned.items()} != {
        a: tuple(sorted(ids)) for a, ids in lists.items()
    }:
        problems.append("the owners' lists of models differ from the models")
    for key, raw in iterate(system.Account.prefix):
        account = system.Account.key_suffix(key)
        held = system.Account.decode_at(key, raw).held(HOLD)  # decoded once per version
        if held != owed.pop(account, 0):
            problems.append(f"account {account.hex()} holds {held} for models, owes other")
    for account, amount in owed.items():
        problems.append(f"account {account.hex()} owes {amount} for models but has no account")
    return problems
