"""Disputing a job's result: a fraud proof naming one leaf, bonded, within the dispute window."""

from __future__ import annotations

from dataclasses import dataclass

from chain.client.chain import XplClient, make_call
from chain.client.jobs.errors import JobClientError
from chain.client.jobs.reading import require_job
from chain.client.jobs.results import no_result
from chain.client.jobs.transactions import event_data, include
from runtime.pallets import compute
from runtime.primitives.keys import Keypair


@dataclass(frozen=True, slots=True)
class Dispute:
    """A fraud proof on chain: the check it opened, on which leaf, bonding what, drawn when."""

    job_id: int
    check: int
    leaf: int
    bond: int
    draw_at: int
    """The block whose randomness draws its committee (it is decided two phases later)."""
    block: int | None
    filed: bool
    """False when an open dispute of that leaf was already on chain (nothing new was filed)."""


def dispute_leaf(client: XplClient, keypair: Keypair, job_id: int, leaf: int) -> Dispute:
    """File a fraud proof naming `leaf` of the job's result, bonding the fraud bond.

    JobClientError if the job cannot be disputed any more (it failed already, or its dispute
    window closed); an open dispute of the same leaf is returned instead of filing another.
    """
    view = require_job(client, job_id)
    job = view.job
    compute_params = client.market_params()[1]
    if job.state == "failed":
        raise JobClientError(
            f"job {job_id} has already failed: its worker was slashed and the escrow refunded"
        )
    if not job.result_root:
        raise no_result(view)
    if job.state != "committed":
        raise JobClientError(f"job {job_id} is {job.state}: its dispute window is over")
    closes = job.committed_at + compute_params.dispute_window
    if client.best_number() + 1 >= closes:
        raise JobClientError(f"the dispute window of job {job_id} closed at block #{closes}")
    for index, check in enumerate(view.checks):
        if check.kind == "dispute" and check.leaves == (leaf,) and not check.outcome:
            return Dispute(job_id, index, leaf, check.bond, check.draw_at, None, filed=False)
    outcome = include(
        client,
        keypair,
        make_call("compute", "dispute", job_id, compute.result_digest(job_id, view.job), leaf),
        f"disputing leaf {leaf} of job {job_id}",
    )
    opened = event_data(outcome, "compute", "DisputeOpened")
    return Dispute(
        job_id=job_id,
        check=int(opened["check"]),
        leaf=int(opened["leaf"]),
        bond=compute_params.fraud_bond,
        draw_at=int(opened["draw_at"]),
        block=outcome.block_number,
        filed=True,
    )
