"""The client side of registered models: checking a weights file against its descriptor before
anything is paid, finding an owner's model by name, uploading the weights as a blob and
publishing a version.

    plan = plan_upload("qmlp_i8", parse_descriptor("64,64,10"), data)   # refuses a mismatch
    published = upload_model(client, keypair, plan, name="digits", licence="MIT", ...)
    ref = model_ref(client, published.model_id)    # what `jobs.make_request(model=ref)` takes
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.client.blobs import chunk_file, upload_file
from chain.client.chain import XplClient, make_call
from chain.client.jobs.requests import ModelRef
from chain.client.jobs.transactions import event_data, include
from runtime.pallets import models
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import from_hex
from runtime.primitives.keys import Keypair
from runtime.primitives.merkle import merkle_root


class ModelRequestError(ValueError):
    """A model upload that the chain would refuse, found before anything is signed."""


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """A weights file checked against its family and descriptor, with the root it will have."""

    family: str
    descriptor: bytes
    architecture: tuple[int, ...]
    data: bytes
    root: bytes


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    """A version on chain, as its publication left it."""

    model_id: int
    version: int
    created: bool
    """Whether the upload created the model (else it added a version to the owner's model)."""
    root: bytes
    size: int
    deposit: int
    block: int


def parse_descriptor(text: str) -> tuple[int, ...]:
    """The integers of `--descriptor 64,64,10`; ModelRequestError naming the bad item."""
    values = []
    for item in text.split(","):
        item = item.strip()
        if not item.isascii() or not item.isdigit():
            raise ModelRequestError(f"descriptor item {item!r}: expected a whole number")
        values.append(int(item))
    return tuple(values)


def plan_upload(family: str, architecture: tuple[int, ...], data: bytes) -> UploadPlan:
    """Check the weights `data` against the family's rules and the descriptor's implied size;
    ModelRequestError saying what is wrong (an unknown family, a value out of bounds, a file of
    the wrong size)."""
    try:
        descriptor = models.encode_descriptor(architecture)
        models.decode_descriptor(family, descriptor)
        size = models.weights_size(family, architecture)
    except ValueError as exc:
        raise ModelRequestError(str(exc)) from exc
    if len(data) != size:
        raise ModelRequestError(
            f"a {family} model {list(architecture)} has {size} bytes of weights; "
            f"the file has {len(data)}"
        )
    return UploadPlan(family, descriptor, architecture, data, merkle_root(chunk_file(data)))


def owned_model(client: XplClient, owner: bytes, name: str) -> dict[str, Any] | None:
    """The owner's model named `name` (as models_get answers it), or None."""
    page = client.rpc.call("models_list", 1, 200, encode_address(owner))
    for found in page["models"]:
        if found["name"] == name:
            return found  # type: ignore[no-any-return]
    return None


def upload_model(
    client: XplClient,
    keypair: Keypair,
    plan: UploadPlan,
    *,
    name: str,
    quantization: str,
    licence: str,
    fee_per_use: int,
    version: int | None = None,
) -> PublishedVersion:
    """Upload the weights as a blob, create the signer's model `name` if it has none, and publish
    a version of it (by default one above its latest); each step waits for its block."""
    existing = owned_model(client, keypair.public, name)
    info = upload_file(client.rpc, plan.data, signer=keypair)
    if info.root != plan.root:
        raise ModelRequestError("the node stored the weights under another root")
    if existing is None:
        outcome = include(
            client, keypair, make_call("models", "create_model", name), "creating the model"
        )
        model_id = int(event_data(outcome, "models", "ModelCreated")["model"])
        latest = 0
    else:
        model_id = int(existing["id"])
        latest = max((int(v["version"]) for v in existing["versions"]), default=0)
    number = latest + 1 if version is None else version
    call = make_call(
        "models",
        "publish_version",
        model_id,
        number,
        plan.family,
        plan.descriptor,
        plan.root,
        len(plan.data),
        quantization,
        licence,
        fee_per_use,
    )
    outcome = include(client, keypair, call, f"publishing version {number} of model {model_id}")
    published = event_data(outcome, "models", "VersionPublished")
    return PublishedVersion(
        model_id=model_id,
        version=number,
        created=existing is None,
        root=plan.root,
        size=len(plan.data),
        deposit=int(published["deposit"]),
        block=outcome.block_number,
    )


def model_ref(client: XplClient, model_id: int, version: int | None = None) -> ModelRef:
    """Version `version` of model `model_id` (by default its latest live one) as a job names it;
    ModelRequestError for an unknown model, an unknown or retired version, or no live one."""
    found = client.rpc.call("models_get", model_id)
    if found is None:
        raise ModelRequestError(f"no model {model_id}")
    versions = {int(v["version"]): v for v in found["versions"]}
    if version is None:
        live = [n for n, v in versions.items() if v["live"]]
        if not live:
            raise ModelRequestError(f"model {model_id} has no live version")
        version = max(live)
    chosen = versions.get(version)
    if chosen is None:
        raise ModelRequestError(f"model {model_id} has no version {version}")
    if not chosen["live"]:
        raise ModelRequestError(f"model {model_id} version {version} is retired")
    return ModelRef(
        model_id=model_id,
        version=version,
        family=chosen["family"],
        weights_root=from_hex(chosen["weightsRoot"], length=32),
        weights_size=int(chosen["weightsSize"]),
        fee=int(chosen["feePerUse"]),
    )
