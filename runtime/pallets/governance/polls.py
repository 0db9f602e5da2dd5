"""Polls: what conviction voting needs of referenda, as Substrate's `Polling` trait.

Referenda registers itself here (`register`) when it is imported, so that conviction voting,
which referenda does not import, finds the polls it counts votes on without importing it.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from runtime.framework import BlockContext
from runtime.pallets.governance.tally import Tally
from runtime.state import StateOverlay


class Ongoing(NamedTuple):
    """A poll that takes votes: its track (conviction voting's class) and its tally."""

    track_id: int
    tally: Tally


class Completed(NamedTuple):
    """A poll that has ended: the block it ended at and whether it was approved."""

    end: int
    approved: bool


class Polls(Protocol):
    """Referenda, as conviction voting sees it."""

    def poll_status(self, state: StateOverlay, index: int) -> Ongoing | Completed | None:
        """The poll's state: None if there is no such poll (or it was killed or cancelled:
        votes on it lock nothing)."""
        ...

    def set_tally(self, ctx: BlockContext, index: int, tally: Tally) -> None:
        """Store an ongoing poll's new tally and bring its state up to date (deciding,
        confirming, ...), in bounded work; the poll must be ongoing."""
        ...


_registered: list[Polls] = []


def register(polls: Polls) -> None:
    """Make `polls` the runtime's polls (referenda does this once)."""
    _registered[:] = [polls]


def polls() -> Polls:
    """The runtime's polls."""
    if not _registered:
        raise RuntimeError("no polls are registered (the referenda pallet is not loaded)")
    return _registered[0]
