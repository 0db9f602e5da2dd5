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

from chain.rpc.client import ClientSubscription, RpcClient, RpcClientError, RpcConnectionError
from runtime.executive import CALLS
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import from_hex, to_hex
from runtime.primitives.keys import Keypair
from runtime.transaction import Call, Mortality, SignedTransaction, sign_transaction

DEFAULT_RPC_URL: Final = "http://127.0.0.1:9944"
DEFAULT_MORTALITY: Final = 64
"""Blocks a transaction built by this client stays valid for, counted from its birth block."""


class TransactionFailed(Exception):
    """A transaction was refused, dropped, or could not be followed to the state asked for."""


def make_call(pallet: str, name: str, *args: Any) -> Call:
    """A call with its arguments encoded by the runtime's declaration of it."""
    call_def = CALLS.get((pallet, name))
    if call_def is None:
        raise ValueError(f"the runtime has no call {pallet}.{name}")
    if len(args) != len(call_def.args):
        raise ValueError(f"{pallet}.{name} takes {len(call_def.args)} arguments")
    return Call(pallet, name, call_def.encode_args(tuple(args)))


def transfer_call(dest: bytes, amount: int, *, keep_alive: bool = False) -> Call:
    return make_call("balances", "transfer_keep_alive" if keep_alive else "transfer", dest, amount)


@dataclass(frozen=True)
class Account:
    nonce: int
    free: int
    reserved: int
    holds: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return self.free + self.reserved


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


class XplClient:
    """A connection to one node."""

    def __init__(self, url: str = DEFAULT_RPC_URL, *, timeout: float = 30.0) -> None:
        self.rpc = RpcClient(url, timeout=timeout)
        self.url = url
        self._genesis: bytes | None = None

    def close(self) -> None:
        self.rpc.close()

    def __enter__(self) -> XplClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Chain

    def genesis_hash(self) -> bytes:
        if self._genesis is None:
            self._genesis = from_hex(self.rpc.call("chain_getBlockHash", 0), length=32)
        return self._genesis

    def header(self, block_hash: bytes | None = None) -> dict[str, Any]:
        params = [] if block_hash is None else [to_hex(block_hash)]
        result = self.rpc.call("chain_getHeader", *params)
        if result is None:
            raise RpcClientError(-32012, "unknown block")
        return result  # type: ignore[no-any-return]

    def best_number(self) -> int:
        return int(self.header()["number"], 16)

    def finalized_hash(self) -> bytes:
        return from_hex(self.rpc.call("chain_getFinalizedHead"), length=32)

    def finalized_number(self) -> int:
        return int(self.header(self.finalized_hash())["number"], 16)

    def block_hash(self, number: int) -> bytes | None:
        result = self.rpc.call("chain_getBlockHash", number)
        return None if result is None else from_hex(result, length=32)

    def block(self, block_hash: bytes) -> dict[str, Any]:
        result = self.rpc.call("chain_getBlock", to_hex(block_hash))
        if result is None:
            raise RpcClientError(-32012, "unknown block")
        return result  # type: ignore[no-any-return]

    def events(self, block_hash: bytes) -> list[dict[str, Any]]:
        return self.rpc.call("chain_getEvents", to_hex(block_hash))  # type: ignore[no-any-return]

    def health(self) -> dict[str, Any]:
        return self.rpc.call("system_health")  # type: ignore[no-any-return]

    # Accounts

    def account(self, who: bytes, *, at: bytes | None = None) -> Account:
        params: list[object] = [encode_address(who)]
        if at is not None:
            params.append(to_hex(at))
        r = self.rpc.call("balances_account", *params)
        return Account(
            nonce=r["nonce"],
            free=int(r["free"]),
            reserved=int(r["reserved"]),
            holds=tuple((h["reason"], int(h["amount"])) for h in r["holds"]),
        )

    def next_nonce(self, who: bytes) -> int:
        return int(self.rpc.call("system_accountNextIndex", encode_address(who)))

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
