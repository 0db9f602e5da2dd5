"""models_list, models_get and models_version as a requester reads them: models by id in pages,
an owner's models, a model with its versions, one version with its architecture; bad parameters
named; a model job's model in market_job's JSON, read back by the client."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from chain.client.chain import job_from_json
from chain.client.jobs import job_summary
from chain.service.metrics import NodeMetrics
from chain.service.rpc.context import RpcContext
from chain.service.rpc.errors import RpcError
from chain.service.rpc.market import job_json
from chain.service.rpc.models import MAX_LIMIT, add_models_methods
from chain.service.rpc.registry import Method, RpcMethods
from runtime.pallets import market, models
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import to_hex
from tests.runtime.pallets.market_helpers import REQUESTER, MarketChain, market_chain
from tests.runtime.pallets.models.conftest import (
    DESCRIPTOR,
    DIMS,
    FEE,
    OWNER,
    WEIGHTS,
    WEIGHTS_ROOT,
    publish,
)


class LocalRpc:
    """The models_* methods answered in this process from a chain's best state."""

    def __init__(self, chain: MarketChain) -> None:
        best = b"\x01" * 32
        store = SimpleNamespace(
            best_hash=best,
            header=lambda h: object() if h == best else None,
            reader=lambda _h: chain.read,
        )
        node = SimpleNamespace(core=SimpleNamespace(store=store), metrics=NodeMetrics())
        self.methods = RpcMethods()
        add_models_methods(RpcContext(node, self.methods))  # type: ignore[arg-type]

    def call(self, name: str, *params: Any, **named: Any) -> Any:
        method = self.methods.lookup(name)
        assert isinstance(method, Method)
        return method.handler(named if named else list(params))


@pytest.fixture(scope="module")
def rpc() -> LocalRpc:
    """Oscar's models 1 ("digits": versions 1 and 2, 2 retired) and 3 ("other"); Rita's 2."""
    chain = market_chain()
    assert chain.call(OWNER, "models", "create_model", "digits").error is None
    assert chain.call(REQUESTER, "models", "create_model", "rita's").error is None
    assert chain.call(OWNER, "models", "create_model", "other").error is None
    assert publish(chain).error is None
    assert publish(chain, version=2, fee=0, licence="Apache-2.0").error is None
    assert chain.call(OWNER, "models", "retire_version", 1, 2).error is None
    assert chain.problems() == []
    return LocalRpc(chain)


def test_a_version_shows_its_architecture_weights_and_terms(rpc: LocalRpc) -> None:
    version = rpc.call("models_version", 1, 1)
    deposit = models.record_deposit("qmlp_i8", DESCRIPTOR, "int8-symmetric", "MIT")
    assert version == {
        "model": 1,
        "version": 1,
        "family": "qmlp_i8",
        "descriptor": to_hex(DESCRIPTOR),
        "architecture": list(DIMS),
        "weightsRoot": to_hex(WEIGHTS_ROOT),
        "weightsSize": len(WEIGHTS),
        "quantization": "int8-symmetric",
        "licence": "MIT",
        "feePerUse": str(FEE),
        "registeredAt": version["registeredAt"],
        "deposit": str(deposit),
        "weightsDeposit": str(models.weights_deposit(len(WEIGHTS))),
        "live": True,
        "retiredAt": None,
    }
    retired = rpc.call("models_version", id=1, version=2)
    assert (retired["live"], retired["weightsDeposit"], retired["licence"]) == (
        False,
        "0",
        "Apache-2.0",
    )
    assert retired["retiredAt"] > version["registeredAt"]
    assert rpc.call("models_version", 1, 3) is None and rpc.call("models_version", 9, 1) is None


def test_a_model_lists_its_versions_and_owner(rpc: LocalRpc) -> None:
    model = rpc.call("models_get", 1)
    assert (model["id"], model["name"], model["owner"]) == (
        1,
        "digits",
        encode_address(OWNER.public),
    )
    assert model["deposit"] == str(models.MODEL_DEPOSIT)
    assert [v["version"] for v in model["versions"]] == [1, 2]
    assert model["versions"][0] == rpc.call("models_version", 1, 1)
    assert rpc.call("models_get", 4) is None


def test_the_list_pages_by_id_and_filters_by_owner(rpc: LocalRpc) -> None:
    first = rpc.call("models_list", 1, 2)
    assert [m["id"] for m in first["models"]] == [1, 2] and first["next"] == 3
    rest = rpc.call("models_list", first["next"], 2)
    assert [m["id"] for m in rest["models"]] == [3] and rest["next"] is None
    assert [m["id"] for m in rpc.call("models_list")["models"]] == [1, 2, 3]
    mine = rpc.call("models_list", owner=encode_address(OWNER.public))
    assert [m["name"] for m in mine["models"]] == ["digits", "other"]
    assert rpc.call("models_list", 0)["models"][0]["id"] == 1  # ids start at 1


@pytest.mark.parametrize(
    ("method", "params", "named"),
    [
        pytest.param("models_get", [], "missing parameter 'id'", id="no-id"),
        pytest.param("models_get", [-1], "id", id="negative-id"),
        pytest.param("models_get", [2**64], "id", id="id-too-big"),
        pytest.param("models_version", [1, 2**32], "version", id="version-too-big"),
        pytest.param("models_list", [1, MAX_LIMIT + 1], "limit", id="limit-too-big"),
        pytest.param("models_list", [1, 0], "limit", id="limit-zero"),
        pytest.param("models_list", [1, 5, "nobody"], "owner", id="bad-owner"),
    ],
)
def test_bad_parameters_are_named(
    rpc: LocalRpc, method: str, params: list[Any], named: str
) -> None:
    with pytest.raises(RpcError, match=named):
        rpc.call(method, *params)


def test_a_model_job_reads_back_with_its_model_and_digest() -> None:
    """The client rebuilds a model job from market_job's JSON with the same digest, so that the
    calls it signs about the job (cancel, commit) name it."""
    job = market.Job(
        requester=REQUESTER.public, workload="qmlp_i8", params=(10, 1, *DIMS),
        inputs=(("x", b""), ("model", WEIGHTS_ROOT)), seed=7, max_price=10**15, cost_units=81_920,
        leaves=10, escrow=5 * FEE, mode="always", deadline_blocks=10, expires_at=9,
        submitted_at=3, state="pending", model=market.ModelUse(1, 1, OWNER.public, FEE),
    )  # fmt: skip
    data = job_json(4, job)
    assert data["model"] == {
        "id": 1,
        "version": 1,
        "owner": encode_address(OWNER.public),
        "fee": str(FEE),
    }
    view = job_from_json(data)
    assert view.job.model == job.model and view.digest == market.job_digest(4, job)
    assert job_summary(view)["model"]["fee"] == "2XPL"
    plain = job_json(4, replace(job, model=None))
    assert plain["model"] is None and job_from_json(plain).job.model is None
