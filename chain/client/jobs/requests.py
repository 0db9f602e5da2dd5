"""A job request checked before anything is uploaded: the workload, its parameters, each input
file's shape and size, the mode, the timing and the price, by the runtime's own rules."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chain.client.blob_info import MAX_BLOB_BYTES
from chain.client.jobs.errors import JobRequestError
from chain.client.jobs.inputs import (
    ARRAY_INPUTS,
    WORKLOAD_INPUTS,
    InputFile,
    infer_params,
    read_input,
    with_default_layout,
)
from gpu_worker.jobs import JobSpec
from runtime.pallets import market
from runtime.workloads import WORKLOADS, WorkloadError, WorkloadShape, workload_shape

DEFAULT_DEADLINE_BLOCKS: Final = 100
DEFAULT_WAIT_BLOCKS: Final = 50


MODEL_INPUT: Final = "model"
"""The input a job that names a registered model gets the model's weights in."""


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A registered model version a job runs (`market.submit_model_job`), as the chain holds it."""

    model_id: int
    version: int
    family: str
    weights_root: bytes
    weights_size: int
    fee: int
    """Its fee per use, which the job's escrow holds besides the payment and fees."""


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job ready to submit: checked against the workload's rules, its given inputs read."""

    workload: str
    params: tuple[int, ...]
    seed: int
    max_price: int
    """Per 10^9 cost units."""
    inputs: Mapping[str, InputFile]
    """The inputs given as files; the others are generated from the seed."""
    deadline_blocks: int = DEFAULT_DEADLINE_BLOCKS
    wait_blocks: int = DEFAULT_WAIT_BLOCKS
    mode: str = "sampled"
    model: ModelRef | None = None
    """The registered model it runs: its "model" input is that version's weights."""

    @property
    def shape(self) -> WorkloadShape:
        return workload_shape(self.workload, self.params)

    @property
    def spec(self) -> JobSpec:
        return JobSpec(self.workload, self.params, self.seed)


def make_request(
    workload: str,
    params: Sequence[int] | None,
    input_files: Mapping[str, Path],
    *,
    max_price: int,
    seed: int | None = None,
    deadline_blocks: int = DEFAULT_DEADLINE_BLOCKS,
    wait_blocks: int = DEFAULT_WAIT_BLOCKS,
    mode: str = "sampled",
    model: ModelRef | None = None,
) -> JobRequest:
    """A checked job: known workload, valid parameters (inferred for gemm_i8 from the .npy
    shapes when None, and its default tiles added to `[m, k, n]`), every input file of the
    right dtype, shape and size, sane timing.

    Inputs not in `input_files` are generated from `seed` (a random one when None); with
    `model`, the "model" input is that registered version's weights (the workload its family).
    """
    if model is not None and MODEL_INPUT in input_files:
        raise JobRequestError(
            f"the weights come from model {model.model_id} version {model.version}: "
            f"give no {MODEL_INPUT} input"
        )
    if workload not in WORKLOADS:
        known = ", ".join(sorted(WORKLOADS))
        raise JobRequestError(f"unknown workload {workload!r} (known: {known})")
    names = WORKLOAD_INPUTS[workload]
    for name in input_files:
        if name not in names:
            raise JobRequestError(
                f"{workload} has no input {name!r} (its inputs: {', '.join(names)})"
            )
    if mode not in market.MODES:
        raise JobRequestError(f"mode {mode!r}: choose {' or '.join(market.MODES)}")
    if not 1 <= deadline_blocks <= market.MAX_DEADLINE_BLOCKS:
        raise JobRequestError(f"the deadline must be 1 to {market.MAX_DEADLINE_BLOCKS} blocks")
    if not 1 <= wait_blocks <= market.MAX_WAIT_BLOCKS:
        raise JobRequestError(f"the wait must be 1 to {market.MAX_WAIT_BLOCKS} blocks")
    if max_price < 1:
        raise JobRequestError("the maximum price must be above zero")
    if seed is not None and not 0 <= seed < 2**64:
        raise JobRequestError("the seed must be an integer from 0 to 2^64 - 1")
    files = {name: read_input(workload, name, path) for name, path in input_files.items()}
    chosen = (
        with_default_layout(workload, tuple(params))
        if params is not None
        else infer_params(workload, files)
    )
    try:
        shape = workload_shape(workload, chosen)
    except WorkloadError as exc:
        raise JobRequestError(str(exc)) from exc
    if tuple(spec.name for spec in shape.inputs) != names:  # pragma: no cover - runtime drift
        raise JobRequestError(f"{workload}'s inputs changed: the runtime names {shape.inputs}")
    sizes = {spec.name: spec.size for spec in shape.inputs}
    for name, found in files.items():
        _check_input_file(workload, chosen, name, found, sizes[name])
    if model is not None and sizes.get(MODEL_INPUT) != model.weights_size:
        raise JobRequestError(
            f"{workload} {list(chosen)} does not run model {model.model_id} version "
            f"{model.version} ({model.weights_size} bytes of weights): give its layer widths"
        )
    return JobRequest(
        workload=workload,
        params=chosen,
        seed=secrets.randbelow(2**63) if seed is None else seed,
        max_price=max_price,
        inputs=files,
        deadline_blocks=deadline_blocks,
        wait_blocks=wait_blocks,
        mode=mode,
        model=model,
    )


def _check_input_file(
    workload: str, params: Sequence[int], name: str, found: InputFile, size: int
) -> None:
    where = f"input {name} ({found.path})"
    job = f"{workload} {list(params)}"
    layout = ARRAY_INPUTS.get((workload, name))
    if layout is not None and found.shape is not None:
        rows, cols = layout.shape(params)
        if found.shape != (rows, cols):
            shown = "×".join(str(d) for d in found.shape) or "a scalar"
            raise JobRequestError(
                f"{where}: the array is {shown}; {job} needs {layout.dims[0]}×{layout.dims[1]}"
                f" = {rows}×{cols}"
            )
    if len(found.data) != size:
        raise JobRequestError(f"{where} is {len(found.data)} bytes; {job} needs {size} bytes")
    if size > MAX_BLOB_BYTES:
        raise JobRequestError(
            f"{where} is {size} bytes, over the {MAX_BLOB_BYTES}-byte limit of an uploaded blob"
        )
