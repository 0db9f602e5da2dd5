"""The Python client of an XPL node: typed calls over JSON-RPC, and transaction building.

The CLI, the demo and the tests all use this one client.

    client = XplClient("http://127.0.0.1:9944")
    tx = client.sign(dev_keypair("Alice"), transfer_call(bob, parse_amount("12.5XPL")))
    outcome = client.submit_and_watch(tx, until="finalized")
    print(outcome.success, outcome.fee)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from chain.client.checks import check_from_json
from chain.client.metadata import Metadata
from chain.client.rpc import ClientSubscription, RpcClient, RpcClientError, RpcConnectionError
from runtime.api import make_call as make_call
from runtime.pallets import balances, compute, market, staking
from runtime.primitives.address import decode_address, encode_address
from runtime.primitives.hashing import from_hex, to_hex
from runtime.primitives.keys import Keypair
from runtime.schema import record_from_json
from runtime.transaction import Call, Mortality, SignedTransaction, sign_transaction

DEFAULT_RPC_URL: Final = "http://127.0.0.1:9944"
DEFAULT_MORTALITY: Final = 64
"""Blocks a transaction built by this client stays valid for, counted from its birth block."""


class TransactionFailed(Exception):
    """A transaction was refused, dropped, or could not be followed to the state asked for."""


def transfer_call(dest: bytes, amount: int, *, keep_alive: bool = False) -> Call:
    """A `balances.transfer` of `amount` units to `dest` (`transfer_keep_alive` with keep_alive,
    which refuses to reap the sender)."""
    return make_call("balances", "transfer_keep_alive" if keep_alive else "transfer", dest, amount)


@dataclass(frozen=True)
class Account:
    """An account as `balances_account` reports it: nonce, free and reserved units, named holds,
    and its largest freeze (a vote's lock)."""

    nonce: int
    free: int
    reserved: int
    holds: tuple[tuple[str, int], ...]
    frozen: int = 0

    @property
    def total(self) -> int:
        return self.free + self.reserved

    @property
    def usable(self) -> int:
        """What of the free balance may leave the account: the lock covers the stake first."""
        staked = sum(a for r, a in self.holds if r == balances.STAKING_HOLD)
        return max(0, self.free - max(0, self.frozen - staked))


@dataclass(frozen=True)
class TxOutcome:
    """What became of a submitted transaction."""

    tx_hash: bytes
    block_hash: bytes
    block_number: int
    index: int
    success: bool
    error: str | None
    fee: int
    events: list[dict[str, Any]]
    finalized: bool


@dataclass(frozen=True)
class JobView:
    """A job as the node reports it: the runtime's record, its id and its checks."""

    id: int
    job: market.Job
    checks: tuple[compute.Check, ...]
    settles_at: int | None

    @property
    def state(self) -> str:
        return self.job.state

    @property
    def digest(self) -> bytes:
        """What names the job by its content (`market.job_digest`): calls about it carry it."""
        return market.job_digest(self.id, self.job)


def _optional_account(value: Any) -> bytes | None:
    return None if value is None else decode_address(value)


def _model_use(data: dict[str, Any] | None) -> market.ModelUse | None:
    """The model a job runs, from its JSON (null: none)."""
    if data is None:
        return None
    return market.ModelUse(
        data["id"], data["version"], decode_address(data["owner"]), int(data["fee"])
    )


def job_from_json(data: dict[str, Any]) -> JobView:
    """Parse the JSON of market_job / market_jobs back into the runtime's types."""
    checks = tuple(check_from_json(c) for c in data["checks"])
    job = market.Job(
        requester=decode_address(data["requester"]),
        workload=data["workload"],
        params=tuple(data["params"]),
        inputs=tuple(
            (i["name"], b"" if i["root"] is None else from_hex(i["root"], length=32))
            for i in data["inputs"]
        ),
        seed=data["seed"],
        max_price=int(data["maxPrice"]),
        cost_units=data["costUnits"],
        leaves=data["leaves"],
        escrow=int(data["escrow"]),
        mode=data["mode"],
        deadline_blocks=data["deadlineBlocks"],
        expires_at=data["expiresAt"],
        submitted_at=data["submittedAt"],
        state=data["state"],
        worker=_optional_account(data["worker"]),
        price=int(data["price"]),
        slash=int(data["slash"]),
        matched_at=data["matchedAt"] or 0,
        commit_by=data["commitBy"] or 0,
        result_root=b"" if data["resultRoot"] is None else from_hex(data["resultRoot"], length=32),
        committed_at=data["committedAt"] or 0,
        past_matches=tuple(
            market.PastMatch(
                decode_address(m["worker"]),
                m["matchedAt"],
                m["commitBy"],
                m["endedAt"],
                m["outcome"],
                int(m["penalty"]),
            )
            for m in data.get("matches", ())
            if m["outcome"] is not None
        ),
        model=_model_use(data.get("model")),
    )
    return JobView(id=data["id"], job=job, checks=checks, settles_at=data["settlesAt"])


def worker_from_json(data: dict[str, Any]) -> tuple[bytes, market.Worker]:
    """Parse the JSON of market_workers back into (account, the runtime's Worker)."""
    return decode_address(data["account"]), market.Worker(
        stake=int(data["stake"]),
        bonded=int(data["bonded"]),
        device=data["device"],
        memory_mb=data["memoryMb"],
        throughput=tuple((w, int(t)) for w, t in data["throughput"].items()),
        asks=tuple((w, int(p)) for w, p in data["asks"].items()),
        endpoint=data["endpoint"],
        capacity=data["capacity"],
        active=data["active"],
        reputation=data["reputation"],
        retiring=data["retiring"],
        raised_asks=tuple((w, int(p)) for w, p in data.get("raisedAsks", {}).items()),
        raised_at=data.get("raisedAt") or 0,
    )


class XplClient:
    """A connection to one node."""

    def __init__(self, url: str = DEFAULT_RPC_URL, *, timeout: float = 30.0) -> None:
        self.rpc = RpcClient(url, timeout=timeout)
        self.url = url
        self._genesis: bytes | None = None
        self._metadata: Metadata | None = None

    def close(self) -> None:
        """Close the connection to the node."""
        self.rpc.close()

    def __enter__(self) -> XplClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Chain

    def genesis_hash(self) -> bytes:
        """The chain's genesis hash (asked once, then remembered)."""
        if self._genesis is None:
            self._genesis = from_hex(self.rpc.call("chain_getBlockHash", 0), length=32)
        return self._genesis

    def metadata(self) -> Metadata:
        """The node's runtime metadata (asked once, then remembered): its pallets, calls,
        arguments, events and errors, against which calls are checked before signing."""
        if self._metadata is None:
            self._metadata = Metadata(self.rpc.call("state_getMetadata"))
        return self._metadata

    def header(self, block_hash: bytes | None = None) -> dict[str, Any]:
        """The header of `block_hash` (the best block by default) as JSON; RpcClientError if the
        node does not know it."""
        params = [] if block_hash is None else [to_hex(block_hash)]
        result = self.rpc.call("chain_getHeader", *params)
        if result is None:
            raise RpcClientError(-32012, "unknown block")
        return result  # type: ignore[no-any-return]

    def best_number(self) -> int:
        """The node's best block number."""
        return int(self.header()["number"], 16)

    def finalized_hash(self) -> bytes:
        """The hash of the node's last finalized block."""
        return from_hex(self.rpc.call("chain_getFinalizedHead"), length=32)

    def finalized_number(self) -> int:
        """The number of the node's last finalized block."""
        return int(self.header(self.finalized_hash())["number"], 16)

    def block_hash(self, number: int) -> bytes | None:
        """The hash of block `number` on the node's best chain, or None beyond its head."""
        result = self.rpc.call("chain_getBlockHash", number)
        return None if result is None else from_hex(result, length=32)

    def block(self, block_hash: bytes) -> dict[str, Any]:
        """Block `block_hash` with its extrinsics and justification, as JSON; RpcClientError if
        the node does not know it."""
        result = self.rpc.call("chain_getBlock", to_hex(block_hash))
        if result is None:
            raise RpcClientError(-32012, "unknown block")
        return result  # type: ignore[no-any-return]

    def events(self, block_hash: bytes) -> list[dict[str, Any]]:
        """The events block `block_hash` deposited, decoded, in order."""
        return self.rpc.call("chain_getEvents", to_hex(block_hash))  # type: ignore[no-any-return]

    def health(self) -> dict[str, Any]:
        """`system_health`: peers, whether the node is syncing, whether it should have peers."""
        return self.rpc.call("system_health")  # type: ignore[no-any-return]

    # Accounts

    def account(self, who: bytes, *, at: bytes | None = None) -> Account:
        """Account `who` at block `at` (the best block by default)."""
        params: list[object] = [encode_address(who)]
        if at is not None:
            params.append(to_hex(at))
        r = self.rpc.call("balances_account", *params)
        return Account(
            nonce=r["nonce"],
            free=int(r["free"]),
            reserved=int(r["reserved"]),
            holds=tuple((h["reason"], int(h["amount"])) for h in r["holds"]),
            frozen=int(r.get("frozen", 0)),
        )

    def next_nonce(self, who: bytes) -> int:
        """The nonce `who`'s next transaction should carry, counting those in the node's pool."""
        return int(self.rpc.call("system_accountNextIndex", encode_address(who)))

    # Market

    def job(self, job_id: int) -> JobView | None:
        """Job `job_id` at the best block, or None if there is none."""
        data = self.rpc.call("market_job", job_id)
        return None if data is None else job_from_json(data)

    def jobs(
        self,
        *,
        states: list[str] | None = None,
        worker: bytes | None = None,
        requester: bytes | None = None,
        limit: int = 100,
    ) -> list[JobView]:
        """Jobs at the best block, newest first, filtered by state, worker and requester."""
        wanted: dict[str, Any] = {"limit": limit}
        if states is not None:
            wanted["state"] = states
        if worker is not None:
            wanted["worker"] = encode_address(worker)
        if requester is not None:
            wanted["requester"] = encode_address(requester)
        return [job_from_json(j) for j in self.rpc.call("market_jobs", wanted)]

    def workers(self) -> dict[bytes, market.Worker]:
        """Every registered worker, by account."""
        return dict(worker_from_json(w) for w in self.rpc.call("market_workers"))

    def market_params(self) -> tuple[market.MarketParams, compute.ComputeParams]:
        """The market and compute parameters in force, as the runtime's types."""
        data = self.rpc.call("market_params")
        m, c = data["market"], data["compute"]
        return (
            record_from_json(market.MarketParams, m),
            record_from_json(compute.ComputeParams, c),
        )

    def subscribe_job(self, job_id: int) -> ClientSubscription:
        """The job now ({"job": ...}), then {"block", "number", "events"} as it moves."""
        return self.rpc.subscribe("market_subscribeJob", [job_id], "market_unsubscribeJob")

    # Staking

    def staking_validators(self) -> dict[str, Any]:
        """The era's validators ("active") and the candidates, as staking_validators gives them."""
        return self.rpc.call("staking_validators")  # type: ignore[no-any-return]

    def staking_era(self) -> dict[str, Any]:
        """The current era, the block that started it, and when the next one starts."""
        return self.rpc.call("staking_era")  # type: ignore[no-any-return]

    def staking_ledger(self, stash: bytes) -> staking.Ledger | None:
        """A stash's bond as the runtime's Ledger, or None if it has none."""
        data = self.rpc.call("staking_ledger", encode_address(stash))
        if data is None:
            return None
        return staking.Ledger(
            active=int(data["active"]),
            unlocking=tuple((c["block"], int(c["amount"])) for c in data["unlocking"]),
        )

    # Governance: referenda

    def gov_referenda(self) -> list[dict[str, Any]]:
        """Every ongoing referendum and the latest ended ones, newest first (gov_referenda)."""
        return self.rpc.call("gov_referenda")  # type: ignore[no-any-return]

    def gov_referendum(self, index: int) -> dict[str, Any] | None:
        """One referendum with its tally, the curves' thresholds now and the time left in its
        phase; None if there is none (gov_referendum)."""
        return self.rpc.call("gov_referendum", index)  # type: ignore[no-any-return]

    def gov_tracks(self) -> list[dict[str, Any]]:
        """The tracks, each with its curves sampled over the decision period (gov_tracks)."""
        return self.rpc.call("gov_tracks")  # type: ignore[no-any-return]

    # Transactions

    def sign(
        self,
        keypair: Keypair,
        call: Call,
        *,
        tip: int = 0,
        nonce: int | None = None,
        mortal_for: int | None = DEFAULT_MORTALITY,
    ) -> SignedTransaction:
        """Sign `call` for this chain: next nonce, born at the finalized head unless immortal."""
        genesis = self.genesis_hash()
        if nonce is None:
            nonce = self.next_nonce(keypair.public)
        if mortal_for is None:
            return sign_transaction(keypair, call, nonce=nonce, genesis_hash=genesis, tip=tip)
        birth_hash = self.finalized_hash()
        birth = int(self.header(birth_hash)["number"], 16)
        return sign_transaction(
            keypair,
            call,
            nonce=nonce,
            genesis_hash=genesis,
            tip=tip,
            mortality=Mortality(mortal_for, birth),
            birth_hash=birth_hash,
        )

    def query_fee(self, tx: SignedTransaction) -> int:
        """The fee the node would charge for `tx`, tip excluded."""
        return int(self.rpc.call("payment_queryInfo", to_hex(tx.raw))["partialFee"])

    def submit(self, tx: SignedTransaction) -> bytes:
        """Hand `tx` to the node's pool; its hash. RpcClientError if refused."""
        return from_hex(self.rpc.call("author_submitExtrinsic", to_hex(tx.raw)), length=32)

    def watch(self, tx: SignedTransaction) -> ClientSubscription:
        """Submit `tx` and subscribe to its status updates."""
        return self.rpc.subscribe(
            "author_submitAndWatchExtrinsic", [to_hex(tx.raw)], "author_unwatchExtrinsic"
        )

    def submit_and_watch(
        self,
        tx: SignedTransaction,
        *,
        until: Literal["inBlock", "finalized"] = "finalized",
        timeout: float = 60.0,
        on_status: Callable[[Any], None] | None = None,
    ) -> TxOutcome:
        """Submit `tx` and wait until it is in a block (or final); its outcome and events."""
        block_hash: bytes | None = None
        finalized = False
        with self.watch(tx) as subscription:
            while True:
                try:
                    status = subscription.next(timeout=timeout)
                except TimeoutError as exc:
                    raise TransactionFailed(f"no update for {timeout:.0f} s") from exc
                except RpcConnectionError as exc:
                    raise TransactionFailed(f"lost the node: {exc}") from exc
                if on_status is not None:
                    on_status(status)
                if isinstance(status, dict) and "inBlock" in status:
                    block_hash = from_hex(status["inBlock"], length=32)
                    if until == "inBlock":
                        break
                elif isinstance(status, dict) and "finalized" in status:
                    block_hash = from_hex(status["finalized"], length=32)
                    finalized = True
                    break
                elif isinstance(status, dict) and status.keys() & {"invalid", "dropped", "usurped"}:
                    kind, reason = next(iter(status.items()))
                    raise TransactionFailed(f"transaction {kind}: {reason}")
        return self.outcome(tx, block_hash, finalized=finalized)

    def outcome(self, tx: SignedTransaction, block_hash: bytes, *, finalized: bool) -> TxOutcome:
        """Find `tx` in the block and read its events."""
        block = self.block(block_hash)
        raw_hex = to_hex(tx.raw)
        try:
            index = block["block"]["extrinsics"].index(raw_hex)
        except ValueError as exc:
            raise TransactionFailed("the transaction is not in the block the node named") from exc
        events = [e for e in self.events(block_hash) if e["phase"] == index]
        success = any(e["pallet"] == "system" and e["event"] == "ExtrinsicSuccess" for e in events)
        failed = [e for e in events if e["event"] == "ExtrinsicFailed"]
        error = None
        if failed:
            data = failed[0]["data"]
            error = f"{data['pallet']}.{data['error']}"
        fee = sum(
            int(e["data"]["actual_fee"]) for e in events if e["event"] == "TransactionFeePaid"
        )
        return TxOutcome(
            tx_hash=tx.hash,
            block_hash=block_hash,
            block_number=int(block["block"]["header"]["number"], 16),
            index=index,
            success=success,
            error=error,
            fee=fee,
            events=events,
            finalized=finalized,
        )
