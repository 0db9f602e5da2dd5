"""Reading governance from a node: referenda, their tallies and curves, and an account's votes
(the `gov_*` RPC methods), as the CLI shows them."""

from __future__ import annotations

from typing import Any

from chain.client.chain import XplClient
from runtime.primitives.address import encode_address


def referenda(client: XplClient) -> list[dict[str, Any]]:
    """Every referendum the node lists (`gov_referenda`)."""
    result = client.rpc.call("gov_referenda")
    items = result.get("referenda", []) if isinstance(result, dict) else result
    return list(items)


def referendum(client: XplClient, index: int) -> dict[str, Any] | None:
    """Referendum `index` with its tally, curves and time left (`gov_referendum`), or None."""
    result = client.rpc.call("gov_referendum", index)
    return None if result is None else dict(result)


def referendum_track(client: XplClient, index: int) -> int | None:
    """The track (conviction voting's class) of referendum `index`, or None if there is none."""
    found = referendum(client, index)
    if found is None:
        return None
    track = found.get("track")
    if isinstance(track, dict):
        track = track.get("id")
    return track if isinstance(track, int) else found.get("trackId")


def votes(client: XplClient, who: bytes) -> Any:
    """`who`'s votes, delegations and locks per track (`gov_votes`)."""
    return client.rpc.call("gov_votes", encode_address(who))
