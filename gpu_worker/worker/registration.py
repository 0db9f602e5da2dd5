"""Registering the worker on chain: its stake, asks, capacity, device and measured throughput."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Final

from chain.client.chain import XplClient, make_call
from gpu_worker.committing import compute_committed
from gpu_worker.devices import device_info
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves
from gpu_worker.worker.config import COMMIT_TIMEOUT_S, WorkerConfig, WorkerError
from runtime.primitives.amount import format_amount
from runtime.primitives.keys import Keypair
from runtime.transaction import Call
from runtime.workloads import GOP

log = logging.getLogger("xpl.worker")

MEASURE_PARAMS: Final[Mapping[str, tuple[int, ...]]] = {
    "gemm_i8": (128, 128, 128, 32),
    "qmlp_i8": (64, 32, 128, 128, 10),
    "sgd_fxp": (256, 64, 8, 32, 4, 8, 12),
}
"""The small jobs timed at registration to state each workload's throughput."""

WARM_PARAMS: Final[Mapping[str, tuple[tuple[int, ...], ...]]] = {
    "gemm_i8": ((128, 128, 128, 32), (64, 64, 64, 8, 16)),
    "qmlp_i8": ((64, 32, 128, 128, 10), (64, 1, 32, 32, 10)),
    "sgd_fxp": (),
}
"""Small jobs computed and committed once before registering (bands of rows and tiles, a leaf
per row): the kernels a job's commitment runs are compiled then, not when the first job's
deadline is running (from a cold cache that takes tens of seconds on a small CPU)."""


def warm_up(workload: str, device: str) -> None:
    """Compute and commit each WARM_PARAMS job of `workload` once, compiling what they run."""
    for params in WARM_PARAMS.get(workload, ()):
        spec = JobSpec(workload, params, seed=1)
        compute_committed(
            spec, generate_inputs(spec.workload, spec.params, spec.seed), device=device
        )


def measure_throughput(workload: str, device: str) -> int:
    """Measured throughput of `workload` on `device`, in 10^9 cost units per second (at least 1).

    Times a small job (MEASURE_PARAMS) after one untimed run that warms up any compilation.
    """
    spec = JobSpec(workload, MEASURE_PARAMS[workload], seed=1)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    compute_leaves(spec, inputs, device=device)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        compute_leaves(spec, inputs, device=device)
        best = min(best, time.perf_counter() - start)
    return max(1, round(spec.shape.cost_units / max(best, 1e-9) / GOP))


def register(client: XplClient, config: WorkerConfig, device: str) -> None:
    """Register the worker on chain, or update its asks, capacity and stake to `config`'s;
    WorkerError if the chain refuses."""
    min_stake = client.market_params()[0].min_stake
    if config.stake < min_stake:
        raise WorkerError(
            f"--stake {format_amount(config.stake)} is below the chain's minimum stake "
            f"of {format_amount(min_stake)}"
        )
    workloads = [w for w, _ in config.asks]
    prices = [p for _, p in config.asks]
    asks_text = ", ".join(f"{w} at {format_amount(p)}/GOP" for w, p in config.asks)
    if config.measure:  # a worker that states no throughput (tests) skips the warm-up too
        for workload in workloads:
            warm_up(workload, device)
    current = client.workers().get(config.keypair.public)
    if current is None:
        name, memory_mb = device_info(device)
        throughput = [measure_throughput(w, device) if config.measure else 1 for w in workloads]
        call = make_call(
            "market",
            "register_worker",
            config.stake,
            name,
            memory_mb,
            workloads,
            prices,
            throughput,
            config.endpoint,
            config.capacity,
        )
        block = _submit(client, config.keypair, call, "registration")
        measured = ", ".join(f"{w} {t} GOP/s" for w, t in zip(workloads, throughput, strict=True))
        log.info(
            "registered in block #%d: stake %s, %s, capacity %d, device %s (%d MiB), throughput %s",
            block,
            format_amount(config.stake),
            asks_text,
            config.capacity,
            name,
            memory_mb,
            measured if config.measure else "not measured (0)",
            extra={"step": "registered", "block": block},
        )
        return
    add_stake = max(0, config.stake - current.stake)
    if (
        sorted(current.asks) != sorted(config.asks)
        or current.capacity != config.capacity
        or add_stake
    ):
        call = make_call("market", "update_worker", workloads, prices, config.capacity, add_stake)
        block = _submit(client, config.keypair, call, "update")
        log.info(
            "worker updated in block #%d: %s, capacity %d, stake %s",
            block,
            asks_text,
            config.capacity,
            format_amount(current.stake + add_stake),
            extra={"step": "updated", "block": block},
        )
        return
    log.info(
        "registered already: stake %s, %s, capacity %d, %d active jobs%s",
        format_amount(current.stake),
        asks_text,
        current.capacity,
        current.active,
        " (retiring)" if current.retiring else "",
        extra={"step": "registered"},
    )


def _submit(client: XplClient, keypair: Keypair, call: Call, what: str) -> int:
    """Sign and submit `call`; the block it went into. WorkerError if it failed there."""
    tx = client.sign(keypair, call)
    outcome = client.submit_and_watch(tx, until="inBlock", timeout=COMMIT_TIMEOUT_S)
    if not outcome.success:
        raise WorkerError(f"the chain refused the worker's {what}: {outcome.error}")
    return outcome.block_number
