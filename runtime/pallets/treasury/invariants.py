"""The treasury's invariants, checked on committed states: its balance is its ledger's, and its
promises are covered."""

from __future__ import annotations

from runtime.accounts import TREASURY
from runtime.pallets import balances, system
from runtime.pallets.treasury.params import MAX_PENDING_SPENDS
from runtime.pallets.treasury.storage import Ledgers, Pending, Promised, Spends
from runtime.state import StateOverlay, StateReader


def treasury_problems(read: StateReader) -> list[str]:
    """What is wrong with the treasury in a committed state (empty: nothing):

    - its balance is its genesis balance plus its income less its payments and burns;
    - what pending spends are promised is the sum of their amounts, each pending, and the
      treasury holds it above the existential deposit;
    - at most MAX_PENDING_SPENDS are pending.
    """
    state = StateOverlay(read)
    problems: list[str] = []
    info = system.Account.get(state, TREASURY)
    held = 0 if info is None else info.total
    ledger = Ledgers.get(state)
    if held != ledger.expected_balance():
        problems.append(
            f"the treasury holds {held}, its ledger says {ledger.expected_balance()} "
            f"(genesis {ledger.genesis} + income {ledger.income()} - out {ledger.outflows()})"
        )
    pending = Pending.get(state)
    if len(pending) > MAX_PENDING_SPENDS:
        problems.append(f"{len(pending)} spends pending, over {MAX_PENDING_SPENDS}")
    promised = 0
    for index in pending:
        spend = Spends.get(state, index)
        if spend is None or not spend.pending:
            problems.append(f"spend {index} is listed as pending but is not")
        else:
            promised += spend.amount
    if promised != Promised.get(state):
        problems.append(f"spends promise {promised}, the treasury counts {Promised.get(state)}")
    if promised > held - balances.EXISTENTIAL_DEPOSIT and promised:
        problems.append(f"spends promise {promised}, more than the treasury's {held} can pay")
    return problems
