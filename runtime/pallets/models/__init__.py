"""Models: a model registered once by its owner, in immutable versions that jobs name by
(model id, version) instead of uploading weights with every job.

Rules, each with what an attacker can still do within it:

1. A model. `create_model(name)` registers a model owned by the caller, holding MODEL_DEPOSIT
   (1 XPL) until the model is gone (models are never removed today); its name is printable ASCII
   (1 to 64 characters, no leading or trailing space) and unique among the owner's models, and
   an account owns at most MAX_MODELS_PER_OWNER (16). Ids count from 1 and are never reused.
   Attacker: a squatter registers many names. Names are not unique across owners, so taking a
   name denies it to nobody (a model is called by its id; `xpl model show` prints its owner);
   each name costs the deposit, and an account holds at most 16 of them.
2. A version. `publish_version(model, version, family, descriptor, weights_root, weights_size,
   quantization, licence, fee_per_use)`, by the owner only, above every earlier version number
   (a version that exists, or a lower number, is refused: versions are immutable) and at most
   MAX_VERSION_SKIP (1,000) above the next (VersionTooFar: no owner can take the last number a
   call can name and leave its model no number for a next version). The
   descriptor is its family's canonical encoding (`families`), within its bounds, and the
   weights' size is the size it implies; the fee per use is at most MAX_FEE_PER_USE. It holds
   VERSION_DEPOSIT plus STATE_BYTE_DEPOSIT per byte of its variable fields (for good) and
   WEIGHTS_BYTE_DEPOSIT per byte of weights (while it is live: every node keeps a live version's
   weights blob, `live_weights`, so that the model is uploaded once). Attacker: an owner raises its
   fee once jobs use the model. It cannot: a version's fee never changes, a job holds the fee of
   the version it names at submission, and a new version is a new name that jobs must choose.
   A huge descriptor: refused past MAX_DESCRIPTOR_BYTES before it is decoded. Another account
   republishes the owner's weights root under its own model at fee 0: refused (WeightsTaken); a
   root's first publication is kept (`WeightsRoots`, retired versions included) and only that
   model's owner may publish the root again (in any of its models). What remains: the rule binds
   those exact bytes (anyone may download the blob, change a byte and publish the result as its
   own), and whoever publishes a root first owns it, so a front-runner that copies the root of a
   publication waiting in the pool takes it (paying the deposits); the victim changes a byte of
   its weights and publishes again, before uploading them.
3. Retiring. `retire_version(model, version)`, by the owner: no new job may name it; jobs that
   did settle on its terms; its weights deposit is released, its record stays, and the nodes
   let its weights go one retention period later (unless an open job names them).
4. A job that names a model (`market.submit_model_job`): the market asks `version_for_job` for
   the live version, checks the job's parameters against its descriptor, fills the job's
   "model" input with the weights root, and holds the fee per use with the escrow; it pays the
   owner when the job settles and returns it whenever the job ends otherwise. Attacker: a
   requester names a version whose weights nobody serves: as for any input nobody serves, two
   workers decline the job and it expires, refunded, and the requester pays its fees. A
   requester names the weights root in a plain `market.submit_job` (or as another input of a
   model job) to run them without the fee: refused (market's ModelWeightsInput), for a retired
   version's weights too; published weights enter a job only as the "model" input of a job that
   names their version. A grant's
   builder cannot pay its own model's fee out of a grant: a grant's account may make only
   `market.submit_job` and `market.cancel_job`.

Invariants: each owner's "models" hold is the deposits of its models and versions; the owners'
lists match the models; versions are listed by their models in increasing order.

The package: `constants`, `families` (descriptors, weights sizes, job params), `storage`,
`events`, `errors`, `registry` (the rules), `invariants`, `pallet`. Other code imports it as one:
`from runtime.pallets import models`.
"""

from __future__ import annotations

from runtime.pallets.models.constants import (
    HOLD,
    MAX_DESCRIPTOR_BYTES,
    MAX_FEE_PER_USE,
    MAX_MODELS_PER_OWNER,
    MAX_VERSION_SKIP,
    MAX_VERSIONS,
    MODEL_DEPOSIT,
    NAME,
    STATE_BYTE_DEPOSIT,
    VERSION_DEPOSIT,
    WEIGHTS_BYTE_DEPOSIT,
)
from runtime.pallets.models.families import (
    FAMILIES,
    DescriptorError,
    decode_descriptor,
    encode_descriptor,
    weights_size,
)
from runtime.pallets.models.pallet import Models as ModelsPallet
from runtime.pallets.models.registry import (
    first_publication,
    live_weights,
    record_deposit,
    version_for_job,
    version_of,
    weights_deposit,
)
from runtime.pallets.models.storage import (
    Model,
    Models,
    ModelVersion,
    NextModelId,
    OwnerModels,
    Publication,
    Versions,
    WeightsRoots,
)

__all__ = [
    "FAMILIES",
    "HOLD",
    "MAX_DESCRIPTOR_BYTES",
    "MAX_FEE_PER_USE",
    "MAX_MODELS_PER_OWNER",
    "MAX_VERSIONS",
    "MAX_VERSION_SKIP",
    "MODEL_DEPOSIT",
    "NAME",
    "STATE_BYTE_DEPOSIT",
    "VERSION_DEPOSIT",
    "WEIGHTS_BYTE_DEPOSIT",
    "DescriptorError",
    "Model",
    "ModelVersion",
    "Models",
    "ModelsPallet",
    "NextModelId",
    "OwnerModels",
    "Publication",
    "Versions",
    "WeightsRoots",
    "decode_descriptor",
    "encode_descriptor",
    "first_publication",
    "live_weights",
    "record_deposit",
    "version_for_job",
    "version_of",
    "weights_deposit",
    "weights_size",
]
