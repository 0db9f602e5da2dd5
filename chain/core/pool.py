"""The transaction pool: valid transactions waiting for a block, ordered per account by nonce.

Each transaction comes with its fee and its *outflow*: the most its call moves out of the
signer's free balance besides the fee (a transfer's value, a bond, a job's escrow; everything,
for a call that cannot say: `framework.CallDef.outflow`). For each account, the transactions
whose nonces run on without a gap from the account's nonce in the best state are *ready* as far
as each one's fee fits in the account's budget (its free balance above the existential deposit,
not counting what its votes' locks freeze: `transaction_payment.fee_budget`) less the fees and
outflows of the ready ones ahead of it; the rest are *future* and wait for the gap to fill or the
balance to grow. A transaction that would be next in line but cannot pay its
fee after what the transactions ahead of it may spend is refused. So every ready transaction can
pay its fee in a block whatever the account's earlier ones spend, and an account has no more
ready transactions than it can pay for. Blocks take ready transactions in order of priority (the
fee per share of the block, `transaction_payment.priority`), an account's in nonce order. A
transaction with the same signer and nonce as a pooled one replaces it only with a strictly
higher priority. Limits bound each account and the whole pool; when full, the pool's
lowest-priority ready (or future) transaction goes together with every later one of its account
(they depend on it), but only for a newcomer that outbids it by `EVICTION_BUMP_PPM`; so a high
tip at the end of a line shields nothing before it. Each account keeps its ready and its future
transactions in heaps by priority, and the pool keeps each account's lowest in two heaps (ready
and future), so finding the one to evict, or refusing a newcomer below a full pool's floor, costs
O(log n), not a walk over the pool. Readiness is recomputed from the changed nonce on, each
transaction keeping what is left of the budget after it, and only as far as that changes: adding
or replacing past the end of an account's ready run, or refusing an unpayable newcomer at the
end of its line, costs O(log n) whatever the line's length. Transactions found invalid are banned
for a while (a bounded set of their hashes), so that resubmitting them costs a hash lookup.

What a flooding account can still do within the budget: keep ready as many transactions as it
can pay the fees and outflows of, each of which, included, pays its fee; to take an honest
transaction's place it must outbid it by the eviction bump and pay that fee in full. Moving its
balance away first (a transfer of everything) takes all its budget, so nothing after it is ready.
What escapes the rule is what a call's declared outflow misses: money leaving the account in a
hook of the block (a job's rent deposit taken later), which the account's next revalidation
sees; transactions waiting as future (past a gap, or beyond the budget) compete only for the
future places. A replacement inside an account's ready run with a different fee walks the run
after it (each later transaction's budget left changes): up to `max_per_account` steps of integer
arithmetic, bought with a strictly higher tip on a transaction the account can pay for.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Final

from chain.core.expiring_hashes import ExpiringHashes
from runtime.executive import ValidTransaction
from runtime.transaction import SignedTransaction

DEFAULT_MAX_READY: Final = 16_384
DEFAULT_MAX_FUTURE: Final = 4_096
DEFAULT_MAX_PER_ACCOUNT: Final = 1_024
DEFAULT_BAN_MS: Final = 30_000
"""How long a transaction found invalid is refused on its hash alone, without another look.

Within it, resending the same transactions costs a hash lookup each; once it ends, one more round
of the cheap checks (no signature: see `validate_transaction`) bans them again."""
DEFAULT_MAX_BANNED: Final = 65_536
"""Banned hashes remembered at most (about 8 MB); past it the oldest ban is forgotten first.

An attacker with more distinct invalid transactions than this in play within one ban pushes its
own earliest bans out: those cost the cheap checks again (never a signature) when resent, and its
peer is charged for each batch of them."""
EVICTION_BUMP_PPM: Final = 100_000
"""How much higher (in millionths) a newcomer's priority must be than that of another account's
transaction it pushes out of a full pool: 10%.

Only ready transactions count toward the ready limit, and an account's ready ones are those it can
pay for, so an attacker takes an honest transaction's place only with one it pays for in full,
at a fee per share of the block at least 10% above the honest one's; a dust tip buys nothing. A
block holds its ready transactions in priority order, so what such an attacker buys is to be
included first, at its own cost."""
MAX_RECENTLY_INCLUDED: Final = 65_536
"""Hashes of transactions included in recent best blocks remembered at most (for `ban_ms` each),
so that a relay which raced the block is not charged for them; the oldest are forgotten first.
Only blocks this node imports add to it, so no stranger can fill it."""


TAIL_HEAP_SLACK: Final = 2_048
"""Entries no longer current that the pool's two priority heaps may hold beyond four per pooled
account before both are rebuilt, and changed accounts it may note beyond one per pooled account
before it brings the heaps up to date: a rebuild costs O(accounts) and comes at most once in as
many changes, so each change costs O(log n) amortized whatever the order of adds and removals."""


class PoolError(Exception):
    """The pool refuses a transaction; each subclass is one reason, `kind` names it in a word."""

    kind: ClassVar[str]


class DuplicateTransaction(PoolError):
    """The transaction is already in the pool."""

    kind = "duplicate"


class TransactionBanned(PoolError):
    """The transaction was found invalid a short while ago."""

    kind = "banned"


class ReplacementUnderpriced(PoolError):
    """A pooled transaction has the same signer and nonce and a tip at least as high."""

    kind = "replacement"


class PoolFull(PoolError):
    """The pool is full of transactions with a higher priority."""

    kind = "full"


class AccountLimitReached(PoolError):
    """The signer already has as many pooled transactions as one account may."""

    kind = "account_limit"


class FeesExceedBalance(PoolError):
    """The signer cannot pay this fee after the fees and outflows of its transactions ahead.

    Not a ban: it may be admitted once those are included and the balance has grown."""

    kind = "balance"


@dataclass(slots=True)
class PooledTx:
    """A pooled transaction with what validation said of it, its arrival order and readiness."""

    tx: SignedTransaction
    valid: ValidTransaction
    seq: int
    ready: bool = False
    left: int = 0
    """What is left of the account's budget after this transaction (while it is ready)."""

    @property
    def priority(self) -> int:
        return self.valid.priority


_Tail = tuple[int, int, PooledTx]
"""A heap entry for an account's lowest-priority ready (or future) transaction: (priority, -seq,
it), so the heap's top is the lowest priority, then the newest."""

_Own = tuple[int, int, int, PooledTx]
"""An entry of an account's own heap of its ready (or future) transactions: (priority, -nonce,
seq, it), so its top is the lowest priority, then the latest in line."""

OWN_HEAP_SLACK: Final = 16
"""Entries no longer current that an account's own heaps may hold beyond twice its pooled
transactions before the heap is rebuilt (O(line), once in as many pushes)."""


@dataclass(slots=True)
class _Account:
    signer: bytes
    state_nonce: int
    fee_budget: int
    """What the account can pay in fees and outflows in all, as its latest check found."""
    by_nonce: dict[int, PooledTx] = field(default_factory=dict)
    ready_end: int = 0
    """The nonce after its ready run: nonces from `state_nonce` up to it are pooled and ready."""
    line_end: int = 0
    """The first nonce from `state_nonce` on that is not pooled (the end of its gapless line)."""
    own_ready: list[_Own] | None = None
    own_future: list[_Own] | None = None
    """Its ready and future transactions by priority (entries no longer current are skipped);
    made only once it has two transactions pooled (most accounts have one: nothing to order)."""
    ready_tail: _Tail | None = None
    """The pool heap's entry for its lowest-priority ready transaction (one in the heap is
    current only if it is this very object)."""
    future_tail: _Tail | None = None
    """The same for its lowest-priority future transaction."""


@dataclass(frozen=True, slots=True)
class Removed:
    """A transaction that left the pool, and why."""

    tx: SignedTransaction
    status: str
    reason: str


class ReadyIterator:
    """Ready transactions by priority, each account's in nonce order.

    If a transaction cannot go into the block, call `skip_account` so that the account's later
    transactions (which depend on it) are not offered.
    """

    def __init__(self, accounts: dict[bytes, _Account]) -> None:
        self._accounts = accounts
        self._heap: list[tuple[int, int, bytes, int]] = []
        self._skipped: set[bytes] = set()
        for signer, account in accounts.items():
            head = account.by_nonce.get(account.state_nonce)
            if head is not None and head.ready:
                self._heap.append((-head.priority, head.seq, signer, account.state_nonce))
        heapq.heapify(self._heap)

    def __iter__(self) -> Iterator[PooledTx]:
        return self

    def __next__(self) -> PooledTx:
        while self._heap:
            _, _, signer, nonce = heapq.heappop(self._heap)
            if signer in self._skipped:
                continue
            account = self._accounts.get(signer)
            item = None if account is None else account.by_nonce.get(nonce)
            if item is None or not item.ready:
                continue
            assert account is not None
            following = account.by_nonce.get(nonce + 1)
            if following is not None and following.ready:
                heapq.heappush(self._heap, (-following.priority, following.seq, signer, nonce + 1))
            return item
        raise StopIteration

    def skip_account(self, signer: bytes) -> None:
        """Offer nothing more of `signer` (its next transaction did not fit or failed)."""
        self._skipped.add(signer)


class TransactionPool:
    """Pending transactions; the node core owns it and tells it about every new best block."""

    def __init__(
        self,
        *,
        max_ready: int = DEFAULT_MAX_READY,
        max_future: int = DEFAULT_MAX_FUTURE,
        max_per_account: int = DEFAULT_MAX_PER_ACCOUNT,
        ban_ms: int = DEFAULT_BAN_MS,
        max_banned: int = DEFAULT_MAX_BANNED,
    ) -> None:
        self.max_ready, self.max_future = max_ready, max_future
        self.max_per_account, self.ban_ms = max_per_account, ban_ms
        self._accounts: dict[bytes, _Account] = {}
        self._by_hash: dict[bytes, PooledTx] = {}
        self._banned = ExpiringHashes(ban_ms, max_banned)
        self._included = ExpiringHashes(ban_ms, MAX_RECENTLY_INCLUDED)
        self._seq = 0
        self.ready_count = 0
        self.future_count = 0
        # Accounts' lowest-priority ready and future transactions, lowest on top; entries
        # no longer current are dropped when they come up, or when the heap is rebuilt.
        self._ready_tails: list[_Tail] = []
        self._future_tails: list[_Tail] = []
        # Accounts whose lowest ready or future transaction may have changed since the heaps were
        # last brought up to date (done only when they are read, so admission stays cheap).
        self._changed: dict[bytes, _Account] = {}
        self._slack = TAIL_HEAP_SLACK

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    def is_ready(self, tx_hash: bytes) -> bool:
        """Whether `tx_hash` is pooled and its nonce follows on from the account's state."""
        item = self._by_hash.get(tx_hash)
        return item is not None and item.ready

    def get(self, tx_hash: bytes) -> SignedTransaction | None:
        """The pooled transaction `tx_hash`, or None."""
        item = self._by_hash.get(tx_hash)
        return None if item is None else item.tx

    # Bans

    def ban(self, tx_hash: bytes, now_ms: int) -> None:
        """Refuse `tx_hash` for `ban_ms` from `now_ms`: it was found invalid, and a recheck within
        that time would most likely say so again."""
        self._banned.add(tx_hash, now_ms)

    def is_banned(self, tx_hash: bytes, now_ms: int) -> bool:
        """Whether `tx_hash` is still banned at `now_ms` (an expired ban is forgotten)."""
        return self._banned.holds(tx_hash, now_ms)

    def lift_ban(self, tx_hash: bytes) -> None:
        """Forget `tx_hash`'s ban: it was found valid after all (its block was retracted)."""
        self._banned.discard(tx_hash)

    @property
    def banned_count(self) -> int:
        """Hashes banned now or lately (expired bans are forgotten lazily)."""
        return len(self._banned)

    def was_included(self, tx_hash: bytes, now_ms: int) -> bool:
        """Whether `tx_hash` was in a best block of the last `ban_ms` (see `update_for_block`)."""
        return self._included.holds(tx_hash, now_ms)

    # Adding

    def check_admissible(self, tx_hash: bytes, now_ms: int) -> None:
        """Refuse a pooled or banned transaction on its hash, before the costlier validation."""
        if tx_hash in self._by_hash:
            raise DuplicateTransaction("the transaction is already in the pool")
        if self.is_banned(tx_hash, now_ms):
            raise TransactionBanned("the transaction was found invalid and is temporarily banned")

    def add(
        self,
        tx: SignedTransaction,
        valid: ValidTransaction,
        now_ms: int,
        *,
        check: Callable[[], None] | None = None,
    ) -> list[Removed]:
        """Admit a validated transaction; returns the transactions it pushed out.

        If the pool is full of better transactions, the new one is refused (PoolFull)
        and the pool is left exactly as it was. `check` is the last and costliest check (the
        signature), made only once the pool has found a place for the transaction: if it raises,
        so does `add`, and the pool is left exactly as it was.
        """
        self.check_admissible(tx.hash, now_ms)
        signer = valid.signer
        account = self._accounts.get(signer)
        existing = None if account is None else account.by_nonce.get(valid.nonce)
        if existing is not None:
            if valid.priority <= existing.priority:
                raise ReplacementUnderpriced(
                    "a transaction with this nonce is already pooled; raise the tip to replace it",
                )
        elif account is not None and len(account.by_nonce) >= self.max_per_account:
            raise AccountLimitReached(
                f"the account already has {self.max_per_account} pooled transactions",
            )
        elif account is None and (
            self.ready_count >= self.max_ready or self.future_count >= self.max_future
        ):
            self._check_floor(valid)  # a refusal below a full pool's floor, before any work
        # The fee budgets of the accounts touched, as they were, to put back on a refusal.
        budgets = {} if account is None else {signer: account.fee_budget}
        self._seq += 1
        item = PooledTx(tx, valid, self._seq)
        if existing is not None:
            self._swap(existing, item, fee_budget=valid.fee_budget)
        else:
            self._insert(item, fee_budget=valid.fee_budget)
        evicted: list[PooledTx] = []
        try:
            if not item.ready and self._in_line(item):
                raise FeesExceedBalance(
                    "the account cannot pay this fee after what its pooled transactions may spend",
                )
            self._enforce_limits(item, evicted, budgets)
            if check is not None:
                check()
        except BaseException:
            self._undo(item, existing, evicted, budgets)
            raise
        removed = [] if existing is None else [Removed(existing.tx, "usurped", "replaced")]
        removed.extend(Removed(v.tx, "dropped", "evicted: the pool is full") for v in evicted)
        return removed

    def _check_floor(self, valid: ValidTransaction) -> None:
        """PoolFull, at once, if a transaction from an account with nothing pooled would go where
        the pool is full and does not outbid that part's lowest-priority account."""
        ready = valid.nonce == valid.account_nonce and valid.fee <= valid.fee_budget
        pooled, limit = (
            (self.ready_count, self.max_ready) if ready else (self.future_count, self.max_future)
        )
        if pooled < limit:
            return
        floor = self._worst(ready=ready)
        if floor is None or not _outbids(valid.priority, floor.priority):
            raise PoolFull("the pool is full of transactions with a higher priority")

    def _undo(
        self,
        item: PooledTx,
        existing: PooledTx | None,
        evicted: list[PooledTx],
        budgets: dict[bytes, int],
    ) -> None:
        """Leave the pool as it was before `item` was added (it replaced `existing`)."""
        # Evicted lines go back in nonce order, so that each extends its line at the end.
        for victim in sorted(evicted, key=lambda v: (v.valid.signer, v.valid.nonce)):
            self._insert(victim)
        if item.tx.hash in self._by_hash:
            if existing is not None:
                self._swap(item, existing)
            else:
                self._remove_item(item)
        for signer, fee_budget in budgets.items():
            account = self._accounts.get(signer)
            if account is not None and account.fee_budget != fee_budget:
                account.fee_budget = fee_budget
                self._mark(account)

    def _in_line(self, item: PooledTx) -> bool:
        """Whether every nonce from the account's up to `item`'s is pooled (no gap before it)."""
        account = self._accounts[item.valid.signer]
        return account.state_nonce <= item.valid.nonce < account.line_end

    def _account_for(self, item: PooledTx, fee_budget: int | None) -> tuple[_Account, bool]:
        """`item`'s account (made if new) and whether its nonce or budget changed (so that its
        whole line must be looked at again)."""
        valid = item.valid
        account = self._accounts.get(valid.signer)
        if account is None:
            budget = valid.fee_budget if fee_budget is None else fee_budget
            account = _Account(valid.signer, valid.account_nonce, budget)
            account.ready_end = account.line_end = valid.account_nonce
            self._accounts[valid.signer] = account
            return account, False
        whole = valid.account_nonce > account.state_nonce or (
            fee_budget is not None and fee_budget != account.fee_budget
        )
        account.state_nonce = max(account.state_nonce, valid.account_nonce)
        if fee_budget is not None:
            account.fee_budget = fee_budget
        return account, whole

    def _place(self, account: _Account, item: PooledTx, *, whole: bool) -> None:
        """Put `item` in its account's place for its nonce, as future, and relink the account
        from there (`whole`: all its line); it goes in the account's own heap as it ends up."""
        item.ready = False
        self.future_count += 1
        account.by_nonce[item.valid.nonce] = item
        self._by_hash[item.tx.hash] = item
        if whole:
            self._mark(account)
            return
        self._relink(account, item.valid.nonce)
        if not item.ready:  # made ready, it was pushed to the ready heap
            self._push_own(account, item)

    def _insert(self, item: PooledTx, *, fee_budget: int | None = None) -> None:
        """Pool `item`; `fee_budget`, if given, is its account's budget from now on."""
        account, whole = self._account_for(item, fee_budget)
        nonce = item.valid.nonce
        if nonce == account.line_end:
            by_nonce, end = account.by_nonce, nonce + 1
            while end in by_nonce:
                end += 1
            account.line_end = end
        self._place(account, item, whole=whole)

    def _swap(self, old: PooledTx, new: PooledTx, *, fee_budget: int | None = None) -> None:
        """Put `new` in the place of `old` (same signer and nonce), without a gap between."""
        account, whole = self._account_for(new, fee_budget)
        del self._by_hash[old.tx.hash]
        if old.ready:
            self.ready_count -= 1
        else:
            self.future_count -= 1
        old.ready = False
        self._place(account, new, whole=whole)

    def _set_ready(self, account: _Account, item: PooledTx, ready: bool) -> None:
        item.ready = ready
        delta = 1 if ready else -1
        self.ready_count += delta
        self.future_count -= delta
        self._push_own(account, item)

    def _push_own(self, account: _Account, item: PooledTx) -> None:
        """Note `item` in its account's heap of ready (or future) transactions."""
        heap = account.own_ready if item.ready else account.own_future
        if heap is None:
            if len(account.by_nonce) > 1:
                self._rebuild_own(account)  # its second transaction: the heaps begin
        else:
            heapq.heappush(heap, (item.valid.priority, -item.valid.nonce, item.seq, item))
            if len(heap) > 2 * len(account.by_nonce) + OWN_HEAP_SLACK:
                self._rebuild_own(account)
        self._touch(account)

    def _rebuild_own(self, account: _Account) -> None:
        """Keep only the current entries of an account's own heaps."""
        items = account.by_nonce.values()
        account.own_ready = [(i.valid.priority, -i.valid.nonce, i.seq, i) for i in items if i.ready]
        account.own_future = [
            (i.valid.priority, -i.valid.nonce, i.seq, i) for i in items if not i.ready
        ]
        heapq.heapify(account.own_ready)
        heapq.heapify(account.own_future)

    def _touch(self, account: _Account) -> None:
        """Note that an account's lowest-priority transactions may have changed."""
        changed = self._changed
        changed[account.signer] = account
        if len(changed) > len(self._accounts) + self._slack:
            self._update_tails()

    def _relink(self, account: _Account, nonce: int) -> None:
        """Recompute readiness after a change at `nonce`: from there (or the end of the ready
        run, if before it) on, each transaction in a gapless run is ready as long as its fee fits
        in the budget less the fees and outflows of the ready ones before it (an outflow beyond
        what is left takes what is left). The walk stops where a transaction finds the budget it
        found before, so a change past the ready run costs O(1)."""
        by_nonce, old_end = account.by_nonce, account.ready_end
        if nonce < account.state_nonce:
            return  # stale: never ready, and it changes nothing after it
        n = min(nonce, old_end)
        left = account.fee_budget if n == account.state_nonce else by_nonce[n - 1].left
        while True:
            item = by_nonce.get(n)
            if item is None or item.valid.fee > left:
                break
            left = max(0, left - item.valid.fee - item.valid.outflow)
            if item.ready and item.left == left:
                return  # as before from here on
            item.left = left
            if not item.ready:
                self._set_ready(account, item, True)
            n += 1
        for m in range(n, old_end):
            item = by_nonce.get(m)
            if item is not None and item.ready:
                self._set_ready(account, item, False)
        account.ready_end = n

    def _mark(self, account: _Account) -> None:
        """Recompute the readiness, line and own heaps of all an account's transactions (after
        its nonce or budget changed, or a block's repair): O(its line)."""
        by_nonce = account.by_nonce
        for item in by_nonce.values():
            if item.ready:
                item.ready = False
                self.ready_count -= 1
                self.future_count += 1
        account.ready_end = end = account.state_nonce
        while end in by_nonce:
            end += 1
        account.line_end = end
        self._relink(account, account.state_nonce)
        if len(by_nonce) > 1:
            self._rebuild_own(account)
        else:
            account.own_ready = account.own_future = None
        self._touch(account)

    def _update_tails(self) -> None:
        """Bring the heaps up to date with the accounts changed since: an entry is pushed anew
        for an account's lowest-priority ready (or future) transaction only when the
        transaction or its priority changed."""
        for signer, account in self._changed.items():
            if self._accounts.get(signer) is not account:
                continue  # gone since: its entries are no longer current
            account.ready_tail = _renew_tail(account, account.ready_tail, self._ready_tails, True)
            account.future_tail = _renew_tail(
                account, account.future_tail, self._future_tails, False
            )
        self._changed.clear()
        if len(self._ready_tails) + len(self._future_tails) > 4 * len(self._accounts) + self._slack:
            self._rebuild_tails()

    def _rebuild_tails(self) -> None:
        """Keep only the heaps' current entries (O(n), once in O(n) pushes)."""
        accounts = self._accounts.values()
        self._ready_tails = [a.ready_tail for a in accounts if a.ready_tail is not None]
        self._future_tails = [a.future_tail for a in accounts if a.future_tail is not None]
        heapq.heapify(self._ready_tails)
        heapq.heapify(self._future_tails)

    def _enforce_limits(
        self, newest: PooledTx, evicted: list[PooledTx], budgets: dict[bytes, int]
    ) -> None:
        """Evict the worst transactions, each with its account's later ones (which depend on
        it), into `evicted` until the limits hold (noting their accounts' budgets in `budgets`);
        PoolFull if that would take `newest`, or another account's transaction that `newest`
        does not outbid by EVICTION_BUMP_PPM."""
        while self.ready_count > self.max_ready or self.future_count > self.max_future:
            victim = self._worst(ready=self.ready_count > self.max_ready)
            if victim is None:
                break
            if victim.valid.signer == newest.valid.signer:
                if victim.valid.nonce <= newest.valid.nonce:
                    raise PoolFull("the pool is full of transactions with a higher priority")
            elif not _outbids(newest.priority, victim.priority):
                raise PoolFull("the pool is full of transactions with a higher priority")
            account = self._accounts[victim.valid.signer]
            budgets.setdefault(victim.valid.signer, account.fee_budget)
            evicted.extend(self._remove_from(account, victim.valid.nonce))

    def _worst(self, *, ready: bool) -> PooledTx | None:
        """The lowest-priority (then newest) of the accounts' lowest-priority ready (or future)
        transactions: the one to evict, with its account's later ones.

        O(log n) amortized: entries no longer current are popped on the way.
        """
        if self._changed:
            self._update_tails()
        heap = self._ready_tails if ready else self._future_tails
        while heap:
            entry = heap[0]
            account = self._accounts.get(entry[2].valid.signer)
            if (
                account is not None
                and (account.ready_tail if ready else account.future_tail) is entry
            ):
                return entry[2]
            heapq.heappop(heap)
        return None

    # Removing

    def _drop(self, account: _Account, item: PooledTx) -> None:
        """Take `item` out of the indexes and counts, leaving its account's readiness as it was."""
        del account.by_nonce[item.valid.nonce]
        del self._by_hash[item.tx.hash]
        if item.ready:
            self.ready_count -= 1
        else:
            self.future_count -= 1
        item.ready = False
        self._touch(account)

    def _remove_from(self, account: _Account, nonce: int) -> list[PooledTx]:
        """Take out an account's transactions from `nonce` on (in nonce order): those before keep
        their readiness, so this costs O(its line) to find them, nothing more."""
        if nonce < account.state_nonce:  # stale (until the next block's repair): nothing needs it
            gone = [account.by_nonce[nonce]]
        else:
            gone = sorted((i for n, i in account.by_nonce.items() if n >= nonce), key=_nonce_of)
        for item in gone:
            self._drop(account, item)
        if nonce >= account.state_nonce:
            account.ready_end = min(account.ready_end, nonce)
            account.line_end = min(account.line_end, nonce)
        if not account.by_nonce:
            del self._accounts[account.signer]
        return gone

    def _remove_item(self, item: PooledTx) -> None:
        account = self._accounts[item.valid.signer]
        self._drop(account, item)
        nonce = item.valid.nonce
        if not account.by_nonce:
            del self._accounts[account.signer]
            return
        if nonce < account.state_nonce:
            return
        # A gap at `nonce`: nothing after it is ready or in line any more.
        for m in range(nonce + 1, account.ready_end):
            later = account.by_nonce.get(m)
            if later is not None and later.ready:
                self._set_ready(account, later, False)
        account.ready_end = min(account.ready_end, nonce)
        account.line_end = min(account.line_end, nonce)

    def remove(self, tx_hash: bytes) -> SignedTransaction | None:
        """Take `tx_hash` out of the pool; the transaction, or None if it was not pooled."""
        item = self._by_hash.get(tx_hash)
        if item is None:
            return None
        self._remove_item(item)
        return item.tx

    # Reading

    def ready(self) -> ReadyIterator:
        """Ready transactions by priority, each account's in nonce order, for a block author."""
        return ReadyIterator(self._accounts)

    def pending(self) -> list[SignedTransaction]:
        """Every pooled transaction, ready ones first."""
        items = sorted(self._by_hash.values(), key=lambda i: (not i.ready, i.seq))
        return [i.tx for i in items]

    def signers(self) -> list[bytes]:
        """Accounts with pooled transactions."""
        return list(self._accounts)

    def next_nonce(self, signer: bytes, state_nonce: int) -> int:
        """The nonce a new transaction from `signer` should use, counting ready ones pooled."""
        account = self._accounts.get(signer)
        nonce = state_nonce
        if account is None:
            return nonce
        while nonce in account.by_nonce:
            nonce += 1
        return nonce

    # After a block

    def update_for_block(
        self,
        *,
        included: set[bytes],
        nonce_of: Callable[[bytes], int],
        next_number: int,
        touched: set[bytes],
        revalidate: Callable[[SignedTransaction], ValidTransaction | str],
        now_ms: int,
    ) -> list[Removed]:
        """Bring the pool in line with a new best block.

        `included` transactions leave quietly, and are remembered as included for `ban_ms`;
        stale nonces and expired mortality are dropped; the ready transactions of accounts in
        `touched` (their balance may have changed) are revalidated, and what fails is dropped as
        invalid and banned. Future transactions whose gap filled become ready.
        """
        self._banned.expire(now_ms)
        removed: list[Removed] = []
        self._included.add_all(included, now_ms)
        for tx_hash in included:
            item = self._by_hash.get(tx_hash)
            if item is not None:
                self._remove_item(item)
        for signer in list(self._accounts):
            account = self._accounts.get(signer)
            if account is None:
                continue
            account.state_nonce = nonce_of(signer)
            for nonce in sorted(account.by_nonce):
                if nonce < account.state_nonce:
                    item = account.by_nonce[nonce]
                    self._remove_item(item)
                    removed.append(Removed(item.tx, "dropped", "its nonce was already used"))
            if signer not in self._accounts:
                continue
            # The account's line (its gapless run, payable or not) is revalidated if touched: its
            # balance, and so its fee budget, may have changed.
            in_line = account.state_nonce
            for nonce in sorted(account.by_nonce):
                item = account.by_nonce.get(nonce)
                if item is None:
                    continue
                until = item.valid.longevity_until
                if until is not None and until < next_number:
                    self._remove_item(item)
                    removed.append(Removed(item.tx, "dropped", "its mortality period is over"))
                    continue
                if nonce != in_line:
                    continue
                if signer in touched:
                    outcome = revalidate(item.tx)
                    if not isinstance(outcome, str) and outcome.birth_hash != item.valid.birth_hash:
                        # its signature was checked over another block at its birth height: on
                        # this chain (after a reorg) it does not hold
                        outcome = "it was born at a block this chain does not hold"
                    if isinstance(outcome, str):
                        self._remove_item(item)
                        self.ban(item.tx.hash, now_ms)
                        removed.append(Removed(item.tx, "invalid", outcome))
                        continue
                    item.valid = outcome
                    account.fee_budget = outcome.fee_budget
                in_line += 1
            if signer in self._accounts:
                self._mark(account)
        return removed


def _nonce_of(item: PooledTx) -> int:
    return item.valid.nonce


def _lowest(account: _Account, *, ready: bool) -> PooledTx | None:
    """An account's lowest-priority (then latest) ready (or future) transaction, popping the
    entries of its own heap no longer current on the way."""
    heap = account.own_ready if ready else account.own_future
    by_nonce = account.by_nonce
    if heap is None:  # one transaction at most
        for item in by_nonce.values():
            return item if item.ready == ready else None
        return None
    while heap:
        item = heap[0][3]
        if by_nonce.get(item.valid.nonce) is item and item.ready == ready:
            return item
        heapq.heappop(heap)
    return None


def _renew_tail(
    account: _Account, tail: _Tail | None, heap: list[_Tail], ready: bool
) -> _Tail | None:
    """The heap entry of `account`'s lowest-priority ready (or future) transaction: pushed on
    `heap` anew only when that transaction or its priority changed since `tail`."""
    low = _lowest(account, ready=ready)
    if low is None:
        return None
    if tail is None or tail[2] is not low or tail[0] != low.valid.priority:
        tail = (low.valid.priority, -low.seq, low)
        heapq.heappush(heap, tail)
    return tail


def _outbids(newcomer: int, victim: int) -> bool:
    """Whether priority `newcomer` is above `victim` by at least EVICTION_BUMP_PPM."""
    return newcomer > victim and newcomer * 1_000_000 >= victim * (1_000_000 + EVICTION_BUMP_PPM)
