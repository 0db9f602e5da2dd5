"""Referenda's constants: its name, hold reason, limits and weights."""

from __future__ import annotations

from typing import Final

from runtime.framework import WEIGHT_PER_MICROS
from runtime.pallets.governance.tracks import MAX_PERIOD, PALLET

NAME: Final = PALLET
HOLD: Final = "referenda"
"""The hold reason of submission and decision deposits."""

MAX_QUEUED: Final = 100
"""The most referenda one track's queue holds while its deciding places are taken; a referendum
with fewer ayes than the last of a full queue waits outside it (see `nudge`) until it times out."""
MAX_ALARMS_PER_BLOCK: Final = 64
"""The most alarms one block's bucket holds, and the most on_initialize services per block."""
MAX_ALARM_PROBE: Final = 16
"""How many blocks after its due block an alarm may land when the buckets there are full."""
MAX_BUCKETS_SCANNED: Final = 8
"""The most buckets on_initialize reads per block while it catches up with carried-over alarms."""
MAX_ENACTMENT_DELAY: Final = MAX_PERIOD
"""The longest `enactment_after` a submission may ask for: an approval is scheduled at most this
long (or the track's min_enactment_period, if longer) after it, always within the block numbers
the scheduler takes, so an approved referendum never retries its enactment for good."""
ENACTMENT_RETRY: Final = 1
"""Blocks after which an approval whose enactment found the scheduler's agendas full retries."""

READ_WEIGHT: Final = 5 * WEIGHT_PER_MICROS
SERVICE_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""One referendum's transition: its record, its track, the queue and its alarm."""
ALARM_WEIGHT: Final = 20 * WEIGHT_PER_MICROS + MAX_ALARM_PROBE * READ_WEIGHT
"""Placing an alarm, probing full buckets at worst."""
QUEUE_WEIGHT: Final = 40 * WEIGHT_PER_MICROS
"""Reading and rewriting a track's queue (at most MAX_QUEUED entries)."""
SUBMIT_WEIGHT: Final = 100 * WEIGHT_PER_MICROS + ALARM_WEIGHT
DEPOSIT_WEIGHT: Final = 60 * WEIGHT_PER_MICROS + SERVICE_WEIGHT + QUEUE_WEIGHT + ALARM_WEIGHT
REFUND_WEIGHT: Final = 50 * WEIGHT_PER_MICROS
END_WEIGHT: Final = 80 * WEIGHT_PER_MICROS + 2 * (SERVICE_WEIGHT + QUEUE_WEIGHT + ALARM_WEIGHT)
"""Cancelling or killing: the referendum's end, and the queued one that takes its place."""
SET_TALLY_WEIGHT: Final = SERVICE_WEIGHT + QUEUE_WEIGHT + ALARM_WEIGHT
SET_TRACKS_WEIGHT: Final = 200 * WEIGHT_PER_MICROS
