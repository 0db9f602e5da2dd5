"""The models pallet's records (a model, a version) and storage items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.framework import U64_CODEC, StorageMap, StorageValue, record_codec, value_codec
from runtime.pallets.models.constants import (
    MAX_DESCRIPTOR_BYTES,
    MAX_FAMILY_LEN,
    MAX_LICENCE_LEN,
    MAX_MODELS_PER_OWNER,
    MAX_NAME_LEN,
    MAX_QUANTIZATION_LEN,
    MAX_VERSIONS,
    NAME,
)
from runtime.primitives import codec
from runtime.schema import Record, param


@dataclass(frozen=True, slots=True)
class Model(Record):
    """A registered model: its owner, its name (unique among the owner's models) and the
    numbers of its versions, oldest first."""

    owner: bytes = param(fields.ACCOUNT)
    name: str = param(fields.str_type(MAX_NAME_LEN))
    created_at: int = param(fields.U32)
    deposit: int = param(fields.BALANCE)
    """What the owner holds for the model itself (its versions hold their own)."""
    versions: tuple[int, ...] = param(fields.tuple_type(fields.U32, MAX_VERSIONS), default=())

    @property
    def next_version(self) -> int:
        """The least number a new version may have: one above the latest."""
        return self.versions[-1] + 1 if self.versions else 1


@dataclass(frozen=True, slots=True)
class ModelVersion(Record):
    """A published version of a model: immutable but for being retired."""

    family: str = param(fields.str_type(MAX_FAMILY_LEN))
    descriptor: bytes = param(fields.bytes_type(MAX_DESCRIPTOR_BYTES))
    """The canonical encoding of the architecture (`models.families`)."""
    weights_root: bytes = param(fields.HASH)
    """The Merkle root of the weights blob (over its 64 KiB chunks, as every blob's)."""
    weights_size: int = param(fields.U64)
    quantization: str = param(fields.str_type(MAX_QUANTIZATION_LEN))
    licence: str = param(fields.str_type(MAX_LICENCE_LEN))
    fee_per_use: int = param(fields.BALANCE)
    """Paid to the model's owner by each job that names this version and settles."""
    registered_at: int = param(fields.U32)
    deposit: int = param(fields.BALANCE)
    """What the owner holds for the version's record (for good)..."""
    weights_deposit: int = param(fields.BALANCE)
    """...and for its weights, while it is live (released when it is retired)."""
    retired_at: int = param(fields.U32, default=0)
    """The block its owner retired it in (0: live); a retired version takes no new job."""

    @property
    def live(self) -> bool:
        return self.retired_at == 0


@dataclass(frozen=True, slots=True)
class Publication(Record):
    """Where a weights root was first published: by that model's owner, as that version."""

    model_id: int = param(fields.U64)
    version: int = param(fields.U32)


Models: Final = StorageMap[int, Model](
    NAME, "Models", lambda i: i.to_bytes(8, "big"), record_codec(Model)
)
Versions: Final = StorageMap[tuple[int, int], ModelVersion](
    NAME,
    "Versions",
    lambda k: k[0].to_bytes(8, "big") + k[1].to_bytes(4, "big"),
    record_codec(ModelVersion),
)
"""A model's versions, by (model id, version number)."""
WeightsRoots: Final = StorageMap[bytes, Publication](
    NAME, "WeightsRoots", lambda root: root, record_codec(Publication)
)
"""Each published weights root's first publication, kept when the version is retired: only that
model's owner may publish the root again, and a plain job may not name it as an input (a job
runs published weights only by naming a version, and so pays its fee)."""
NextModelId: Final = StorageValue[int](NAME, "NextModelId", U64_CODEC, 1)
"""The id the next model gets: ids start at 1 and are never reused."""
OwnerModels: Final = StorageMap[bytes, tuple[int, ...]](
    NAME,
    "OwnerModels",
    lambda a: a,
    value_codec(
        list,
        lambda v: tuple(
            codec.expect_u64(x, "model id")
            for x in codec.expect_array(v, MAX_MODELS_PER_OWNER, "model ids")
        ),
    ),
)
"""The ids of an account's models, oldest first (absent: none)."""
