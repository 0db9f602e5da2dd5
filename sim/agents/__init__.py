"""The simulated world's agents: workers, requesters and committee members.

    WorkerAgent       registers, computes matched jobs for real, commits, answers checks
    RequesterAgent    submits jobs by its arrival process, follows them, checks and disputes
    CommitteeMember   a validator's committee duties, with the node's own duty and
                      recomputation code
    PublishedResults  the shared store of published results (in place of the blob protocol)

Each acts through a `sim.world.context.AgentContext` (`start`, `on_block`, `sample`).
"""

from sim.agents.committee import CommitteeMember
from sim.agents.published import PublishedResults
from sim.agents.requesters import JobKind, RequesterAgent
from sim.agents.workers import Pricing, WorkerAgent, WorkerStrategy

__all__ = [
    "CommitteeMember",
    "JobKind",
    "Pricing",
    "PublishedResults",
    "RequesterAgent",
    "WorkerAgent",
    "WorkerStrategy",
]
