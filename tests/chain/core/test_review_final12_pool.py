"""Final review of the pool's outflow rule: a job submission declares its rent deposit at the
queue's rent when it was validated, but holds it at the rent of the queue it finds in its
block, up to 17 times more. The difference is spent out of the budget the pool counted on for
the signer's later transactions, so ready transactions the pool admitted as payable cannot pay
their fees when the block comes.
"""

from __future__ import annotations

from chain.client.chain import make_call
from chain.core.pool import PoolError, TransactionPool
from runtime.executive import InvalidTransaction, ValidTransaction, validate_transaction
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.pallets.market import MAX_PENDING_JOBS, MAX_PENDING_PER_REQUESTER, MAX_WAIT_BLOCKS
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import Call, SignedTransaction
from tests.runtime.pallets.market_helpers import (
    ACCOUNTS,
    AUTHOR,
    ENDOWMENT,
    UNIT,
    WORKER,
    MarketChain,
    market_config,
)

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


def test_a_job_validated_at_an_empty_queue_spends_the_fees_of_ready_transactions_behind_it() -> (
    None
):
    fillers = [
        dev_keypair(f"Filler{i}") for i in range(MAX_PENDING_JOBS // MAX_PENDING_PER_REQUESTER - 1)
    ]
    mallory = dev_keypair("Mallory")
    sybil = dev_keypair("BusySybil")
    endowed = [(k.public, ENDOWMENT) for k in (*ACCOUNTS, *fillers, sybil)]
    chain = MarketChain(market_config(endowed=[*endowed, (mallory.public, 10 * UNIT)]), AUTHOR)
    chain.register(WORKER, capacity=16, prices=(UNIT,))
    assert chain.register(sybil, capacity=1, prices=(LEAST_PRICE,), throughput=(1,)).error is None
    busy = chain.submit(fillers[0], max_price=LEAST_PRICE, deadline=10_000, wait=10)
    assert busy.error is None and chain.pending() == ()

    # Mallory's line, validated against the empty queue: a job, then small transfers.
    def validated(nonce: int, call: Call) -> tuple[SignedTransaction, ValidTransaction]:
        tx = chain.sign(mallory, call, nonce=nonce)
        return tx, validate_transaction(chain.read, chain.head, tx, genesis_hash=chain.genesis_hash)

    _, job_valid = validated(0, make_call("market", "submit_job", *JOB_ARGS))
    _, probe = validated(1, make_call("balances", "transfer_keep_alive", AUTHOR.public, 1))
    # Mallory keeps what a job and 300 transfers need, and sends the rest away.
    needed = job_valid.fee + job_valid.outflow + 300 * (probe.fee + probe.outflow)
    keep = EXISTENTIAL_DEPOSIT + needed
    _, away = validated(0, make_call("balances", "transfer_keep_alive", AUTHOR.public, 9 * UNIT))
    out = chain.call(
        mallory,
        "balances",
        "transfer_keep_alive",
        AUTHOR.public,
        chain.free(mallory.public) - away.fee - keep,
    )
    assert out.error is None
    job_tx, job_valid = validated(1, make_call("market", "submit_job", *JOB_ARGS))
    pool = TransactionPool()
    pool.add(job_tx, job_valid, 0)
    line = [(job_tx, job_valid)]
    for n in range(2, 2 + 400):
        tx, valid = validated(n, make_call("balances", "transfer_keep_alive", AUTHOR.public, 1))
        try:
            pool.add(tx, valid, 0)
        except PoolError:
            break
        line.append((tx, valid))
    count = len(line) - 1
    assert count >= 299
    assert all(pool.is_ready(tx.hash) for tx, _ in line)  # the pool says all can pay

    # The block: the queue fills first (the attacker's other accounts, or anyone's jobs).
    builder = chain.builder()
    for k in fillers:
        nonce = chain.nonce(k.public)
        for i in range(MAX_PENDING_PER_REQUESTER):
            assert builder.push(
                chain.sign(k, make_call("market", "submit_job", *JOB_ARGS), nonce=nonce + i)
            )
    unpayable = 0
    for tx, _ in line:
        try:
            builder.push(tx)
        except InvalidTransaction:
            unpayable += 1
    chain.seal(builder)
    jid = next(j for j, job in chain.jobs().items() if job.requester == mallory.public)
    mine = chain.job(jid)
    declared_rent = job_valid.outflow - (mine.escrow - mine.rent * MAX_WAIT_BLOCKS)
    held_rent = chain.job(jid).rent * MAX_WAIT_BLOCKS
    print(
        f"\n[rent outflow] declared rent deposit {declared_rent / UNIT:.4f} XPL, held "
        f"{held_rent / UNIT:.4f} XPL; {unpayable} of {count} ready transfers could not pay "
        f"their fee (fee {probe.fee / UNIT:.6f} XPL)"
    )
    assert held_rent > 15 * declared_rent
    assert unpayable >= 60  # ready places the pool held as payable, never paid for


# Admission cost: `_mark` walks the whole line of the account on every insert and removal.


def _pooled(
    keypair: Keypair, nonce: int, tip: int, budget: int
) -> tuple[SignedTransaction, ValidTransaction]:
    from chain.client.chain import transfer_call
    from runtime.executive import ValidTransaction
    from runtime.transaction import sign_transaction

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
        account_nonce=0,
        priority=10 + tip,
        fee=10,
        weight=1,
        longevity_until=None,
        fee_budget=budget,
        outflow=1,
    )
    return tx, valid


def test_replacing_a_gapped_future_line_costs_the_pool_a_walk_of_the_whole_line_each_time() -> None:
    """An account with ED and one fee pools nonces 1..1023 (nonce 0 never sent: all future, never
    included, never paid for), then replaces its last one with tip+1, again and again: every
    replacement is admitted (no peer penalty, gossiped on) and costs two walks of the line."""
    import time

    from chain.core.pool import DEFAULT_MAX_PER_ACCOUNT

    mallory = dev_keypair("Mallory")
    pool = TransactionPool()
    for nonce in range(1, DEFAULT_MAX_PER_ACCOUNT):
        tx, valid = _pooled(mallory, nonce, 0, 11)
        pool.add(tx, valid, 0)
    assert pool.future_count == DEFAULT_MAX_PER_ACCOUNT - 1 and pool.ready_count == 0
    replacements = [_pooled(mallory, DEFAULT_MAX_PER_ACCOUNT - 1, t, 11) for t in range(1, 501)]
    start = time.perf_counter()
    for tx, valid in replacements:
        assert len(pool.add(tx, valid, 0)) == 1  # admitted, the previous one usurped
    per_replacement = (time.perf_counter() - start) / len(replacements)
    # Baseline: admissions to a pool with room, one transaction per account.
    other = TransactionPool()
    fresh = [_pooled(dev_keypair(f"Honest{i}"), 0, 0, 100) for i in range(500)]
    start = time.perf_counter()
    for tx, valid in fresh:
        other.add(tx, valid, 0)
    per_admission = (time.perf_counter() - start) / len(fresh)
    print(
        f"\n[replacement] {per_replacement * 1e6:.0f} us a replacement in a 1,023-long future "
        f"line against {per_admission * 1e6:.1f} us an ordinary admission "
        f"(x{per_replacement / per_admission:.0f}); the attacker pays no fee"
    )
    assert per_replacement > 10 * per_admission


# Eviction looks only at each account's last-in-line transaction.


def test_a_high_tip_on_the_last_of_each_line_shields_sixteen_thousand_tip_0_transfers() -> None:
    """Sixteen accounts, each funded for its whole line, send 1,023 tip-0 transfers and a last
    one tipping 10 fees: all 16,384 ready places fill, and a full pool's floor is the lowest
    last-in-line priority, the tipped one. An honest transfer tipping 5 fees (six times the
    priority of 16,368 pooled transfers) is refused as pool full and misses the next block."""
    from chain.core.node import NodeCore
    from chain.core.pool import DEFAULT_MAX_PER_ACCOUNT, DEFAULT_MAX_READY, PoolFull
    from chain.storage.chain_store import ChainStore
    from chain.storage.kv import MemoryStore
    from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
    from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
    from runtime.primitives import trie
    from tests.chain.core.test_pool_flood import AUTHOR, SLOT_MS, XPL, Flood, keys, transfer_fee

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
    assert f.core.pool.ready_count == DEFAULT_MAX_READY
    transfer = f.sign(honest, 0, 5 * fee)
    try:
        f.core.submit_transaction(transfer.raw, SLOT_MS // 3)
        refused = None
    except PoolFull as exc:
        refused = exc
    assert refused is not None
    included = f.author_next()
    assert transfer.hash not in included
    print(
        f"\n[tail shield] honest transfer tipping 5 fees refused as pool full behind "
        f"{DEFAULT_MAX_READY - len(sybils)} tip-0 transfers; the shield cost "
        f"{len(sybils) * tail_tip / fee:.0f} fees of tips; the next block held {len(included)} "
        f"of the flood's transfers"
    )
