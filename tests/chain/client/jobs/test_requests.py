"""A job request is checked before anything is uploaded: what the chain would refuse is refused
here first, with a message that says what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chain.client.jobs import (
    DEFAULT_DEADLINE_BLOCKS,
    DEFAULT_WAIT_BLOCKS,
    JobRequest,
    JobRequestError,
    describe_error,
    make_request,
)
from gpu_worker.jobs import JobSpec
from runtime.pallets import market
from runtime.pallets.market.errors import PriceTooLow
from runtime.workloads import workload_shape

UNIT = 10**12
GEMM = (64, 32, 16, 4)


def npy(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    path = tmp_path / f"{name}.npy"
    np.save(path, array)
    return path


def gemm_files(tmp_path: Path, m: int = 64, k: int = 32, n: int = 16) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    return {
        "a": npy(tmp_path, "a", rng.integers(-128, 128, (m, k), dtype=np.int8)),
        "b": npy(tmp_path, "b", rng.integers(-128, 128, (k, n), dtype=np.int8)),
    }


def request(
    workload: str = "gemm_i8", params: tuple[int, ...] | None = GEMM, **kw: object
) -> JobRequest:
    options: dict[str, object] = {"max_price": UNIT, "seed": 7}
    options.update(kw)
    files = options.pop("files", {})
    assert isinstance(files, dict)
    return make_request(workload, params, files, **options)


def test_a_generated_job_needs_no_files_and_keeps_its_settings() -> None:
    made = request(deadline_blocks=9, wait_blocks=3, mode="always")
    assert made == JobRequest(
        workload="gemm_i8",
        params=GEMM,
        seed=7,
        max_price=UNIT,
        inputs={},
        deadline_blocks=9,
        wait_blocks=3,
        mode="always",
    )
    assert made.spec == JobSpec("gemm_i8", GEMM, 7)
    assert made.shape == workload_shape("gemm_i8", GEMM)


def test_defaults_and_a_random_seed_when_none_is_given() -> None:
    seeds = {request(seed=None).seed for _ in range(4)}
    assert all(0 <= seed < 2**63 for seed in seeds) and len(seeds) > 1
    made = request()
    assert (made.deadline_blocks, made.wait_blocks, made.mode) == (
        DEFAULT_DEADLINE_BLOCKS,
        DEFAULT_WAIT_BLOCKS,
        "sampled",
    )


def test_gemm_params_come_from_the_files_when_not_given(tmp_path: Path) -> None:
    made = request(params=None, files=gemm_files(tmp_path, 128, 24, 8))
    assert made.params[:3] == (128, 24, 8)
    assert set(made.inputs) == {"a", "b"}
    assert made.inputs["a"].data == np.load(tmp_path / "a.npy").tobytes()


def test_a_file_whose_shape_does_not_fit_the_params_is_refused(tmp_path: Path) -> None:
    files = gemm_files(tmp_path, 64, 32, 16)
    with pytest.raises(
        JobRequestError,
        match=r"input b \(.*\): the array is 32×16; gemm_i8 "
        r"\[64, 32, 20, 4\] needs k×n = 32×20",
    ):
        request(params=(64, 32, 20, 4), files=files)


def test_a_raw_input_of_the_wrong_size_is_refused_with_both_sizes(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(bytes(10))
    params = (4, 2, 8, 8, 4)
    size = {s.name: s.size for s in workload_shape("qmlp_i8", params).inputs}["model"]
    with pytest.raises(
        JobRequestError, match=f"is 10 bytes; qmlp_i8 \\[4, 2, 8, 8, 4\\] needs {size} bytes"
    ):
        request("qmlp_i8", params, files={"model": model})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"workload": "conv_i8"},
            r"unknown workload 'conv_i8' \(known: gemm_i8, mlp_fxp, qmlp_i8, sgd_fxp\)",
        ),
        ({"params": (64, 32, 16, 0)}, "parameter row_block must be an integer from 1 to"),
        ({"params": (64, 32)}, r"gemm_i8 takes params \[m, k, n, row_block\]"),
        ({"mode": "never"}, "mode 'never': choose"),
        ({"deadline_blocks": 0}, f"the deadline must be 1 to {market.MAX_DEADLINE_BLOCKS} blocks"),
        ({"deadline_blocks": market.MAX_DEADLINE_BLOCKS + 1}, "the deadline must be 1 to"),
        ({"wait_blocks": 0}, f"the wait must be 1 to {market.MAX_WAIT_BLOCKS} blocks"),
        ({"wait_blocks": market.MAX_WAIT_BLOCKS + 1}, "the wait must be 1 to"),
        ({"max_price": 0}, "the maximum price must be above zero"),
        ({"seed": -1}, r"the seed must be an integer from 0 to 2\^64 - 1"),
        ({"seed": 2**64}, r"the seed must be an integer from 0 to 2\^64 - 1"),
    ],
)
def test_what_the_chain_would_refuse_is_refused_with_a_clear_error(
    change: dict[str, object], message: str
) -> None:
    options: dict[str, object] = {"workload": "gemm_i8", "params": GEMM}
    options.update(change)
    with pytest.raises(JobRequestError, match=message):
        request(**options)


def test_the_limits_themselves_are_accepted() -> None:
    made = request(
        deadline_blocks=market.MAX_DEADLINE_BLOCKS,
        wait_blocks=market.MAX_WAIT_BLOCKS,
        seed=2**64 - 1,
        max_price=1,
    )
    assert made.seed == 2**64 - 1


def test_an_input_the_workload_does_not_have_is_refused(tmp_path: Path) -> None:
    files = {"c": npy(tmp_path, "c", np.ones((2, 2), np.int8))}
    with pytest.raises(JobRequestError, match=r"gemm_i8 has no input 'c' \(its inputs: a, b\)"):
        request(files=files)


def test_the_runtime_explains_its_errors() -> None:
    assert describe_error("market.PriceTooLow") == PriceTooLow.describe()
    assert describe_error("market.PriceTooLow").startswith("No registered worker's ask")
    assert describe_error("nothing.Such") == "nothing.Such"
