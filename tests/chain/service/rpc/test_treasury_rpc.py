"""treasury_status and treasury_spend as a token holder reads them: the funds, the promises,
the spends pending and ended, the next burn and the ledger."""

from __future__ import annotations

from chain.service.rpc.treasury import spend_json, status_json
from runtime.accounts import TREASURY
from runtime.framework import ROOT
from runtime.pallets import treasury
from runtime.primitives.address import encode_address
from tests.runtime.pallets.treasury_helpers import (
    BEN,
    BOB,
    ED,
    TREASURY_FUNDS,
    UNIT,
    TreasuryChain,
)


def test_the_status_shows_the_funds_the_spends_the_next_burn_and_the_ledger() -> None:
    chain = TreasuryChain()
    chain.spend(200 * UNIT, beneficiary=BEN, valid_from=3)
    chain.spend(100 * UNIT, beneficiary=BOB, origin=ROOT)
    chain.advance_to(4)
    chain.payout(1)
    status = status_json(chain.overlay())
    balance = TREASURY_FUNDS - 100 * UNIT
    available = balance - ED - 200 * UNIT
    assert status["balance"] == str(balance) == str(chain.balance(TREASURY))
    assert (status["available"], status["promised"]) == (str(available), str(200 * UNIT))
    (pending,) = status["pendingSpends"]
    assert pending == {
        "index": 0,
        "amount": str(200 * UNIT),
        "beneficiary": encode_address(BEN),
        "validFrom": 3,
        "expireAt": 23,
        "approvedAt": 1,
        "origin": "small_spender",
        "status": "pending",
        "endedAt": 0,
    }
    (ended,) = status["recentSpends"]
    assert (ended["index"], ended["status"], ended["origin"]) == (1, "paid", "root")
    assert status["spendCount"] == 2
    assert (status["block"], status["spendPeriod"], status["nextSpendPeriodAt"]) == (4, 10, 10)
    assert status["nextBurn"] == str(available // 10)
    assert status["params"]["burnPpm"] == 100_000
    ledger = status["ledger"]
    assert ledger["genesis"] == str(TREASURY_FUNDS)
    assert ledger["paid"] == {"spends": str(100 * UNIT), "bounties": "0", "grants": "0"}
    assert set(ledger["income"]) == set(treasury.SOURCES)
    assert ledger["expectedBalance"] == status["balance"]


def test_a_spend_reads_the_same_alone() -> None:
    chain = TreasuryChain()
    chain.spend(5 * UNIT)
    spend = treasury.Spends.get(chain.overlay(), 0)
    assert spend is not None
    assert spend_json(0, spend)["amount"] == str(5 * UNIT)
