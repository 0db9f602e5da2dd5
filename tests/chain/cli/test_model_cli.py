"""`xpl model` on the package's fast dev node (see conftest): a weights file uploaded once and
published, a second upload of the same name adding a version, the list and the views, and a file
that does not match its descriptor refused before anything is signed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.client import models as mc
from chain.client.blobs import chunk_file, download_blob
from chain.client.chain import XplClient
from runtime import tfm_layout
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import from_hex
from runtime.primitives.keys import keypair_from_suri
from runtime.primitives.merkle import merkle_root
from runtime.workloads import qmlp_model_bytes
from tests.chain.cli.conftest import XplRun, fund

OWNER, WORKER, REQUESTER = "//ModelOwner", "//ModelWorker", "//ModelRequester"
DIMS = (16, 8, 4)


@pytest.fixture(scope="module")
def client(cli_client: XplClient) -> XplClient:
    fund(cli_client, [OWNER, REQUESTER], "100XPL")
    fund(cli_client, [WORKER], "2000XPL")
    return cli_client


@pytest.fixture
def xpl(xpl_in_process: XplRun, client: XplClient) -> XplRun:
    return xpl_in_process


def weights_file(tmp_path: Path, size: int | None = None) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(
        bytes(i % 251 for i in range(qmlp_model_bytes(DIMS) if size is None else size))
    )
    return path


@pytest.mark.timeout(60)
def test_upload_publishes_a_version_and_a_second_upload_the_next(
    xpl: XplRun, client: XplClient, tmp_path: Path
) -> None:
    path = weights_file(tmp_path)
    args = ("model", "upload", str(path), "--family", "qmlp_i8", "--descriptor", "16,8,4")
    terms = ("--name", "tiny", "--licence", "MIT", "--from", OWNER, "--json")
    ran = xpl(*args, *terms, "--fee", "0.5XPL")
    assert ran.code == 0, ran.err
    first = ran.json()
    assert first["created"] is True and first["version"] == 1
    model_id = first["model"]
    assert download_blob(client.rpc, from_hex(first["weightsRoot"])) == path.read_bytes()

    ran = xpl(*args, *terms)
    assert ran.code == 0, ran.err
    second = ran.json()
    assert (second["model"], second["version"], second["created"]) == (model_id, 2, False)

    shown = xpl("model", "show", str(model_id), "--json").json()
    assert shown["owner"] == encode_address(keypair_from_suri(OWNER).public)
    assert [(v["version"], v["feePerUse"]) for v in shown["versions"]] == [
        (1, "500000000000"),
        (2, "0"),
    ]
    assert shown["versions"][0]["architecture"] == list(DIMS)
    one = xpl("model", "show", str(model_id), "--version", "1", "--json").json()
    assert one == shown["versions"][0]
    listed = xpl("model", "list", "--owner", OWNER, "--json").json()
    assert [m["id"] for m in listed["models"]] == [model_id]
    words = xpl("model", "show", str(model_id))
    assert words.code == 0 and "version 2 (live)" in words.out and "licence MIT" in words.out
    assert "tiny" in xpl("model", "list").out

    # A requester calls version 1 by id: its weights are not uploaded again, and the escrow
    # holds the version's fee besides the payment.
    register = ["1000XPL", "cpu", 2048, ["qmlp_i8"], ["1XPL"], [50], "", 1]
    ran = xpl("tx", "call", "market.register_worker", "--args", json.dumps(register),
              "--from", WORKER)  # fmt: skip
    assert ran.code == 0, ran.err
    submit = ("job", "submit", "--model", str(model_id), "--params", "4,1,16,8,4")
    ran = xpl(*submit, "--model-version", "1", "--max-price", "10000XPL", "--from", REQUESTER,
              "--json")  # fmt: skip
    assert ran.code == 0, ran.err
    job_id = ran.json()["job"]
    status = xpl("job", "status", str(job_id), "--json").json()
    assert status["workload"] == "qmlp_i8" and status["inputs"]["model"] == first["weightsRoot"]
    assert status["model"] == {
        "id": model_id,
        "version": 1,
        "owner": encode_address(keypair_from_suri(OWNER).public),
        "fee": "0.5XPL",
    }
    ran = xpl(*submit, "--workload", "gemm_i8", "--max-price", "10000XPL", "--from", REQUESTER)
    assert ran.code == 1 and "is a qmlp_i8 model, not gemm_i8" in ran.err
    ran = xpl("job", "submit", "--model", str(model_id), "--params", "4,1,16,4",
              "--max-price", "10000XPL", "--from", REQUESTER)  # fmt: skip
    assert ran.code == 1 and "give its layer widths" in ran.err


def test_a_file_that_does_not_match_its_descriptor_is_refused_before_signing(
    xpl: XplRun, client: XplClient, tmp_path: Path
) -> None:
    path = weights_file(tmp_path, size=qmlp_model_bytes(DIMS) + 1)
    before = client.account(keypair_from_suri(OWNER).public)
    ran = xpl(
        "model", "upload", str(path), "--family", "qmlp_i8", "--descriptor", "16,8,4",
        "--name", "bad", "--licence", "MIT", "--from", OWNER,
    )  # fmt: skip
    assert ran.code == 1
    assert f"has {qmlp_model_bytes(DIMS)} bytes of weights; the file has" in ran.err
    ran = xpl(
        "model", "upload", str(path), "--family", "qmlp_i8", "--descriptor", "16,x",
        "--name", "bad", "--licence", "MIT", "--from", OWNER,
    )  # fmt: skip
    assert ran.code == 1 and "descriptor item 'x'" in ran.err
    assert client.account(keypair_from_suri(OWNER).public).nonce == before.nonce


def test_unknown_models_are_named(xpl: XplRun) -> None:
    ran = xpl("model", "show", "999")
    assert ran.code == 1 and "no model 999" in ran.err
    ran = xpl("model", "show", "1", "--version", "77")
    assert ran.code == 1 and "no version 77" in ran.err


def test_an_upload_is_planned_against_its_family_before_any_node_is_asked() -> None:
    architecture = (256, 16, 32, 4, 1, 64)
    size = tfm_layout.weights_size(tfm_layout.TfmDescriptor(*architecture))
    data = bytes(size)
    plan = mc.plan_upload("tfm_i8", mc.parse_descriptor("256, 16, 32, 4, 1, 64"), data)
    assert plan.descriptor == tfm_layout.encode_descriptor(tfm_layout.TfmDescriptor(*architecture))
    assert plan.root == merkle_root(chunk_file(data))
    with pytest.raises(mc.ModelRequestError, match=f"has {size} bytes of weights; the file has"):
        mc.plan_upload("tfm_i8", architecture, data[:-1])
    with pytest.raises(mc.ModelRequestError, match="not divisible by heads"):
        mc.plan_upload("tfm_i8", (256, 16, 30, 4, 1, 64), data)
    with pytest.raises(mc.ModelRequestError, match="unknown family"):
        mc.plan_upload("gemm_i8", (1, 2), data)


class Answers:
    """A node's models_get answers, for the client's choice of a version."""

    def __init__(self, versions: list[dict[str, object]]) -> None:
        self.versions = versions

    def call(self, method: str, *params: object) -> object:
        assert method == "models_get"
        if params[0] != 5:
            return None
        return {"id": 5, "versions": self.versions}


def test_a_job_runs_the_latest_live_version_unless_told() -> None:
    def version(number: int, live: bool) -> dict[str, object]:
        return {
            "version": number, "live": live, "family": "qmlp_i8", "weightsRoot": "0x" + "ab" * 32,
            "weightsSize": 224, "feePerUse": str(number),
        }  # fmt: skip

    client = XplClient()
    client.rpc = Answers([version(1, True), version(2, True), version(3, False)])  # type: ignore[assignment]
    assert mc.model_ref(client, 5).version == 2
    assert mc.model_ref(client, 5, 1).fee == 1
    for wanted, why in ((3, "is retired"), (4, "has no version 4")):
        with pytest.raises(mc.ModelRequestError, match=why):
            mc.model_ref(client, 5, wanted)
    with pytest.raises(mc.ModelRequestError, match="no model 6"):
        mc.model_ref(client, 6)
    client.rpc = Answers([version(1, False)])  # type: ignore[assignment]
    with pytest.raises(mc.ModelRequestError, match="no live version"):
        mc.model_ref(client, 5)
