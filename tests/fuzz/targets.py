"""The fuzz targets: what each feeds the node, and what counts as a failure.

A target is a function of one byte string. It returns normally when the code under test answered
the input as the code promises (a value, or the specific error its docstring names, which the
target catches); anything else it raises, or it raises `Finding` itself when an answer breaks a
promise (bytes that decode must re-encode to themselves; an RPC answer is never "Internal error").
Each target's `seeds` are well-formed inputs for the fuzzer to mutate from.

The targets drive real parts: the canonical codec, a node core over a real dev-chain state (its
pool, importer, gossip and request handlers), the RPC method table of a node service over that
core, chain-spec parsing with genesis building, and the simulator's scenario files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import trio

from chain.core.actions import Action, ReportPeer
from chain.core.boundary import RequestRefused
from chain.core.finality import sign_justification
from chain.core.importer import BlockRejected, seal_block
from chain.core.messages import (
    PROTOCOL_CATCH_UP,
    PROTOCOL_NEIGHBOUR,
    PROTOCOL_STATUS,
    PROTOCOL_SYNC,
    TOPICS,
    BlockAnnounce,
    BlockRequest,
    encode_catch_up_request,
    encode_finality,
    encode_transactions,
)
from chain.core.node import NodeCore
from chain.core.pool import PoolError
from chain.service.metrics import NodeMetrics
from chain.service.node import NodeService
from chain.service.rpc.errors import INTERNAL_ERROR
from chain.service.rpc.methods import build_methods
from chain.service.rpc.protocol import answer
from chain.service.rpc.registry import execute
from chain.spec import ChainSpec, ChainSpecError, dev_spec
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from p2p.frames import (
    FrameError,
    FrameKind,
    FrameReader,
    decode_notification,
    decode_peer_list,
    encode_frame,
    encode_notification,
    encode_peer_list,
)
from runtime.block import Block, Header, decode_body, encode_body
from runtime.executive import BlockBuilder, InvalidTransaction
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import dev_keypair
from runtime.transaction import SignedTransaction, sign_transaction

ALICE: Final = dev_keypair("Alice")
BOB: Final = dev_keypair("Bob")
PEER: Final = "fuzz-peer"
NOW_MS: Final = 10**13
"""The node's clock while fuzzed: far after genesis, so every slot a block names is past."""
MAX_FRAME: Final = 4096
"""The frame limit the frame reader is fuzzed with (small, so oversized frames are reachable)."""


class Finding(AssertionError):
    """An answer that breaks what the code under test promises."""


@dataclass(frozen=True)
class Target:
    """One fuzz target: `build` makes the function fed each input (set-up runs once)."""

    name: str
    build: Callable[[], Callable[[bytes], None]]
    seeds: Callable[[], list[bytes]]


# The dev chain a node core is fuzzed over.


def _dev_store() -> ChainStore:
    spec = dev_spec()
    store = ChainStore(MemoryStore(), keep_states=16)
    store.initialize(spec.genesis_header(), spec.genesis_state())
    return store


def _transfer(nonce: int = 0) -> SignedTransaction:
    from chain.client.chain import transfer_call

    genesis_hash = dev_spec().genesis_header().hash
    return sign_transaction(
        ALICE, transfer_call(BOB.public, 10**12), nonce=nonce, genesis_hash=genesis_hash
    )


def _first_block() -> Block:
    """Block 1 of the dev chain, authored by //Alice with one transfer."""
    store = _dev_store()
    parent = store.best_header
    slot = NOW_MS // dev_spec().genesis.slot_duration_ms - 5
    builder = BlockBuilder(
        store.reader(parent.hash),
        parent,
        timestamp=slot * dev_spec().genesis.slot_duration_ms,
        slot=slot,
        author=ALICE,
        genesis_hash=store.genesis_hash,
    )
    builder.push(_transfer())
    executed = seal_block(
        store, parent, builder.finish(), builder.extrinsics, slot=slot, author=ALICE
    )
    return executed.block


# codec: canonical bytes in, the same bytes out.


def _codec() -> Callable[[bytes], None]:
    def one(data: bytes) -> None:
        try:
            value = codec.decode(data)
        except DecodeError:
            return
        if codec.encode(value) != data:
            raise Finding("bytes that decode re-encode to other bytes")

    return one


def _codec_seeds() -> list[bytes]:
    return [
        codec.encode(v)
        for v in (0, -1, 2**64 - 1, b"\x00" * 40, "xpl", [1, [b"", None, True]], [[[]]])
    ]


# transaction: decoding, then admission to a real pool over the dev chain's state.


def _transaction() -> Callable[[bytes], None]:
    core = NodeCore(_dev_store(), authority=None)

    def one(data: bytes) -> None:
        try:
            tx = SignedTransaction.decode(data)
        except DecodeError:
            return
        if tx.raw != data:
            raise Finding("a decoded transaction's bytes differ from the input")
        try:
            core.submit_transaction(data, NOW_MS)
        except (DecodeError, InvalidTransaction, PoolError):
            return

    return one


def _transaction_seeds() -> list[bytes]:
    return [_transfer(n).raw for n in range(3)]


# block: headers, bodies and blocks decoded, and blocks imported by a real node core.


def _block() -> Callable[[bytes], None]:
    core = NodeCore(_dev_store(), authority=None)

    def one(data: bytes) -> None:
        kind, rest = (data[0] % 3, data[1:]) if data else (0, data)
        try:
            if kind == 0:
                header = Header.decode(rest)
                if header.encode() != rest:
                    raise Finding("a decoded header re-encodes to other bytes")
                return
            if kind == 1:
                body = decode_body(rest)
                if encode_body(body) != rest:
                    raise Finding("a decoded block body re-encodes to other bytes")
                return
            block = Block.decode(rest)
        except DecodeError:
            return
        try:
            core.import_block(block, NOW_MS)
        except BlockRejected:
            return

    return one


def _block_seeds() -> list[bytes]:
    block = _first_block()
    return [
        b"\x00" + block.header.encode(),
        b"\x01" + encode_body(block.extrinsics),
        b"\x02" + block.encode(),
    ]


# p2p frames: the length-prefixed stream reader and the gossip frame decoders.


def _frames() -> Callable[[bytes], None]:
    async def read_all(data: bytes, chunk: int) -> None:
        position = 0

        async def read(n: int) -> bytes:
            nonlocal position
            piece = data[position : position + min(n, chunk)]
            position += len(piece)
            return piece

        reader = FrameReader(read, MAX_FRAME, discard_limit=4 * MAX_FRAME)
        for _ in range(64):
            body = await reader.read_frame()
            if body is None:
                return
            if len(body) > MAX_FRAME:
                raise Finding(f"a frame of {len(body)} bytes passed a limit of {MAX_FRAME}")
            with contextlib.suppress(FrameError):
                decode_notification(body)

    def one(data: bytes) -> None:
        if not data:
            return
        selector, rest = data[0], data[1:]
        try:
            if selector % 2 == 0:
                peers = decode_peer_list(rest, 16)
                if len(peers) > 16:
                    raise Finding("a peer list longer than its limit")
                return
            trio.run(read_all, rest, 1 + selector // 2)
        except FrameError:
            return

    return one


def _frames_seeds() -> list[bytes]:
    gossip = encode_notification(FrameKind.GOSSIP, "block", b"payload", bytes(32))
    peers = encode_peer_list([b"\x01" * 38, b"\x02" * 38])
    return [b"\x00" + peers, b"\x01" + encode_frame(gossip) + encode_frame(b"")]


# p2p messages: a peer's gossip on every topic and its requests on every protocol, handled by a
# real node core. Bad input must be refused (a verdict, a ReportPeer, RequestRefused or
# DecodeError), never crash the core.

REQUEST_PROTOCOLS: Final = (PROTOCOL_STATUS, PROTOCOL_SYNC, PROTOCOL_CATCH_UP, PROTOCOL_NEIGHBOUR)


def _messages() -> Callable[[bytes], None]:
    core = NodeCore(_dev_store(), authority=None)
    core.on_peer_connected(PEER, NOW_MS)

    def one(data: bytes) -> None:
        if not data:
            return
        selector, rest = data[0], data[1:]
        if selector % 2 == 0:
            topic = TOPICS[(selector // 2) % len(TOPICS)]
            _, actions = core.on_gossip(PEER, topic, rest, NOW_MS)
            _check_actions(actions)
            return
        protocol = REQUEST_PROTOCOLS[(selector // 2) % len(REQUEST_PROTOCOLS)]
        try:
            core.on_request(PEER, protocol, rest, NOW_MS)
        except (RequestRefused, DecodeError):
            return

    return one


def _check_actions(actions: list[Action]) -> None:
    for action in actions:
        if isinstance(action, ReportPeer) and action.cost <= 0:
            raise Finding(f"a peer reported at no cost: {action}")


def _messages_seeds() -> list[bytes]:
    block = _first_block()
    justification = sign_justification([ALICE], set_id=0, round_=1, target=block.header)
    return [
        bytes([0]) + BlockAnnounce.of(block).encode(),
        bytes([2]) + encode_transactions([_transfer().raw]),
        bytes([4]) + encode_finality("commit", codec.decode(justification.encode())),
        bytes([1]),
        bytes([3]) + BlockRequest(0, False, 4, True).encode(),
        bytes([5]) + encode_catch_up_request(0, 1),
    ]


# calls: signed calls of every pallet, with arguments drawn by their declared types (mostly in
# range, sometimes at or past a bound, sometimes of the wrong type), applied in a block over the
# dev genesis and the block's hooks run; then every invariant of the runtime is checked. A call
# may fail (it pays its fee and changes nothing else) or be refused; it may not raise anything
# else, and the state after the block must keep every invariant, total issuance included.

DEV_SIGNERS: Final = tuple(
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
)
CALLS_PER_INPUT: Final = 4
WORDS: Final = ("gemm_i8", "qmlp_i8", "sgd_fxp", "cpu", "cuda", "sampled", "always", "")
"""Strings the runtime gives meaning to (workloads, devices, verification modes): random text
would almost never reach the code behind them."""


def _type_args(name: str) -> list[str]:
    """The type names inside `list<...>`, `pair<...,...>` and the like, split at top level."""
    inner = name[name.index("<") + 1 : -1]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return parts


def _typed_value(r: _Reader, type_name: str, depth: int = 0) -> Any:
    """A codec value for a field of type `type_name`: one time in 32 of any shape at all."""
    # Garbage on 31, not 0: once the fuzzer's bytes run out the reader gives zeros, and those
    # should still draw well-typed values.
    if r.byte() % 32 == 31 or depth > 4:
        return _codec_value(r, depth)
    if type_name == "precommit":
        voter = DEV_SIGNERS[r.byte() % len(DEV_SIGNERS)].public
        return [r.take(32).ljust(32, b"\0"), r.byte(), voter, r.take(64).ljust(64, b"\0")]
    if type_name in ("u8", "u32", "u64", "balance") or type_name.startswith(("u", "i")):
        top = {"u8": 2**8 - 1, "u32": 2**32 - 1, "u64": 2**64 - 1}.get(type_name, 2**128 - 1)
        pick = r.byte() % 6
        number = [0, 1, top, 10**12 * (1 + r.byte()), r.byte(), top // 2][pick]
        return codec.encode_u128(number) if type_name == "balance" else number
    if type_name in ("account", "hash"):
        if type_name == "account" and r.byte() % 2 == 0:
            return DEV_SIGNERS[r.byte() % len(DEV_SIGNERS)].public
        return r.take(32).ljust(32, b"\0")
    if type_name == "bool":
        return r.byte() % 2 == 1
    if type_name.startswith("bytes<"):
        return r.take(r.byte() % 80)
    if type_name.startswith("str<"):
        if r.byte() % 4:
            return WORDS[r.byte() % len(WORDS)]
        return r.take(r.byte() % 24).decode("latin-1")
    if type_name.startswith("option<"):
        return None if r.byte() % 2 == 0 else _typed_value(r, _type_args(type_name)[0], depth + 1)
    if type_name.startswith(("list<", "tuple<")):
        inner = _type_args(type_name)[0]
        return [_typed_value(r, inner, depth + 1) for _ in range(r.byte() % 5)]
    if type_name.startswith("pair<"):
        first, second = _type_args(type_name)
        return [_typed_value(r, first, depth + 1), _typed_value(r, second, depth + 1)]
    return _codec_value(r, depth)


def _codec_value(r: _Reader, depth: int) -> Any:
    kind = r.byte() % 6
    if kind == 0 or depth > 3:
        return None
    if kind == 1:
        return int.from_bytes(r.take(r.byte() % 9), "big")
    if kind == 2:
        return r.take(r.byte() % 40)
    if kind == 3:
        return r.take(r.byte() % 12).decode("latin-1")
    if kind == 4:
        return r.byte() % 2 == 0
    return [_codec_value(r, depth + 1) for _ in range(r.byte() % 4)]


def _calls() -> Callable[[bytes], None]:
    from runtime.executive import CALLS
    from runtime.invariants import check_invariants
    from runtime.transaction import Call

    spec = dev_spec()
    genesis = spec.genesis_state()
    header = spec.genesis_header()
    slot_ms = spec.genesis.slot_duration_ms
    calls = sorted(CALLS.items())

    def one(data: bytes) -> None:
        r = _Reader(data)
        builder = BlockBuilder(
            genesis.get,
            header,
            timestamp=slot_ms,
            slot=1,
            author=ALICE,
            genesis_hash=header.hash,
        )
        nonces = [0] * len(DEV_SIGNERS)
        for _ in range(1 + r.byte() % CALLS_PER_INPUT):
            (pallet, name), call_def = calls[r.byte() % len(calls)]
            args = [_typed_value(r, t.name) for _, t in call_def.args]
            who = r.byte() % len(DEV_SIGNERS)
            tx = sign_transaction(
                DEV_SIGNERS[who],
                Call(pallet, name, args),
                nonce=nonces[who],
                genesis_hash=header.hash,
                tip=r.byte() % 3,
            )
            try:
                builder.push(tx)
            except InvalidTransaction:
                continue
            nonces[who] += 1
        result = builder.finish()
        state = dict(genesis)
        for key, value in result.changes.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value

        def iterate(prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
            return iter(sorted((k, v) for k, v in state.items() if k.startswith(prefix)))

        problems = check_invariants(state.get, iterate)
        if problems:
            raise Finding(f"invariants broken after fuzzed calls: {problems}")

    return one


def _calls_seeds() -> list[bytes]:
    return [bytes([0, i, 1, 2, 3, 4, 5, 6, 7]) for i in range(0, 64, 7)]


# rpc: request documents answered by the node's real method table (HTTP: no subscriptions).

_RPC_NAMES: list[str] = []


def _rpc() -> Callable[[bytes], None]:
    store = _dev_store()
    core = NodeCore(store, authority=None)
    service = NodeService(core, dev_spec(), name="fuzz", metrics=NodeMetrics())
    methods = build_methods(service)
    _RPC_NAMES[:] = methods.names()
    failures: list[str] = []

    class Failures(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                failures.append(record.getMessage())

    logging.getLogger("chain").addHandler(Failures())
    logging.getLogger("chain").propagate = False

    async def run(payload: bytes) -> str | None:
        text, subscriptions = await answer(
            payload,
            lambda request: execute(methods, request, None),
            max_batch=16,
            max_response_bytes=1 << 20,
        )
        if subscriptions:
            raise Finding("a subscription opened over HTTP")
        return text

    def one(data: bytes) -> None:
        payload = request_document(data)
        failures.clear()
        text = trio.run(run, payload)
        if failures:
            raise Finding(f"the node logged an error: {failures[0]}")
        if text is None:
            return
        document = json.loads(text)
        for item in document if isinstance(document, list) else [document]:
            if "error" in item and item["error"]["code"] == INTERNAL_ERROR:
                raise Finding(f"Internal error answering {payload[:200]!r}")

    return one


class _Reader:
    """Reads small choices off the fuzzer's bytes; zeros once they run out."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        value = self.data[self.at] if self.at < len(self.data) else 0
        self.at += 1
        return value

    def take(self, n: int) -> bytes:
        piece = self.data[self.at : self.at + n]
        self.at += n
        return piece


def _json_value(r: _Reader, depth: int) -> Any:
    kind = r.byte() % 11
    if kind == 0:
        return None
    if kind == 1:
        return r.byte() % 2 == 1
    if kind == 2:
        return int.from_bytes(r.take(2), "big", signed=True) if r.byte() else r.byte()
    if kind == 3:
        return int.from_bytes(r.take(r.byte() % 20), "big", signed=True)
    if kind == 4:
        text = r.take(r.byte() % 24).decode("latin-1")
        # Now and then a UTF-16 surrogate, which JSON carries as a (maybe lone) escape.
        return text + chr(0xD800 + r.byte() * 4) if r.byte() % 8 == 0 else text
    if kind == 5:
        return "0x" + r.take(r.byte() % 40).hex()
    if kind == 6:
        return str(int.from_bytes(r.take(r.byte() % 10), "big"))
    if kind == 7:
        return [1.5, 1e300, -0.0][r.byte() % 3]
    if kind == 8 and _RPC_NAMES:
        return _RPC_NAMES[r.byte() % len(_RPC_NAMES)]
    if depth >= 3:
        return r.byte()
    if kind == 9:
        return [_json_value(r, depth + 1) for _ in range(r.byte() % 5)]
    return {str(_json_value(r, depth + 1)): _json_value(r, depth + 1) for _ in range(r.byte() % 4)}


def request_document(data: bytes) -> bytes:
    """The fuzzer's bytes as an RPC payload: raw (first byte even) or a request built from
    them, naming one of the node's methods with parameters drawn from the rest."""
    if not data or data[0] % 2 == 0:
        return data[1:]
    r = _Reader(data[1:])
    method = _RPC_NAMES[r.byte() % len(_RPC_NAMES)] if _RPC_NAMES else "system_health"
    count = r.byte() % 4
    params: Any = [_json_value(r, 1) for _ in range(count)]
    if r.byte() % 4 == 0:
        params = {f"p{i}": v for i, v in enumerate(params)}
    request = {"jsonrpc": "2.0", "method": method, "params": params, "id": r.byte()}
    return json.dumps(request).encode()


def _rpc_seeds() -> list[bytes]:
    return [
        b"\x00" + b'{"jsonrpc":"2.0","method":"system_health","params":[],"id":1}',
        b"\x00" + b'[{"jsonrpc":"2.0","method":"chain_getBlockHash","params":[0],"id":1}]',
        bytes([1, 0, 1, 2, 0, 7]),
        bytes([1, 9, 2, 5, 32]) + bytes(32),
    ]


# chain spec: JSON documents parsed into a spec and its genesis built.


def _chain_spec() -> Callable[[bytes], None]:
    base = dev_spec().to_json()

    def one(data: bytes) -> None:
        document: Any
        if data and data[0] % 2 == 1:
            document = _mutated(base, _Reader(data[1:]))
        else:
            try:
                document = json.loads(data[1:])
            except (ValueError, RecursionError):
                return
        try:
            ChainSpec.from_json(document)
        except ChainSpecError:
            return

    return one


def _mutated(document: Any, r: _Reader) -> Any:
    """A copy of `document` with a few values, chosen by `r`, replaced by fuzzed ones."""
    copy = json.loads(json.dumps(document))
    for _ in range(1 + r.byte() % 3):
        paths = list(_paths(copy))
        path = paths[r.byte() % len(paths)]
        parent = copy
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = _json_value(r, 1)
    return copy


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items: Any = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        yield (*prefix, key)
        if isinstance(item, dict | list) and item:
            yield from _paths(item, (*prefix, key))


def _chain_spec_seeds() -> list[bytes]:
    return [b"\x00" + json.dumps(dev_spec().to_json()).encode(), bytes([1, 3, 5, 2, 0, 9])]


# scenario: simulator scenario files (TOML) and --set overrides, checked against the schema.

QUICK_SCENARIO: Final = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "quick.toml"


def _scenario() -> Callable[[bytes], None]:
    import tomllib

    from sim.scenario import (
        ScenarioError,
        load_scenario,
        resolved_toml,
        scenario_dict,
        scenario_from_dict,
        with_overrides,
    )
    from sim.scenario.loading import parse_toml

    quick = load_scenario(QUICK_SCENARIO)
    base = scenario_dict(quick)

    def one(data: bytes) -> None:
        mode = data[0] % 3 if data else 0
        try:
            if mode == 0:
                scenario = scenario_from_dict(parse_toml(data[1:], "fuzz.toml"), source="fuzz")
            elif mode == 1:
                scenario = scenario_from_dict(_mutated(base, _Reader(data[1:])), source="fuzz")
            else:
                lines = data[1:].decode("latin-1").splitlines()
                scenario = with_overrides(quick, lines[:4])
        except ScenarioError as exc:
            if "pydantic" in str(exc) or "validation error" in str(exc):
                raise Finding(f"a raw pydantic error reached the user: {exc}") from exc
            return
        if scenario_from_dict(tomllib.loads(resolved_toml(scenario))) != scenario:
            raise Finding("a scenario's resolved TOML loads back as another scenario")
        for dist in (scenario.validators.stake, *(w.throughput for w in scenario.workers)):
            if not all(math.isfinite(x) for x in dist.draw(random.Random(0), 8)):
                raise Finding(f"a distribution drew a value that is not finite: {dist}")

    return one


def _scenario_seeds() -> list[bytes]:
    return [
        b"\x00" + QUICK_SCENARIO.read_bytes(),
        b'\x00name = "m"\nduration_s = 1.0\nvalidators = { count = 1 }\n',
        bytes([1, 3, 5, 2, 0, 9, 7, 1]),
        b'\x02chain.compute.audit_ppm=500000\nworkers[0].count=50\nvalidators.regions=["eu"]',
    ]


TARGETS: Final = {
    t.name: t
    for t in (
        Target("codec", _codec, _codec_seeds),
        Target("transaction", _transaction, _transaction_seeds),
        Target("block", _block, _block_seeds),
        Target("p2p_frames", _frames, _frames_seeds),
        Target("p2p_messages", _messages, _messages_seeds),
        Target("calls", _calls, _calls_seeds),
        Target("rpc", _rpc, _rpc_seeds),
        Target("chain_spec", _chain_spec, _chain_spec_seeds),
        Target("scenario", _scenario, _scenario_seeds),
    )
}
"""Every fuzz target by name."""
