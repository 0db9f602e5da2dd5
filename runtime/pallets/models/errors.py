"""The models pallet's errors: why a models call, or a job that names a model, is refused."""

from __future__ import annotations

from typing import Final

from runtime.framework import DispatchError
from runtime.pallets.models.constants import NAME


class ModelsError(DispatchError):
    """Base of the models pallet's errors."""

    pallet = NAME


class UnknownModel(ModelsError):
    """No model has this id."""


class UnknownVersion(ModelsError):
    """The model has no version with this number."""


class NotModelOwner(ModelsError):
    """Only the model's owner may do this."""


class VersionExists(ModelsError):
    """A version is published once, under a number above every earlier one: versions are
    immutable."""


class VersionTooFar(ModelsError):
    """A new version's number may be at most 1,000 above its model's next version number."""


class WeightsTaken(ModelsError):
    """Another account's model published these weights first: change a byte to publish yours.

    A weights root is bound to the owner who first published it (retired versions included), so
    that nobody republishes someone's weights at a lower fee; that owner may publish it again."""


class VersionRetired(ModelsError):
    """The model's owner retired this version: no new job may name it."""


class TooManyModels(ModelsError):
    """The account owns MAX_MODELS_PER_OWNER models already."""


class TooManyVersions(ModelsError):
    """The model has MAX_VERSIONS versions already."""


class NameTaken(ModelsError):
    """The account owns a model of this name already: publish a version of it instead."""


class BadText(ModelsError):
    """A name, licence or quantization must be printable ASCII, not empty, without leading or
    trailing spaces, and within its length limit."""


class UnknownFamily(ModelsError):
    """The workload family is not one the chain knows (qmlp_i8, tfm_i8)."""


class BadDescriptor(ModelsError):
    """The architecture descriptor is not the canonical encoding of its family's list of integers,
    or a value is out of the family's bounds."""


class WeightsSizeMismatch(ModelsError):
    """The weights' size is not the size the descriptor implies."""


class FeeTooLarge(ModelsError):
    """The fee per use is above MAX_FEE_PER_USE."""


class ParamsMismatch(ModelsError):
    """The job's parameters do not fit the model's descriptor (for qmlp_i8: its layer widths)."""


ERRORS: Final = (
    UnknownModel,
    UnknownVersion,
    NotModelOwner,
    VersionExists,
    VersionRetired,
    TooManyModels,
    TooManyVersions,
    NameTaken,
    BadText,
    UnknownFamily,
    BadDescriptor,
    WeightsSizeMismatch,
    FeeTooLarge,
    ParamsMismatch,
    VersionTooFar,
    WeightsTaken,
)
