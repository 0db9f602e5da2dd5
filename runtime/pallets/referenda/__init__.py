"""Referenda: proposals decided by token holders on tracks, as OpenGov's referenda.

Rules:

1. Submission. Anyone submits a proposal (an encoded call) on a track, holding the track's
   submission deposit (hold "referenda"). The root track may propose any call; every other
   track only the spending calls (`governance.spending`: treasury spends, bounties, grants), each
   for at most the track's `max_spend`. A proposal that breaks this, or a signer who cannot pay,
   is refused and nothing is taken.
2. Preparing. Anyone places the decision deposit. Once it is placed and the track's prepare
   period has passed, the referendum decides if one of the track's `max_deciding` places is
   free; otherwise it waits in the track's queue (most ayes first, at most MAX_QUEUED). A
   referendum that has not started deciding `timeout` blocks after submission times out.
3. Deciding. From the block it started deciding, the approval (ayes / (ayes + nays)) and support
   (aye and abstain capital / total issuance) it needs fall along the track's curves. While it
   meets both it is confirming; it is approved only if it keeps meeting them for the whole
   confirm period: any vote that makes it fail ends the confirmation (it decides again). A
   referendum not passing at the end of its decision period is rejected.
4. Enactment. An approved proposal is scheduled (`scheduler.schedule`) with the track's origin
   (Root for root, the track's own origin otherwise) at least `min_enactment_period` and the
   submitter's `enactment_after` blocks later; a failed enactment is the scheduler's event.
5. Deposits. Every end but killed lets anyone refund both deposits to whoever paid them
   (`refund_submission_deposit`, `refund_decision_deposit`); Root's `cancel` ends a referendum
   with its deposits refundable, Root's `kill` slashes them to the treasury. Nothing is stranded.
6. Time. Every ongoing referendum has one alarm, the block of its next time-driven transition
   (`alarms`); on_initialize services a bounded number per block, carrying the rest over, and
   votes (`set_tally`, through conviction voting) decide a referendum again in bounded work.

The package: `constants`, `curves` (thresholds and their inverse), `storage`, `events`,
`errors`, `alarms`, `lifecycle` (the transitions), `track_rules` (what tracks must keep),
`invariants`, and `pallet` (the Referenda pallet, its calls, and the polls conviction voting
counts votes on, registered with `governance.polls` when this package is imported).
"""

from __future__ import annotations

from runtime.pallets.referenda.constants import (
    HOLD,
    MAX_ALARMS_PER_BLOCK,
    MAX_QUEUED,
    NAME,
    SET_TALLY_WEIGHT,
)
from runtime.pallets.referenda.curves import Curve, delay, threshold
from runtime.pallets.referenda.lifecycle import electorate, enactment_name, is_passing
from runtime.pallets.referenda.pallet import REFERENDA, Referenda, ReferendaGenesis
from runtime.pallets.referenda.storage import (
    STATE_NAMES,
    Alarms,
    DecidingCount,
    OngoingCount,
    Proposals,
    Referendum,
    ReferendumCount,
    ReferendumInfo,
    TrackQueue,
)
from runtime.pallets.referenda.track_rules import TRACKS, check_tracks, fast_tracks

__all__ = [
    "HOLD",
    "MAX_ALARMS_PER_BLOCK",
    "MAX_QUEUED",
    "NAME",
    "REFERENDA",
    "SET_TALLY_WEIGHT",
    "STATE_NAMES",
    "TRACKS",
    "Alarms",
    "Curve",
    "DecidingCount",
    "OngoingCount",
    "Proposals",
    "Referenda",
    "ReferendaGenesis",
    "Referendum",
    "ReferendumCount",
    "ReferendumInfo",
    "TrackQueue",
    "check_tracks",
    "delay",
    "electorate",
    "enactment_name",
    "fast_tracks",
    "is_passing",
    "threshold",
]
