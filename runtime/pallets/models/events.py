"""The models pallet's events."""

from __future__ import annotations

from typing import Final

from runtime import fields
from runtime.framework import EventDef
from runtime.pallets.models.constants import MAX_FAMILY_LEN, MAX_NAME_LEN, NAME

_MODEL = ("model", fields.U64)
_VERSION = ("version", fields.U32)

ModelCreated: Final = EventDef(
    NAME,
    "ModelCreated",
    (_MODEL, ("owner", fields.ACCOUNT), ("name", fields.str_type(MAX_NAME_LEN))),
    "An account registered a model under a name; its deposit is held.",
)
VersionPublished: Final = EventDef(
    NAME,
    "VersionPublished",
    (
        _MODEL,
        _VERSION,
        ("family", fields.str_type(MAX_FAMILY_LEN)),
        ("weights_root", fields.HASH),
        ("weights_size", fields.U64),
        ("fee_per_use", fields.BALANCE),
        ("deposit", fields.BALANCE),
    ),
    "A model's owner published a version: its weights by root, its fee per use (immutable).",
)
VersionRetired: Final = EventDef(
    NAME,
    "VersionRetired",
    (_MODEL, _VERSION, ("released", fields.BALANCE)),
    "A model's owner retired a version: no new job may name it; its weights deposit is released.",
)

EVENTS: Final = (ModelCreated, VersionPublished, VersionRetired)
