"""Who may upload a blob: an account with funds, by a signed grant that cannot be replayed.

An upload begins with a grant (`chain.client.blob_info.UploadGrant`): the account, the hash of a
recent block of this chain, a random nonce, and the account's Ed25519 signature over
`upload_message` (the chain's genesis, this node's `node_id`, that block, the account, the nonce
and the blob's root, leaf count and size). The node admits it if, checked cheapest first,

- the block is one it knows, at most `grant_blocks` below its best block (so a grant is good
  for a few minutes, and the node remembers the grants it admitted only that long);
- the same account and nonce were not admitted before (a replayed grant is refused);
- the account has begun fewer than `max_recent_grants` uploads within `grant_blocks`;
- the account's free balance at the best block is at least `min_balance`;
- the same grant was not refused for its signature lately (MAX_REFUSED remembered);
- and only then, the signature verifies.

`node_id` is drawn at random each time the node starts (`blob_grantNode` tells clients), so a
grant is good on one node and only until it restarts: one seen on the wire or in a log cannot be
replayed on another node of the chain, nor on this one after a restart forgot its nonces.

What an attacker can still do: upload as any funded account it holds the key of, within that
account's quotas (`chain.storage.blobs`); make the node verify one signature per request only by
naming a funded account and a fresh nonce, within the RPC request limits. The balance is only
looked at, not held or spent, so one balance serves on every node; what it buys on each node is
bounded by the per-account quotas (and its unreferenced blobs go once the balance does,
`blob_retention`), and more needs more accounts, each holding `min_balance`. A grant someone
else saw (on the wire, in a log) begins at most one upload, of the one blob it names, in the
granting account's name, on the node it names, and is refused after that.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Final

from chain.client.blob_info import UPLOAD_NODE_BYTES, BlobInfo, UploadGrant, upload_message
from chain.storage.chain_store import ChainStore
from runtime import api as runtime_api
from runtime.primitives.address import encode_address
from runtime.primitives.keys import verify

UPLOAD_MIN_BALANCE: Final = 10**12
"""The free balance (1 XPL) an account must hold for the node to take its uploads."""
GRANT_BLOCKS: Final = 64
"""How many blocks below the best one a grant's block may be: a grant is good for this long."""
MAX_RECENT_GRANTS: Final = 256
"""Uploads one account may begin within GRANT_BLOCKS: bounds the grants the node remembers."""
MAX_REFUSED: Final = 4096
"""Grants refused for their signature that the node remembers, to refuse again unverified."""
_PRUNE_ACCOUNTS: Final = 1024
"""Accounts remembered before admitting a grant forgets every account's old grants."""


class GrantRefused(Exception):
    """An upload grant the node does not accept; `kind` classifies why (RPC's `data.kind`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class UploadGate:
    """Checks upload grants against the node's chain, and remembers the admitted ones."""

    def __init__(
        self,
        store: ChainStore,
        *,
        min_balance: int = UPLOAD_MIN_BALANCE,
        grant_blocks: int = GRANT_BLOCKS,
        max_recent_grants: int = MAX_RECENT_GRANTS,
        node_id: bytes | None = None,
    ) -> None:
        self.store = store
        self.node_id = secrets.token_bytes(UPLOAD_NODE_BYTES) if node_id is None else node_id
        """What this node's grants sign: new at each start (see the module docstring)."""
        self._refused: OrderedDict[bytes, None] = OrderedDict()
        self.min_balance = min_balance
        self.grant_blocks = grant_blocks
        self.max_recent_grants = max_recent_grants
        self._admitted: dict[bytes, dict[bytes, int]] = {}
        """Account → nonce → the number of the grant's block, while it is recent."""

    def check(self, grant: UploadGrant, info: BlobInfo) -> None:
        """Raise GrantRefused unless `grant` lets its account upload the blob `info`."""
        best = self.store.best_header.number
        header = self.store.header(grant.block_hash)
        if header is None:
            raise GrantRefused(
                "stale_grant",
                f"the grant's block 0x{grant.block_hash.hex()} is not known to this node: sign "
                "with the hash of a recent block of this chain",
            )
        if header.number + self.grant_blocks < best:
            raise GrantRefused(
                "stale_grant",
                f"the grant's block #{header.number} is more than {self.grant_blocks} blocks "
                f"below the best block #{best}: sign with a recent block's hash",
            )
        recent = self._recent(grant.account, best)
        if grant.nonce in recent:
            raise GrantRefused("replayed_grant", "this grant was used already: sign a new one")
        if len(recent) >= self.max_recent_grants:
            raise GrantRefused(
                "account_limit",
                f"this account began {len(recent)} uploads in the last {self.grant_blocks} "
                "blocks, as many as one account may",
            )
        free = runtime_api.account_info(self.store.reader(self.store.best_hash), grant.account).free
        if free < self.min_balance:
            raise GrantRefused(
                "unfunded",
                f"account {encode_address(grant.account)} holds {free} units free; uploading "
                f"needs at least {self.min_balance}",
            )
        message = upload_message(
            self.store.genesis_hash,
            grant.block_hash,
            grant.account,
            grant.nonce,
            info,
            node=self.node_id,
        )
        seen = grant.account + message + grant.signature
        if seen in self._refused or not verify(grant.account, message, grant.signature):
            self._refused[seen] = None
            self._refused.move_to_end(seen)
            while len(self._refused) > MAX_REFUSED:
                self._refused.popitem(last=False)
            raise GrantRefused(
                "bad_signature",
                "the grant's signature does not verify: it must sign this chain, this node "
                "(blob_grantNode, new at each start), the block, the account, the nonce and this "
                "blob's root, leaf count and size",
            )

    def admit(self, grant: UploadGrant) -> None:
        """Remember a grant an upload began with, so that it is refused from now on."""
        best = self.store.best_header.number
        if len(self._admitted) > _PRUNE_ACCOUNTS:
            for account in list(self._admitted):
                self._recent(account, best)
        number = self.store.header(grant.block_hash)
        self._admitted.setdefault(grant.account, {})[grant.nonce] = (
            best if number is None else number.number
        )

    def _recent(self, account: bytes, best: int) -> dict[bytes, int]:
        """The account's admitted grants still recent, forgetting the others."""
        admitted = self._admitted.get(account)
        if admitted is None:
            return {}
        fresh = {n: at for n, at in admitted.items() if at + self.grant_blocks >= best}
        if fresh:
            self._admitted[account] = fresh
        else:
            del self._admitted[account]
        return fresh
