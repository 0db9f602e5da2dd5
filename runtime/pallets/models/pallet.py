"""The Models pallet: its calls and invariants (no hooks, no parameters, nothing at genesis)."""

from __future__ import annotations

from typing import Any

from runtime import fields
from runtime.framework import BlockContext, Origin, Pallet, call, ensure_signed
from runtime.pallets.models import registry
from runtime.pallets.models.constants import (
    CREATE_WEIGHT,
    MAX_DESCRIPTOR_BYTES,
    MAX_FAMILY_LEN,
    MAX_LICENCE_LEN,
    MAX_NAME_LEN,
    MAX_QUANTIZATION_LEN,
    MODEL_DEPOSIT,
    NAME,
    PUBLISH_WEIGHT,
    RETIRE_WEIGHT,
)
from runtime.pallets.models.errors import ERRORS
from runtime.pallets.models.events import EVENTS
from runtime.pallets.models.invariants import models_problems
from runtime.pallets.models.storage import ModelVersion
from runtime.state import PrefixIterator, StateReader

_MODEL = ("model_id", fields.U64)
_VERSION = ("version", fields.U32)


def _publish_holds(_ctx: BlockContext, args: tuple[Any, ...]) -> int:
    """A publication's outflow: its deposits, for the record and for the weights (what it holds
    if it succeeds; a refused one holds nothing)."""
    family, descriptor, size, quantization, licence = (args[i] for i in (2, 3, 5, 6, 7))
    held_for_record = registry.record_deposit(family, descriptor, quantization, licence)
    return held_for_record + registry.weights_deposit(size)


class Models(Pallet):
    """Models registered once by their owners, in immutable versions that jobs name."""

    NAME = NAME
    EVENTS = EVENTS
    ERRORS = ERRORS

    # Calls

    @call(
        args=(("name", fields.str_type(MAX_NAME_LEN)),),
        weight=CREATE_WEIGHT,
        outflow=MODEL_DEPOSIT,
    )
    def create_model(self, ctx: BlockContext, origin: Origin, name: str) -> None:
        """Register a model under `name` (unique among the caller's models), holding
        MODEL_DEPOSIT; at most MAX_MODELS_PER_OWNER per account."""
        registry.create(ctx, ensure_signed(origin), name)

    @call(
        args=(
            _MODEL,
            _VERSION,
            ("family", fields.str_type(MAX_FAMILY_LEN)),
            ("descriptor", fields.bytes_type(MAX_DESCRIPTOR_BYTES)),
            ("weights_root", fields.HASH),
            ("weights_size", fields.U64),
            ("quantization", fields.str_type(MAX_QUANTIZATION_LEN)),
            ("licence", fields.str_type(MAX_LICENCE_LEN)),
            ("fee_per_use", fields.BALANCE),
        ),
        weight=PUBLISH_WEIGHT,
        outflow=_publish_holds,
    )
    def publish_version(
        self,
        ctx: BlockContext,
        origin: Origin,
        model_id: int,
        version: int,
        family: str,
        descriptor: bytes,
        weights_root: bytes,
        weights_size: int,
        quantization: str,
        licence: str,
        fee_per_use: int,
    ) -> None:
        """Publish an immutable version of the caller's model: its weights blob by root and size
        (the size its descriptor implies), its family and canonical descriptor, quantization,
        licence and fee per use. Holds a deposit for the record and one per byte of weights."""
        owner = ensure_signed(origin)
        published = ModelVersion(
            family=family,
            descriptor=descriptor,
            weights_root=weights_root,
            weights_size=weights_size,
            quantization=quantization,
            licence=licence,
            fee_per_use=fee_per_use,
            registered_at=0,
            deposit=0,
            weights_deposit=0,
        )
        registry.publish(ctx, owner, model_id, version, published)

    @call(args=(_MODEL, _VERSION), weight=RETIRE_WEIGHT, outflow=0)
    def retire_version(
        self, ctx: BlockContext, origin: Origin, model_id: int, version: int
    ) -> None:
        """Retire a version of the caller's model: no new job may name it (jobs that did settle
        on its terms); its weights deposit is released."""
        registry.retire(ctx, ensure_signed(origin), model_id, version)

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """Deposits held match the models and versions; the owners' lists match the models."""
        return models_problems(read, iterate)
