"""How a worker runs: its settings, their checks, and where its state lives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from runtime.pallets.market import MAX_ASKS, MAX_JOB_CAPACITY
from runtime.primitives.address import encode_address
from runtime.primitives.amount import InvalidAmount, parse_amount
from runtime.primitives.keys import Keypair
from runtime.workloads import WORKLOADS

COMMIT_TIMEOUT_S: Final = 60.0
"""How long the worker waits for one of its transactions to be in a block."""
MAX_ENDPOINT_BYTES: Final = 256


class WorkerError(Exception):
    """A reason the worker cannot run: a bad setting, a device that is missing, a refusal."""


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker runs: its node, key, stake, asks and device."""

    rpc_url: str
    keypair: Keypair
    stake: int
    asks: tuple[tuple[str, int], ...]
    """(workload, price per 10^9 cost units)."""
    device: str = "auto"
    capacity: int = 1
    state_dir: Path | None = None
    """Where job state lives; None: a directory per account under the user's data directory."""
    endpoint: str = ""
    cheat: float = 0.0
    """Share of each result's leaves to corrupt (tests and demos of the audits)."""
    cheat_seed: int = 0
    measure: bool = True
    """Time each asked workload when registering; False registers 1 GOP/s (the least)."""
    dev_key: bool = False
    """The key is a development key, refused on a live chain."""


def parse_ask(text: str) -> tuple[str, int]:
    """`WORKLOAD=PRICE` (for example `gemm_i8=1XPL`) as (workload, price per 10^9 cost units)."""
    workload, sep, price_text = text.partition("=")
    workload = workload.strip()
    if not sep or not workload or not price_text.strip():
        raise WorkerError(f"--ask {text!r}: expected WORKLOAD=PRICE, for example gemm_i8=1XPL")
    if workload not in WORKLOADS:
        known = ", ".join(sorted(WORKLOADS))
        raise WorkerError(f"--ask {text!r}: unknown workload {workload!r} (known: {known})")
    try:
        price = parse_amount(price_text)
    except InvalidAmount as exc:
        raise WorkerError(f"--ask {text!r}: {exc}") from exc
    if price == 0:
        raise WorkerError(f"--ask {text!r}: the price must be above zero")
    return workload, price


def check_config(config: WorkerConfig) -> None:
    """WorkerError naming the first setting the worker cannot run with."""
    url = urlsplit(config.rpc_url)
    if url.scheme not in ("http", "https", "ws", "wss") or not url.netloc:
        raise WorkerError(f"--rpc {config.rpc_url!r}: expected http://HOST:PORT or ws://HOST:PORT")
    if not config.asks:
        raise WorkerError("give at least one --ask WORKLOAD=PRICE, for example gemm_i8=1XPL")
    if len(config.asks) > MAX_ASKS:
        raise WorkerError(f"at most {MAX_ASKS} asks")
    workloads = [w for w, _ in config.asks]
    for workload in workloads:
        if workloads.count(workload) > 1:
            raise WorkerError(f"--ask names {workload} twice")
        if workload not in WORKLOADS:
            raise WorkerError(f"unknown workload {workload!r}")
    if any(price <= 0 for _, price in config.asks):
        raise WorkerError("every ask's price must be above zero")
    if config.stake <= 0:
        raise WorkerError("--stake must be above zero")
    if not 1 <= config.capacity <= MAX_JOB_CAPACITY:
        raise WorkerError(f"--capacity must be from 1 to {MAX_JOB_CAPACITY}, not {config.capacity}")
    if not 0.0 <= config.cheat <= 1.0:
        raise WorkerError(f"--cheat is a fraction of the leaves from 0 to 1, not {config.cheat}")
    if not 0 <= config.cheat_seed < 2**64:
        raise WorkerError("--cheat-seed must be from 0 to 2^64 - 1")
    if len(config.endpoint.encode()) > MAX_ENDPOINT_BYTES:
        raise WorkerError(f"--endpoint is at most {MAX_ENDPOINT_BYTES} bytes")


def default_state_dir(account: bytes) -> Path:
    """The worker's state directory for `account`: $XDG_DATA_HOME/xpl/worker/ADDRESS."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "xpl" / "worker" / encode_address(account)
