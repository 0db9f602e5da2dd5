"""Compute: result commitments, challenge randomness, audits, accountable verifier committees,
disputes and verdicts (DESIGN 8). Other code imports the package as one:
`from runtime.pallets import compute`.

The rules, once a worker commits a result (the Merkle root over its leaves and their number):

Randomness. Every draw comes from the randomness of a block DRAW_DELAY blocks after what opened
it, never from anything known then: the audit roll (audited with probability q, or always in the
"always" mode; k leaves; the committee) DRAW_DELAY blocks after the commitment, a dispute's
committee DRAW_DELAY blocks after the dispute, a fresh round's DRAW_DELAY blocks after the round
before it ended (`drawing`; the block randomness itself is the beacon's, `_seed`). Committees
are c validators' session keys drawn by stake.

Naming a job. Job ids are a counter, so two forks (a partition's two sides) may each give the
same id to a different job. Every call that stakes something on a job's content carries the
job's digest (`market.job_digest`: its requester, workload, parameters, inputs, seed, price,
mode, deadline and submission block), and is refused with WrongJob where the job with that id
has another digest: `commit_result` (the worker's root is over the work it computed) and the
market's `decline_job` and `cancel_job`. Two calls name more than the job, since the same job
may be committed and checked differently on two forks: `dispute` carries `result_digest` (the
job and its result root: the challenger's bond is on the result it checked, not another
worker's or another root), and `attest_commit` carries `check_digest` (the result and the
round's draw: its index, round, block, leaves and mask, which the member's hashes and witness
are over; a commitment to one fork's draw would open on another to a vote against the outcome,
and cost the member its penalty). A signed commitment therefore never binds a worker or a
member to another fork's job or draw, whoever includes it. The other calls need no digest:
`respond` proves its leaf hashes against the result root and the check's leaves; `attest_reveal`
must open a commitment made for this very draw.

Phases. A check (an audit, or a dispute of one leaf) drawn in block d runs:
1. commit, blocks d+1 .. d+commit_window: each member recomputes the check's leaves from the
   job's inputs, with the witness of that recomputation under the round's mask (drawn with the
   committee: `drawing.witness_mask`, `gpu_worker.witness`), and submits `attest_commit(job,
   check_digest, check, attestation_commitment(job, check, member, leaf hashes, witness, salt))`, or
   the same over no hashes and NO_WITNESS for "unavailable";
2. reveal, the next reveal_window blocks: members reveal (`attest_reveal`), refused unless the
   reveal opens their commitment; the worker posts its leaf hashes with Merkle proofs to its
   result root (`respond`), taken only in this phase.
3. In the block after, the chain decides (`verdicts`).

Verdict. A worker that did not respond fails (it withheld its result). Otherwise the vote (leaf
hashes and witness) revealed by a strict majority of the members that revealed, and by more than
half the committee (a quorum: a lone revealer whose fellows stay silent does not decide),
decides: the worker's hashes: pass; others: fail. No such majority, a majority of "unavailable",
or no reveal: inconclusive, and a fresh round of the same check (same leaves, a new mask) is
drawn, avoiding the members that did not reveal, up to max_rounds; then the job is void (the
requester refunded in full, the worker neither paid nor slashed, its bond freed), unless every
member that revealed in the last round revealed "unavailable": then nobody could have the data
from the worker either, whose duty it is to serve the inputs it computed on and its result, and
the worker fails (`verdicts.data_unavailable`). A job settles as a success only after its
dispute window, with every check passed in its last round.

Who is paid or penalized for what.
- Members that revealed the deciding hashes (in the deciding round or in the check's earlier
  inconclusive rounds) are with the outcome: an era point each, and they share the job's
  verification fee equally with those of its other passed checks; pass or fail alike (on a fail
  the fee comes out of the escrow before the requester's refund). On a withheld fail, and on
  one decided by RESULT_WITHHELD (refused where the checked leaves build on no committed leaf),
  nobody is (nothing shows who recomputed): the fee goes back to the requester.
- Members that did not commit, did not reveal (or never opened their commitment), or revealed
  other hashes than the deciding ones in the deciding round, lose their share and
  `member_penalty` from their staking bond, to the treasury (MemberPenalized); so do members of
  earlier inconclusive rounds that revealed "unavailable" once a committee decides with hashes
  (the data was there). Members that revealed the worker's hashes of a leaf that a later check
  of the job fails (their pass is overturned) lose `member_penalty` and what the dispute they
  passed paid them of its bond.
- On a fail the worker's slash goes to the treasury, except `challenger_share_ppm` of it to a
  dispute's challenger, which also gets its bond back. A dispute's bond grows with the
  recheck's cost (`fraud_bond_for`); a dispute that passes gives half of it to the members with
  the outcome and the rest to the worker; an inconclusive round of a dispute gives it to the
  treasury. On a void nobody is paid the verification fee (no outcome says who verified).

What an attacker can still do, and why it does not pay.
- A lazy member can hash the worker's published result instead of recomputing, but it cannot
  make up the witness (values formed inside the recomputation, under a mask drawn only with the
  committee): its vote is not the honest majority's, and it is penalized. Guessing, staying
  silent or revealing "unavailable" earns nothing and costs `member_penalty` once a committee
  decides. A member of an inconclusive round whose witness nobody in its round confirms is
  neither paid nor penalized for it.
- Faking a conviction earns exactly what an honest pass earns (the same fee share), and needs a
  majority of the revealing committee to reveal the same wrong hashes: a colluding majority,
  which the guard bounds by `collusion_ppm` of the stake (a committee of c drawn by stake).
- A member colluding with a cheating worker that reveals the worker's hashes is penalized, and
  its pass overturned later costs it again; with an honest majority it only loses. It cannot
  decide alone while its fellows stay silent (the quorum), and the requester's own disputes (it
  keeps two slots) overturn a pass it bought and take back what the pass paid.
- A member that guesses in a round that stays inconclusive is neither paid nor penalized for
  it (a later round decided by fewer members is no proof against it): it earns nothing.
- A colluding majority of the revealers decides a check either way; faking a conviction pays it
  no more than an honest pass. The guard bounds the chance of such a majority by
  `collusion_ppm`.
- Forcing inconclusive rounds ("unavailable" majorities, silence) delays the job by a round each,
  costs each such member its penalty, and after max_rounds voids the job: the requester is
  refunded, the worker unpaid but not slashed. A requester withholding its input data from the
  validators cannot void its job: the worker's node serves the inputs it fetched. A worker that
  serves nobody fails after max_rounds rounds of "unavailable" (each round a fresh
  data-availability challenge); its committees are paid nothing for it, so a lazy majority
  gains nothing by claiming "unavailable" to convict.
- A challenger disputing a correct leaf loses its bond, which covers the committees it made work.
- The randomness is the beacon's; an author biases a draw only by forfeiting its slot.
- Reveals are plain transactions: a member that waits for others' reveals before revealing
  learns nothing it can use, since its own reveal must open the commitment made before.

The package, by concern: `params` (constants, parameters and the guard), `records` (the Check
record and storage), `events`, `errors`, `drawing` (randomness, committees, leaves),
`verdicts` (commitments, the verdict rule and carrying it out), `payments` (penalties and
bonds), and `pallet` (the Compute pallet with its calls, hooks and invariants).
"""

from __future__ import annotations

from runtime.pallets.compute.drawing import (
    DRAW_DELAY,
    DRAW_JITTER,
    draw_committee,
    draw_leaves,
    roll_delay,
    witness_mask,
)
from runtime.pallets.compute.errors import (
    AlreadyAttested,
    AlreadyResponded,
    BadLeaf,
    BadParams,
    BadResponse,
    BadReveal,
    ComputeError,
    DisputeWindowClosed,
    NoCommitment,
    NotCommitted,
    NotInCommittee,
    NotMatchedWorker,
    TooManyChecks,
    UnknownCheck,
    WrongJob,
    WrongPhase,
)
from runtime.pallets.compute.events import (
    AttestationCommitted,
    AttestationRevealed,
    ChallengeDrawn,
    CheckDecided,
    DisputeOpened,
    JobVoided,
    MemberPenalized,
    ParamsChanged,
    ResultCommitted,
    WorkerResponded,
)
from runtime.pallets.compute.guard import check_incentives
from runtime.pallets.compute.pallet import Compute, ComputeGenesis
from runtime.pallets.compute.params import (
    ATTEST_WEIGHT,
    BOND,
    COMMIT_WEIGHT,
    DEFAULT_COMPUTE_PARAMS,
    DISPUTE_BOND_FACTOR,
    DISPUTE_WEIGHT,
    MAX_AUDIT_LEAVES,
    MAX_CHECKS_PER_JOB,
    MAX_COMMITTEE,
    MAX_OPEN_CHECKS,
    MAX_PROOF_HASHES,
    MAX_ROUNDS,
    NAME,
    OUTCOMES,
    REQUESTER_DISPUTES,
    RESPOND_WEIGHT,
    SET_PARAMS_WEIGHT,
    ComputeParams,
    fraud_bond_for,
)
from runtime.pallets.compute.records import (
    NO_WITNESS,
    AuditRolls,
    Check,
    Checks,
    Draws,
    Due,
    Params,
)
from runtime.pallets.compute.verdicts import (
    RESULT_WITHHELD,
    Verdict,
    attestation_commitment,
    attestation_salt,
    backed,
    check_digest,
    earlier_rounds,
    result_digest,
    verdict,
    verifiers,
    witness_digest,
)

__all__ = [
    "ATTEST_WEIGHT",
    "BOND",
    "COMMIT_WEIGHT",
    "DEFAULT_COMPUTE_PARAMS",
    "DISPUTE_BOND_FACTOR",
    "DISPUTE_WEIGHT",
    "DRAW_DELAY",
    "DRAW_JITTER",
    "MAX_AUDIT_LEAVES",
    "MAX_CHECKS_PER_JOB",
    "MAX_COMMITTEE",
    "MAX_OPEN_CHECKS",
    "MAX_PROOF_HASHES",
    "MAX_ROUNDS",
    "NAME",
    "NO_WITNESS",
    "OUTCOMES",
    "REQUESTER_DISPUTES",
    "RESPOND_WEIGHT",
    "RESULT_WITHHELD",
    "SET_PARAMS_WEIGHT",
    "AlreadyAttested",
    "AlreadyResponded",
    "AttestationCommitted",
    "AttestationRevealed",
    "AuditRolls",
    "BadLeaf",
    "BadParams",
    "BadResponse",
    "BadReveal",
    "ChallengeDrawn",
    "Check",
    "CheckDecided",
    "Checks",
    "Compute",
    "ComputeError",
    "ComputeGenesis",
    "ComputeParams",
    "DisputeOpened",
    "DisputeWindowClosed",
    "Draws",
    "Due",
    "JobVoided",
    "MemberPenalized",
    "NoCommitment",
    "NotCommitted",
    "NotInCommittee",
    "NotMatchedWorker",
    "Params",
    "ParamsChanged",
    "ResultCommitted",
    "TooManyChecks",
    "UnknownCheck",
    "Verdict",
    "WorkerResponded",
    "WrongJob",
    "WrongPhase",
    "attestation_commitment",
    "attestation_salt",
    "backed",
    "check_digest",
    "check_incentives",
    "draw_committee",
    "draw_leaves",
    "earlier_rounds",
    "fraud_bond_for",
    "result_digest",
    "roll_delay",
    "verdict",
    "verifiers",
    "witness_digest",
    "witness_mask",
]
