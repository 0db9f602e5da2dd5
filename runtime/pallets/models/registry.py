"""Registering models and versions, and reading a version for a job that names it.

What other pallets call: `version_for_job(state, model_id, version, params)`, which the market
calls when a job names a model. Everything else here serves the pallet's own calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from runtime.framework import BlockContext
from runtime.pallets import balances
from runtime.pallets.models import families
from runtime.pallets.models.constants import (
    HOLD,
    MAX_FEE_PER_USE,
    MAX_LICENCE_LEN,
    MAX_MODELS_PER_OWNER,
    MAX_NAME_LEN,
    MAX_QUANTIZATION_LEN,
    MAX_VERSION_SKIP,
    MAX_VERSIONS,
    MODEL_DEPOSIT,
    STATE_BYTE_DEPOSIT,
    VERSION_DEPOSIT,
    WEIGHTS_BYTE_DEPOSIT,
)
from runtime.pallets.models.errors import (
    BadDescriptor,
    BadText,
    FeeTooLarge,
    NameTaken,
    NotModelOwner,
    ParamsMismatch,
    TooManyModels,
    TooManyVersions,
    UnknownFamily,
    UnknownModel,
    UnknownVersion,
    VersionExists,
    VersionRetired,
    VersionTooFar,
    WeightsSizeMismatch,
    WeightsTaken,
)
from runtime.pallets.models.events import ModelCreated, VersionPublished
from runtime.pallets.models.events import VersionRetired as Retired
from runtime.pallets.models.storage import (
    Model,
    Models,
    ModelVersion,
    NextModelId,
    OwnerModels,
    Publication,
    WeightsRoots,
)
from runtime.pallets.models.storage import Versions as VersionsMap
from runtime.state import StateOverlay


def check_text(what: str, text: str, max_len: int) -> None:
    """BadText naming `what` unless `text` is 1 to `max_len` printable ASCII characters without
    leading or trailing spaces (so that two names that look alike are alike)."""
    if not 1 <= len(text) <= max_len:
        raise BadText(f"the {what} must be 1 to {max_len} characters, not {len(text)}")
    if not all(" " <= c <= "~" for c in text) or text != text.strip():
        raise BadText(
            f"the {what} {text!r} must be printable ASCII without leading or trailing spaces"
        )


def model(state: StateOverlay, model_id: int) -> Model:
    """The model `model_id`; UnknownModel if there is none."""
    found = Models.get(state, model_id)
    if found is None:
        raise UnknownModel(f"no model {model_id}")
    return found


def owned_model(ctx: BlockContext, owner: bytes, model_id: int) -> Model:
    """The model `model_id` if `owner` owns it; UnknownModel or NotModelOwner."""
    found = model(ctx.state, model_id)
    if found.owner != owner:
        raise NotModelOwner(f"model {model_id} is not the caller's")
    return found


def version_of(state: StateOverlay, model_id: int, version: int) -> ModelVersion:
    """Version `version` of model `model_id`; UnknownModel or UnknownVersion."""
    model(state, model_id)
    found = VersionsMap.get(state, (model_id, version))
    if found is None:
        raise UnknownVersion(f"model {model_id} has no version {version}")
    return found


def create(ctx: BlockContext, owner: bytes, name: str) -> int:
    """Register a model named `name` owned by `owner`, holding MODEL_DEPOSIT; its id."""
    check_text("name", name, MAX_NAME_LEN)
    state = ctx.state
    owned = OwnerModels.get(state, owner) or ()
    if len(owned) >= MAX_MODELS_PER_OWNER:
        raise TooManyModels(f"an account may own at most {MAX_MODELS_PER_OWNER} models")
    for model_id in owned:
        existing = Models.get(state, model_id)
        if existing is not None and existing.name == name:
            raise NameTaken(f"the caller's model {model_id} is named {name!r}")
    balances.hold(ctx, owner, HOLD, MODEL_DEPOSIT)
    model_id = NextModelId.get(state)
    NextModelId.put(state, model_id + 1)
    Models.insert(state, model_id, Model(owner, name, ctx.number, MODEL_DEPOSIT))
    OwnerModels.insert(state, owner, (*owned, model_id))
    ctx.deposit_event(ModelCreated, model_id, owner, name)
    return model_id


def checked_descriptor(family: str, descriptor: bytes) -> tuple[int, ...]:
    """The descriptor's values, checked for its family; UnknownFamily or BadDescriptor."""
    if family not in families.FAMILIES:
        raise UnknownFamily(f"unknown family {family!r} (known: {', '.join(families.FAMILIES)})")
    try:
        return families.decode_descriptor(family, descriptor)
    except families.DescriptorError as exc:
        raise BadDescriptor(str(exc)) from exc


def record_deposit(family: str, descriptor: bytes, quantization: str, licence: str) -> int:
    """What a version's record holds for good: VERSION_DEPOSIT and STATE_BYTE_DEPOSIT a byte of
    what its size varies with."""
    varying = len(family) + len(descriptor) + len(quantization) + len(licence)
    return VERSION_DEPOSIT + STATE_BYTE_DEPOSIT * varying


def weights_deposit(weights_size: int) -> int:
    """What a live version holds for its weights: WEIGHTS_BYTE_DEPOSIT a byte."""
    return WEIGHTS_BYTE_DEPOSIT * weights_size


def publish(
    ctx: BlockContext,
    owner: bytes,
    model_id: int,
    version: int,
    published: ModelVersion,
) -> None:
    """Publish `published` (its deposits and block not yet set) as version `version` of the
    owner's model `model_id`, every rule checked, and hold its deposits."""
    state = ctx.state
    found = owned_model(ctx, owner, model_id)
    if VersionsMap.get(state, (model_id, version)) is not None or version < found.next_version:
        raise VersionExists(
            f"model {model_id}'s next version is {found.next_version} or above, not {version}"
        )
    if version > found.next_version + MAX_VERSION_SKIP:
        raise VersionTooFar(
            f"model {model_id}'s next version is {found.next_version} to "
            f"{found.next_version + MAX_VERSION_SKIP}, not {version}"
        )
    if len(found.versions) >= MAX_VERSIONS:
        raise TooManyVersions(f"a model has at most {MAX_VERSIONS} versions")
    check_text("quantization", published.quantization, MAX_QUANTIZATION_LEN)
    check_text("licence", published.licence, MAX_LICENCE_LEN)
    if published.fee_per_use > MAX_FEE_PER_USE:
        raise FeeTooLarge(f"the fee per use may be at most {MAX_FEE_PER_USE}")
    values = checked_descriptor(published.family, published.descriptor)
    size = families.weights_size(published.family, values)
    if published.weights_size != size:
        raise WeightsSizeMismatch(
            f"a {published.family} model {list(values)} has {size} bytes of weights, "
            f"not {published.weights_size}"
        )
    first = WeightsRoots.get(state, published.weights_root)
    if first is not None and model(state, first.model_id).owner != owner:
        raise WeightsTaken(
            f"these weights were first published as model {first.model_id} version "
            f"{first.version}, another account's"
        )
    deposit = record_deposit(
        published.family, published.descriptor, published.quantization, published.licence
    )
    held_for_weights = weights_deposit(size)
    balances.hold(ctx, owner, HOLD, deposit + held_for_weights)
    stored = replace(
        published, registered_at=ctx.number, deposit=deposit, weights_deposit=held_for_weights
    )
    VersionsMap.insert(state, (model_id, version), stored)
    if first is None:
        WeightsRoots.insert(state, published.weights_root, Publication(model_id, version))
    Models.insert(state, model_id, replace(found, versions=(*found.versions, version)))
    ctx.deposit_event(
        VersionPublished,
        model_id,
        version,
        stored.family,
        stored.weights_root,
        stored.weights_size,
        stored.fee_per_use,
        deposit + held_for_weights,
    )


def retire(ctx: BlockContext, owner: bytes, model_id: int, version: int) -> None:
    """Retire a live version of the owner's model: no new job may name it (jobs that did still
    settle on its terms); its weights deposit is released."""
    owned_model(ctx, owner, model_id)
    found = version_of(ctx.state, model_id, version)
    if not found.live:
        raise VersionRetired(f"model {model_id} version {version} is retired already")
    balances.release(ctx, owner, HOLD, found.weights_deposit)
    VersionsMap.insert(
        ctx.state, (model_id, version), replace(found, retired_at=ctx.number, weights_deposit=0)
    )
    ctx.deposit_event(Retired, model_id, version, found.weights_deposit)


def version_for_job(
    state: StateOverlay, model_id: int, version: int, params: Sequence[int]
) -> tuple[Model, ModelVersion, str]:
    """What a job that names version `version` of model `model_id` with `params` runs: the
    model, the version and the workload; UnknownModel, UnknownVersion, VersionRetired or
    ParamsMismatch (the params do not fit the descriptor)."""
    found = model(state, model_id)
    chosen = version_of(state, model_id, version)
    if not chosen.live:
        raise VersionRetired(f"model {model_id} version {version} was retired")
    values = checked_descriptor(chosen.family, chosen.descriptor)
    try:
        families.check_job_params(chosen.family, values, params)
    except families.DescriptorError as exc:
        raise ParamsMismatch(str(exc)) from exc
    return found, chosen, families.job_workload(chosen.family)


def first_publication(state: StateOverlay, root: bytes) -> Publication | None:
    """The (model, version) that first published the weights root `root`, retired or not; None
    if no version ever named it. The market refuses such a root as a plain job's input."""
    return WeightsRoots.get(state, root)


def live_weights(state: StateOverlay) -> set[bytes]:
    """The weights roots of every live version: the blobs the nodes keep (`blob_retention`), so
    that a model is uploaded once and runs for as long as its version is live. Reads every model
    and version (each held by its owner's deposit)."""
    roots: set[bytes] = set()
    for model_id in range(1, NextModelId.get(state)):
        found = Models.get(state, model_id)
        if found is None:
            continue
        for number in found.versions:
            chosen = VersionsMap.get(state, (model_id, number))
            if chosen is not None and chosen.live:
                roots.add(chosen.weights_root)
    return roots
