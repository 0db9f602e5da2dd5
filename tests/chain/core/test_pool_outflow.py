"""The pool's budget counts what calls spend, not only their fees: an account whose first
transaction moves its balance away holds no ready place for the transactions after it.

The floods run through a real node core (the runtime's checks, the pool, an authored block) on a
genesis where each flooding account holds the fees of its whole line of transfers; the property
test drives the pool alone with random fees, outflows and budgets.
"""

from __future__ import annotations

import contextlib

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chain.client.chain import make_call, transfer_call
from chain.core.node import NodeCore
from chain.core.pool import (
    DEFAULT_MAX_PER_ACCOUNT,
    DEFAULT_MAX_READY,
    EVICTION_BUMP_PPM,
    PooledTx,
    PoolError,
    TransactionPool,
)
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from runtime.executive import ValidTransaction, lookup_call, validate_transaction
from runtime.framework import call
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.pallets.system import EXTRINSIC_BASE_WEIGHT
from runtime.pallets.transaction_payment import FIXED_ONE, SPENDS_EVERYTHING, compute_fee
from runtime.primitives import trie
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import Call, SignedTransaction, sign_transaction
from tests.chain.core.test_pool_flood import AUTHOR, SINK, XPL, Flood, keys, transfer_fee

STASH = dev_keypair("Mallory")
"""Where the flooding accounts move their balance: the attacker's own account."""


def fee_of(tx: SignedTransaction) -> int:
    call_def, args = lookup_call(tx)
    return compute_fee(
        FIXED_ONE, len(tx.raw), EXTRINSIC_BASE_WEIGHT + call_def.weight(args), tx.tip
    )


def emptying_flood(
    honest: list[Keypair], sybils: list[Keypair], pool: TransactionPool, per_sybil: int, tip: int
) -> Flood:
    """A node core whose genesis funds `honest` richly and each sybil with exactly the fees of
    `per_sybil` transfers tipping `tip` (plus the existential deposit and a margin)."""
    fee = transfer_fee()
    funded = EXISTENTIAL_DEPOSIT + per_sybil * (fee + tip) + fee
    config = GenesisConfig(
        validators=(GenesisValidator(AUTHOR.public, DEFAULT_STAKING_PARAMS.min_validator_bond),),
        slot_duration_ms=1000,
        balances=(
            (AUTHOR.public, 1_000 * XPL),
            (STASH.public, 1_000 * XPL),
            *((k.public, 1_000 * XPL) for k in honest),
            *((k.public, funded) for k in sybils),
        ),
    )
    state = build_genesis_state(config)
    store = ChainStore(MemoryStore(), keep_states=8)
    store.initialize(genesis_header(trie.root_of(state)), state)
    return Flood(NodeCore(store, authority=AUTHOR, pool=pool), store.genesis_hash, fee)


def send_emptying_line(f: Flood, who: Keypair, count: int, tip: int) -> int:
    """Nonce 0 moves all but the deposit to STASH; nonces 1.. are tipped transfers, each payable
    on today's balance alone. Returns how many the pool took as ready."""
    balance = f.balance(who)
    probe = sign_transaction(
        who,
        transfer_call(STASH.public, balance, keep_alive=True),
        nonce=0,
        genesis_hash=f.genesis_hash,
        tip=tip,
    )
    amount = balance - EXISTENTIAL_DEPOSIT - fee_of(probe)
    first = sign_transaction(
        who,
        transfer_call(STASH.public, amount, keep_alive=True),
        nonce=0,
        genesis_hash=f.genesis_hash,
        tip=tip,
    )
    assert fee_of(first) == fee_of(probe)
    line = [first, *(f.sign(who, n, tip) for n in range(1, count))]
    for tx in line:
        f.submit(tx)
    return sum(f.core.pool.is_ready(tx.hash) for tx in line)


def test_accounts_that_empty_themselves_hold_one_ready_place_each():
    """Four accounts, each funded for 16 transfers tipping 15% of a fee, send a line whose first
    transaction moves their balance to the attacker's stash, into a pool of 64 ready / 16 per
    account full of honest tip-0 transfers. The first transaction takes the whole budget, so
    nothing after it is ready: each account holds one ready place, which outbids one honest
    transfer by the eviction bump, and the next block holds all the honest transfers left with
    the four emptying ones. The attacker pays more than the pool's claimed price (a 1.1 fee) for
    each honest transfer displaced. (While the budget counted fees only, all 64 honest
    transfers were evicted for about 4.6 fees, and the block held 4 transactions.)"""
    honest, sybils = keys(b"honest", 4), keys(b"sybil", 4)
    tip = transfer_fee() * 15 // 100
    f = emptying_flood(honest, sybils, TransactionPool(max_ready=64, max_per_account=16), 16, tip)
    honest_txs = [f.sign(k, n, 0) for k in honest for n in range(16)]
    assert all(f.submit(tx) for tx in honest_txs)
    before = sum(f.balance(k) for k in sybils) + f.balance(STASH)
    assert [send_emptying_line(f, k, 16, tip) for k in sybils] == [1] * len(sybils)
    honest_hashes = {tx.hash for tx in honest_txs}
    pooled = honest_hashes & {i.tx.hash for i in f.core.pool.ready()}
    included = f.author_next()
    displaced = len(honest_hashes - included)
    paid = before - sum(f.balance(k) for k in sybils) - f.balance(STASH)
    assert pooled <= included and len(pooled) >= len(honest_hashes) - len(sybils)
    assert displaced <= len(sybils) and len(included) == len(pooled) + len(sybils)
    # The attacker's profit against the price the pool claims for each displacement.
    profit = displaced * f.fee * (1_000_000 + EVICTION_BUMP_PPM) // 1_000_000 - paid
    assert profit < 0
    print(f"{displaced} honest transfers displaced for {paid / f.fee:.2f} fees")


def test_sixteen_emptying_accounts_leave_room_for_an_honest_transfer_at_the_default_limits():
    """At the default limits, sixteen accounts each funded for 1,024 transfers tipping 15% of a
    fee send a line that first empties the account: one of each is ready, the rest wait as
    future behind a refused gap, and an honest tip-0 transfer sent afterwards is admitted and in
    the next block. (While the budget counted fees only, all 16,384 ready places filled and the
    honest transfer was refused as pool full.)"""
    sybils = keys(b"sybil", 16)
    honest = dev_keypair("Bob")
    tip = transfer_fee() * 15 // 100
    per_account = DEFAULT_MAX_PER_ACCOUNT
    assert len(sybils) * per_account == DEFAULT_MAX_READY
    f = emptying_flood([honest], sybils, TransactionPool(), per_account, tip)
    ready = [send_emptying_line(f, k, per_account, tip) for k in sybils]
    assert ready == [1] * len(sybils) and f.core.pool.ready_count == len(sybils)
    transfer = f.sign(honest, 0, 0)
    assert f.submit(transfer)
    assert transfer.hash in f.author_next()


def test_a_user_sending_transfers_in_a_row_has_them_all_in_the_next_block():
    """Bob (1,000 XPL) sends ten transfers of 90 XPL in a row: their values and fees fit his
    balance, so all are ready and the next block holds them. An eleventh of 200 XPL can still pay
    its fee (so it is ready, and its transfer will fail) but takes all that is left; a twelfth,
    which could pay its fee on today's balance alone, is refused."""
    bob = dev_keypair("Bob")
    f = emptying_flood([bob], [], TransactionPool(), 0, 0)
    values = [90 * XPL] * 10 + [200 * XPL, 1]
    line = [
        sign_transaction(bob, transfer_call(SINK, v), nonce=n, genesis_hash=f.genesis_hash)
        for n, v in enumerate(values)
    ]
    assert [f.submit(tx) for tx in line] == [True] * 11 + [False]
    before = f.balance(bob)
    assert {tx.hash for tx in line[:11]} <= f.author_next()
    assert before - f.balance(bob) == 900 * XPL + sum(fee_of(tx) for tx in line[:11])


def test_validation_reports_what_each_call_moves_out_of_the_free_balance():
    """A transfer's outflow is its value, a bond's its value, a chill's nothing; a call that
    declares no outflow counts as spending everything."""
    bob = dev_keypair("Bob")
    f = emptying_flood([bob], [], TransactionPool(), 0, 0)
    best = f.core.store.best_header

    def outflow(call: Call) -> int:
        tx = sign_transaction(bob, call, nonce=0, genesis_hash=f.genesis_hash)
        return validate_transaction(f.core.reader(), best, tx, genesis_hash=f.genesis_hash).outflow

    assert outflow(transfer_call(SINK, 7 * XPL)) == 7 * XPL
    assert outflow(make_call("staking", "bond", 5 * XPL)) == 5 * XPL
    assert outflow(make_call("staking", "chill")) == 0

    @call(args=(), weight=1)
    def undeclared(_self: object, _ctx: object, _origin: object) -> None:
        """A call that says nothing of its outflow."""

    outflow_fn = undeclared.__xpl_call__[3]  # type: ignore[attr-defined]
    assert outflow_fn(None, ()) is None and SPENDS_EVERYTHING > 2**127


# ---------------------------------------------------------------------------------------------
# The budget as a property of every sequence of adds and blocks

NAMES = ("Alice", "Bob", "Charlie")
OUTFLOWS = st.one_of(st.integers(0, 8), st.just(SPENDS_EVERYTHING))


def brute_worst(pool: TransactionPool, *, ready: bool) -> PooledTx | None:
    """The lowest-priority (then newest) of the accounts' lowest-priority (then latest) ready (or
    future) transactions, by a walk over the whole pool."""
    low: dict[bytes, PooledTx] = {}
    for tx in pool.pending():
        item = pool._by_hash[tx.hash]
        if item.ready == ready:
            held = low.get(item.valid.signer)
            if held is None or (item.priority, -item.valid.nonce) < (
                held.priority,
                -held.valid.nonce,
            ):
                low[item.valid.signer] = item
    return min(low.values(), key=lambda i: (i.priority, -i.seq), default=None)


class SpendingBudgetMachine(RuleBasedStateMachine):
    """Accounts whose balances change with every block send transactions of random fees and
    outflows (some nothing, some spending everything, so fee-only lines are covered too):
    for each account, the ready transactions' fees and outflows added up in nonce order (an
    outflow counted up to what is left) never exceed its budget, each ready transaction's
    fee fits after what the ones ahead may spend, and the eviction heaps name the same
    transaction as a walk over the pool would."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = TransactionPool(max_ready=6, max_future=4, max_per_account=5)
        self.pool._slack = 0  # rebuild the priority heaps often, to check that too
        self.nonce = dict.fromkeys(NAMES, 0)
        self.budget = dict.fromkeys(NAMES, 20)
        self.valid: dict[bytes, tuple[str, ValidTransaction]] = {}
        self.number = 0
        self.sent = 0

    def validate(self, name: str, nonce: int, fee: int, outflow: int) -> ValidTransaction:
        return ValidTransaction(
            signer=dev_keypair(name).public,
            nonce=nonce,
            account_nonce=self.nonce[name],
            priority=fee,
            fee=fee,
            weight=1,
            longevity_until=None,
            fee_budget=self.budget[name],
            outflow=outflow,
        )

    @rule(
        name=st.sampled_from(NAMES),
        offset=st.integers(0, 3),
        fee=st.integers(1, 6),
        outflow=OUTFLOWS,
    )
    def add(self, name: str, offset: int, fee: int, outflow: int) -> None:
        if fee > self.budget[name]:
            return  # the runtime refuses a fee the account cannot pay alone (CannotPayFee)
        nonce = self.nonce[name] + offset
        self.sent += 1  # each transaction its own (a transfer of a new value)
        tx = sign_transaction(
            dev_keypair(name), transfer_call(SINK, self.sent), nonce=nonce, genesis_hash=bytes(32)
        )
        valid = self.validate(name, nonce, fee, outflow)
        self.valid[tx.hash] = (name, valid)
        with contextlib.suppress(PoolError):
            self.pool.add(tx, valid, 0)

    @rule(
        spent=st.fixed_dictionaries({n: st.integers(0, 2) for n in NAMES}),
        budgets=st.fixed_dictionaries({n: st.integers(0, 30) for n in NAMES}),
    )
    def block(self, spent: dict[str, int], budgets: dict[str, int]) -> None:
        """A block uses up some nonces and sets new balances; every account is touched."""
        self.number += 1
        for name in NAMES:
            self.nonce[name] += spent[name]
            self.budget[name] = budgets[name]

        def revalidate(tx: SignedTransaction) -> ValidTransaction | str:
            name, valid = self.valid[tx.hash]
            if valid.fee > self.budget[name]:
                return "cannot pay the fee"
            fresh = self.validate(name, valid.nonce, valid.fee, valid.outflow)
            self.valid[tx.hash] = (name, fresh)
            return fresh

        by_key = {dev_keypair(n).public: self.nonce[n] for n in NAMES}
        self.pool.update_for_block(
            included=set(),
            nonce_of=lambda who: by_key[who],
            next_number=self.number + 1,
            touched=set(by_key),
            revalidate=revalidate,
            now_ms=0,
        )

    @invariant()
    def ready_spending_fits_each_budget(self) -> None:
        lines: dict[str, dict[int, tuple[ValidTransaction, bool]]] = {n: {} for n in NAMES}
        for tx in self.pool.pending():
            name, valid = self.valid[tx.hash]
            lines[name][valid.nonce] = (valid, self.pool.is_ready(tx.hash))
        for name in NAMES:
            line, budget = lines[name], self.budget[name]
            ready = [line[n][0] for n in sorted(line) if line[n][1]]
            spent = 0
            for valid in ready:
                assert spent + valid.fee <= budget  # payable whatever the ones ahead spend
                spent += min(valid.fee + valid.outflow, budget - spent)
            assert spent <= budget
            # Exactly the gapless run from the account's nonce whose fees fit is ready.
            nonce, left = self.nonce[name], budget
            while nonce in line and line[nonce][0].fee <= left:
                left = max(0, left - line[nonce][0].fee - line[nonce][0].outflow)
                nonce += 1
            assert len(ready) == nonce - self.nonce[name]

    @invariant()
    def each_accounts_kept_ends_match_a_walk(self) -> None:
        for account in self.pool._accounts.values():
            end = account.state_nonce
            while end in account.by_nonce:
                end += 1
            assert account.line_end == end
            ready = sum(1 for item in account.by_nonce.values() if item.ready)
            assert account.ready_end == account.state_nonce + ready

    @invariant()
    def the_heaps_name_the_walks_worst(self) -> None:
        for ready in (True, False):
            assert self.pool._worst(ready=ready) is brute_worst(self.pool, ready=ready)


SpendingBudgetMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, derandomize=True
)
test_ready_spending_never_exceeds_the_budget = SpendingBudgetMachine.TestCase
