"""The models namespace: registered models and their versions.

    models_list(from?, limit?, owner?, at?) → {"models": [model], "next": id or null}: models by
        id from `from` (default 1), at most `limit` (default 50, at most MAX_LIMIT); `next` is the
        id to ask for the next page (null: no more). With `owner`, only that account's models
        (at most MAX_MODELS_PER_OWNER, one page).
    models_get(id, at?) → a model with every version, or null
    models_version(id, version, at?) → a version, or null

A model is {"id", "owner", "name", "createdAt", "deposit", "versions": [version]}; a version is
{"model", "version", "family", "descriptor" (0x hex), "architecture" (the descriptor's integers),
"weightsRoot", "weightsSize", "quantization", "licence", "feePerUse", "registeredAt", "deposit",
"weightsDeposit", "live", "retiredAt"}. Amounts are decimal strings, roots 0x hex, accounts
addresses, as in the rest of the RPC.
"""

from __future__ import annotations

from typing import Any, Final

from chain.service.rpc.context import RpcContext
from chain.service.rpc.params import canonical_int, param
from chain.service.rpc.protocol import Params
from runtime.pallets import models
from runtime.primitives import codec
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.hashing import to_hex
from runtime.state import StateOverlay

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200
"""The most models one models_list answers (each with up to MAX_VERSIONS versions)."""


def version_json(model_id: int, number: int, version: models.ModelVersion) -> dict[str, Any]:
    """A model's version as RPC answers it."""
    try:
        architecture: list[int] | None = list(
            models.decode_descriptor(version.family, version.descriptor)
        )
    except models.DescriptorError:
        architecture = None
    return {
        "model": model_id,
        "version": number,
        "family": version.family,
        "descriptor": to_hex(version.descriptor),
        "architecture": architecture,
        "weightsRoot": to_hex(version.weights_root),
        "weightsSize": version.weights_size,
        "quantization": version.quantization,
        "licence": version.licence,
        "feePerUse": str(version.fee_per_use),
        "registeredAt": version.registered_at,
        "deposit": str(version.deposit),
        "weightsDeposit": str(version.weights_deposit),
        "live": version.live,
        "retiredAt": version.retired_at or None,
    }


def model_json(state: StateOverlay, model_id: int, model: models.Model) -> dict[str, Any]:
    """A model with its versions, oldest first, as RPC answers it."""
    versions = []
    for number in model.versions:
        version = models.Versions.get(state, (model_id, number))
        if version is not None:
            versions.append(version_json(model_id, number, version))
    return {
        "id": model_id,
        "owner": encode_address(model.owner),
        "name": model.name,
        "createdAt": model.created_at,
        "deposit": str(model.deposit),
        "versions": versions,
    }


def list_json(
    state: StateOverlay, start: int, limit: int, owner: bytes | None = None
) -> dict[str, Any]:
    """A page of models as models_list answers it."""
    if owner is not None:
        ids = [i for i in models.OwnerModels.get(state, owner) or () if i >= start][:limit]
        found = [(i, models.Models.get(state, i)) for i in ids]
        return {
            "models": [model_json(state, i, m) for i, m in found if m is not None],
            "next": None,
        }
    end = min(models.NextModelId.get(state), start + limit)
    page = []
    for model_id in range(start, end):
        model = models.Models.get(state, model_id)
        if model is not None:
            page.append(model_json(state, model_id, model))
    return {"models": page, "next": end if end < models.NextModelId.get(state) else None}


def _model_id(value: Any) -> int:
    model_id = canonical_int(value, "a model id")
    if model_id > codec.U64_MAX:
        raise ValueError("a model id is below 2^64")
    return model_id


def _version(value: Any) -> int:
    number = canonical_int(value, "a version number")
    if number > codec.U32_MAX:
        raise ValueError("a version number is below 2^32")
    return number


def _limit(value: Any) -> int:
    if type(value) is not int or not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"expected an integer from 1 to {MAX_LIMIT}")
    return value


def add_models_methods(ctx: RpcContext) -> None:
    """Register the models_* methods."""

    def state_at(params: Params, index: int) -> StateOverlay:
        return StateOverlay(ctx.reader_at(ctx.at_hash(params, index)))

    def models_list(params: Params) -> Any:
        start = param(params, 0, "from", _model_id, default=1)
        limit = param(params, 1, "limit", _limit, default=DEFAULT_LIMIT)
        owner = param(params, 2, "owner", parse_account, default=None)
        return list_json(state_at(params, 3), max(start, 1), limit, owner)

    def models_get(params: Params) -> Any:
        model_id = param(params, 0, "id", _model_id)
        state = state_at(params, 1)
        model = models.Models.get(state, model_id)
        return None if model is None else model_json(state, model_id, model)

    def models_version(params: Params) -> Any:
        model_id = param(params, 0, "id", _model_id)
        number = param(params, 1, "version", _version)
        version = models.Versions.get(state_at(params, 2), (model_id, number))
        return None if version is None else version_json(model_id, number, version)

    ctx.add("models_list", models_list, ("from", "limit", "owner", "at"))
    ctx.add("models_get", models_get, ("id", "at"))
    ctx.add("models_version", models_version, ("id", "version", "at"))


__all__ = ["add_models_methods", "list_json", "model_json", "version_json"]
