"""Conviction voting's name, limits and call weights."""

from __future__ import annotations

from typing import Final

from runtime.framework import WEIGHT_PER_MICROS

NAME: Final = "conviction_voting"

LOCK_ID: Final = "vote"
"""The balances freeze that holds every class's lock of an account (the largest counts)."""
MAX_CONVICTION: Final = 6
MAX_VOTES: Final = 256
"""The most votes `max_votes` may allow an account in one class: bounds every loop over them."""
MAX_CLASSES: Final = 256
"""The most classes an account may hold locks in: every track id (a u8), not just MAX_TRACKS,
since `set_tracks` may renumber the tracks while locks in the old ids run on."""

VOTE_WEIGHT: Final = 200 * WEIGHT_PER_MICROS
"""A vote: the poll's status, the voter's record (up to MAX_VOTES votes) read and written, the
tally stored through referenda, the lock and the freeze updated (120 to 135 µs measured with
256 votes recorded, on the 2-core development machine)."""
PER_VOTE_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""One of a delegate's votes whose tally a delegation changes: the poll read, its tally stored
and the referendum decided again (10 to 55 µs measured per vote, 256 votes)."""
DELEGATE_WEIGHT: Final = VOTE_WEIGHT + MAX_VOTES * PER_VOTE_WEIGHT
"""A delegation made or ended: the delegate's votes on ongoing polls (up to MAX_VOTES) change."""
UNLOCK_WEIGHT: Final = 80 * WEIGHT_PER_MICROS
SET_PARAMS_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
