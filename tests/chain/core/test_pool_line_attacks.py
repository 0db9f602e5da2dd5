"""Attacks on an account's line in the pool, each shown failing: a high tip at the end of each
line no longer shields the cheap transactions before it from eviction, replacing the end of a
long gapped line costs the pool about one admission in lines executed (no walk of the line),
and a job submission declares the rent of a full queue, so every ready transaction behind it
still pays its fee.
"""

from __future__ import annotations

import contextlib

import pytest

from chain.client.chain import make_call, transfer_call
from chain.core.node import NodeCore
from chain.core.pool import (
    DEFAULT_MAX_PER_ACCOUNT,
    DEFAULT_MAX_READY,
    FeesExceedBalance,
    PoolError,
    TransactionPool,
)
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from runtime.executive import InvalidTransaction, ValidTransaction, validate_transaction
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.pallets.market import MAX_PENDING_JOBS, MAX_PENDING_PER_REQUESTER, MAX_WAIT_BLOCKS
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.primitives import trie
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import Call, SignedTransaction, sign_transaction
from tests.chain.core.test_pool_flood import AUTHOR, SLOT_MS, XPL, Flood, keys, transfer_fee
from tests.cost import executed_lines
from tests.runtime.pallets.market_helpers import (
    ACCOUNTS,
    ENDOWMENT,
    UNIT,
    WORKER,
    MarketChain,
    market_config,
)
from tests.runtime.pallets.market_helpers import AUTHOR as MARKET_AUTHOR

LEAST_PRICE = 10**10
JOB_ARGS = (
    "gemm_i8",
    [1000, 500, 1000, 100],
    ["a", "b"],
    [b"", b""],
    7,
    LEAST_PRICE,
    10_000,
    MAX_WAIT_BLOCKS,
    "sampled",
)


def test_a_high_tip_on_the_last_of_each_line_shields_nothing_before_it() -> None:
    """Sixteen accounts, each funded for its whole line, send 1,023 tip-0 transfers and a last
    one tipping 10 fees, filling all 16,384 ready places. An honest transfer tipping 5 fees
    evicts the lowest-priority line (a tip-0 transfer with everything after it, the tipped one
    included) and goes into the next block: the attacker paid for tips and shut no one out."""
    sybils = keys(b"sybil", 16)
    honest = dev_keypair("Bob")
    fee = transfer_fee()
    tail_tip = 10 * fee
    per = DEFAULT_MAX_PER_ACCOUNT
    assert len(sybils) * per == DEFAULT_MAX_READY
    funded = EXISTENTIAL_DEPOSIT + per * (2 * fee + 1) + tail_tip
    config = GenesisConfig(
        validators=(GenesisValidator(AUTHOR.public, DEFAULT_STAKING_PARAMS.min_validator_bond),),
        slot_duration_ms=SLOT_MS,
        balances=(
            (AUTHOR.public, 1_000 * XPL),
            (honest.public, 1_000 * XPL),
            *((k.public, funded) for k in sybils),
        ),
    )
    state = build_genesis_state(config)
    store = ChainStore(MemoryStore(), keep_states=8)
    store.initialize(genesis_header(trie.root_of(state)), state)
    f = Flood(NodeCore(store, authority=AUTHOR, pool=TransactionPool()), store.genesis_hash, fee)
    for k in sybils:
        for n in range(per):
            assert f.submit(f.sign(k, n, tail_tip if n == per - 1 else 0))
    pool = f.core.pool
    assert pool.ready_count == DEFAULT_MAX_READY
    transfer = f.sign(honest, 0, 5 * fee)
    f.core.submit_transaction(transfer.raw, SLOT_MS // 3)  # admitted: no PoolFull
    assert pool.is_ready(transfer.hash)
    # The victim's tipped transfer went with the tip-0 one it depended on.
    assert pool.ready_count <= DEFAULT_MAX_READY
    included = f.author_next()
    assert transfer.hash in included
    # The attacker's gain is the honest transfers it kept out (none); its cost, the fees of its
    # transfers that the block included.
    gain = 5 * fee * (transfer.hash not in included)
    paid = fee * (len(included) - 1)
    assert gain - paid < 0


def _pooled(
    keypair: Keypair, nonce: int, tip: int, budget: int, *, account_nonce: int = 0
) -> tuple[SignedTransaction, ValidTransaction]:
    """A transfer as validation would describe it: fee 10, outflow 1, priority 10 + tip."""
    tx = sign_transaction(
        keypair,
        transfer_call(dev_keypair("Sink").public, 1),
        nonce=nonce,
        tip=tip,
        genesis_hash=bytes(32),
    )
    valid = ValidTransaction(
        signer=keypair.public,
        nonce=nonce,
        account_nonce=account_nonce,
        priority=10 + tip,
        fee=10,
        weight=1,
        longevity_until=None,
        fee_budget=budget,
        outflow=1,
    )
    return tx, valid


def _lines_per_call(
    calls: list[tuple[SignedTransaction, ValidTransaction]], pool: TransactionPool
) -> float:
    def run() -> None:
        for tx, valid in calls:
            with contextlib.suppress(PoolError):
                pool.add(tx, valid, 0)

    return executed_lines(run)[1] / len(calls)


def test_a_long_line_costs_the_pool_about_one_admission_a_replacement_or_refusal() -> None:
    """An account with one fee's budget pools nonces 1..1023 (nonce 0 never sent: all future,
    never paid for) and replaces its last one with a higher tip, again and again; another fills a
    ready line to its budget and sends one more it cannot pay. Each replacement and each refusal
    costs the pool about what an admission does, counted in the Python lines the pool executes (a
    walk of the line would cost a thousand times a few), so the attacker buys no more of the
    node's time per message than anyone."""
    mallory, eve = dev_keypair("Mallory"), dev_keypair("Eve")
    pool = TransactionPool()
    for nonce in range(1, DEFAULT_MAX_PER_ACCOUNT):
        pool.add(*_pooled(mallory, nonce, 0, 11), 0)
    assert pool.future_count == DEFAULT_MAX_PER_ACCOUNT - 1 and pool.ready_count == 0
    budget = 11 * (DEFAULT_MAX_PER_ACCOUNT - 1)
    for nonce in range(DEFAULT_MAX_PER_ACCOUNT - 1):
        pool.add(*_pooled(eve, nonce, 0, budget), 0)
    assert pool.ready_count == DEFAULT_MAX_PER_ACCOUNT - 1
    unpayable = _pooled(eve, DEFAULT_MAX_PER_ACCOUNT - 1, 0, budget)
    with pytest.raises(FeesExceedBalance):
        pool.add(*unpayable, 0)

    replacements = [_pooled(mallory, DEFAULT_MAX_PER_ACCOUNT - 1, tip, 11) for tip in range(1, 101)]
    fresh = [_pooled(dev_keypair(f"Honest{i}"), 0, 0, 100) for i in range(100)]
    cost = {
        "replacement": _lines_per_call(replacements, pool),
        "refusal": _lines_per_call([unpayable] * 100, pool),
        "admission": _lines_per_call(fresh, TransactionPool()),
    }
    assert pool.future_count == DEFAULT_MAX_PER_ACCOUNT - 1
    print(
        f"\n[line] {cost['replacement']:.0f} lines a replacement at the end of a 1,023-long "
        f"future line, {cost['refusal']:.0f} a refusal at the end of a 1,023-long ready line, "
        f"{cost['admission']:.0f} an ordinary admission"
    )
    assert cost["replacement"] < 4 * cost["admission"]
    assert cost["refusal"] < 4 * cost["admission"]


def test_a_job_validated_at_an_empty_queue_leaves_every_ready_transaction_behind_it_payable() -> (
    None
):
    """Mallory validates a job at an empty queue, then as many transfers as the pool will hold
    ready, keeping only what those need; the block fills the queue before her job, so its rent
    deposit is held at the full queue's rent. The job declared that rent, so every transfer the
    pool held ready pays its fee: none of the ready places went unpaid."""
    fillers = [
        dev_keypair(f"Filler{i}") for i in range(MAX_PENDING_JOBS // MAX_PENDING_PER_REQUESTER - 1)
    ]
    mallory = dev_keypair("Mallory")
    sybil = dev_keypair("BusySybil")
    endowed = [(k.public, ENDOWMENT) for k in (*ACCOUNTS, *fillers, sybil)]
    chain = MarketChain(
        market_config(endowed=[*endowed, (mallory.public, 10 * UNIT)]), MARKET_AUTHOR
    )
    chain.register(WORKER, capacity=16, prices=(UNIT,))
    assert chain.register(sybil, capacity=1, prices=(LEAST_PRICE,), throughput=(1,)).error is None
    busy = chain.submit(fillers[0], max_price=LEAST_PRICE, deadline=10_000, wait=10)
    assert busy.error is None and chain.pending() == ()

    def validated(nonce: int, call: Call) -> tuple[SignedTransaction, ValidTransaction]:
        tx = chain.sign(mallory, call, nonce=nonce)
        return tx, validate_transaction(chain.read, chain.head, tx, genesis_hash=chain.genesis_hash)

    _, job_valid = validated(0, make_call("market", "submit_job", *JOB_ARGS))
    _, probe = validated(1, make_call("balances", "transfer_keep_alive", MARKET_AUTHOR.public, 1))
    needed = job_valid.fee + job_valid.outflow + 300 * (probe.fee + probe.outflow)
    keep = EXISTENTIAL_DEPOSIT + needed
    _, away = validated(
        0, make_call("balances", "transfer_keep_alive", MARKET_AUTHOR.public, 9 * UNIT)
    )
    out = chain.call(
        mallory,
        "balances",
        "transfer_keep_alive",
        MARKET_AUTHOR.public,
        chain.free(mallory.public) - away.fee - keep,
    )
    assert out.error is None
    job_tx, job_valid = validated(1, make_call("market", "submit_job", *JOB_ARGS))
    pool = TransactionPool()
    pool.add(job_tx, job_valid, 0)
    line = [(job_tx, job_valid)]
    for n in range(2, 2 + 400):
        tx, valid = validated(
            n, make_call("balances", "transfer_keep_alive", MARKET_AUTHOR.public, 1)
        )
        try:
            pool.add(tx, valid, 0)
        except PoolError:
            break
        line.append((tx, valid))
    ready = [tx for tx, _ in line if pool.is_ready(tx.hash)]
    assert len(ready) >= 299

    builder = chain.builder()
    for k in fillers:
        nonce = chain.nonce(k.public)
        for i in range(MAX_PENDING_PER_REQUESTER):
            assert builder.push(
                chain.sign(k, make_call("market", "submit_job", *JOB_ARGS), nonce=nonce + i)
            )
    unpayable = 0
    for tx in ready:
        try:
            builder.push(tx)
        except InvalidTransaction:
            unpayable += 1
    chain.seal(builder)
    jid = next(j for j, job in chain.jobs().items() if job.requester == mallory.public)
    mine = chain.job(jid)
    held_rent = mine.rent * MAX_WAIT_BLOCKS
    declared_rent = job_valid.outflow - (mine.escrow - held_rent)
    print(
        f"\n[rent outflow] declared rent deposit {declared_rent / UNIT:.4f} XPL, held "
        f"{held_rent / UNIT:.4f} XPL; {unpayable} of {len(ready)} ready transactions unpaid"
    )
    assert held_rent <= declared_rent
    # The attacker's gain is the ready places it held unpaid (none); its cost, the fees paid.
    assert unpayable * probe.fee - len(ready) * probe.fee < 0
    assert unpayable == 0
