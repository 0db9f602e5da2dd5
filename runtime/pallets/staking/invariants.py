"""Staking's invariants over a committed state: bonds, roles, session keys and exposures."""

from __future__ import annotations

from typing import Any

from runtime.framework import StorageMap, StorageValue
from runtime.pallets import session, system
from runtime.pallets.staking.constants import HOLD
from runtime.pallets.staking.finality_notes import NotedWindows, noted_window_problems
from runtime.pallets.staking.storage import (
    Active,
    Candidates,
    EraActivity,
    Exposure,
    Exposures,
    KeyOwner,
    Ledger,
    Ledgers,
    Nominations,
    Nominators,
    PendingCommission,
    RetiredKeys,
    SessionKeys,
    Validators,
)
from runtime.state import PrefixIterator, StateOverlay, StateReader


def broken_invariants(read: StateReader, iterate: PrefixIterator) -> list[str]:
    """Broken staking invariants in a committed state, as messages (empty: all hold)."""
    problems: list[str] = []

    def value(item: StorageValue[Any]) -> Any:
        raw = read(item.key)
        return item.get(StateOverlay(lambda _k: None)) if raw is None else item.decode(raw)

    def entries(item: StorageMap[bytes, Any]) -> dict[bytes, Any]:
        return {item.key_suffix(k): item.decode(v) for k, v in iterate(item.prefix)}

    ledgers: dict[bytes, Ledger] = entries(Ledgers)
    holds = {who: info.held(HOLD) for who, info in system.accounts_in(iterate)}
    for stash, ledger in ledgers.items():
        who = stash.hex()
        if holds.get(stash, 0) != ledger.total:
            problems.append(f"stash {who} holds {holds.get(stash, 0)}, its ledger {ledger.total}")
        if ledger.total == 0:
            problems.append(f"stash {who} has an empty ledger")
        eras = [e for e, _ in ledger.unlocking]
        if eras != sorted(set(eras)) or any(a == 0 for _, a in ledger.unlocking):
            problems.append(f"stash {who} has malformed unlocking chunks")
    for account, held in holds.items():
        if held and account not in ledgers:
            problems.append(f"account {account.hex()} holds a staking bond without a ledger")

    candidates = value(Candidates)
    prefs = entries(Validators)
    if list(candidates) != sorted(prefs):
        problems.append("the candidate list differs from the candidates' preferences")
    for stash, pending in entries(PendingCommission).items():
        if stash not in prefs or pending.commission_ppm <= prefs[stash]:
            problems.append(f"stash {stash.hex()} has a pending raise but no lower commission")
    nominators = value(Nominators)
    nominations = entries(Nominations)
    if list(nominators) != sorted(nominations):
        problems.append("the nominator list differs from the nominations")
    keys = entries(SessionKeys)
    owners = entries(KeyOwner)
    for stash in (*candidates, *nominators):
        if stash not in ledgers:
            problems.append(f"stash {stash.hex()} stakes without a bond")
    for stash in candidates:
        if stash in nominations:
            problems.append(f"stash {stash.hex()} both validates and nominates")
        if stash not in keys:
            problems.append(f"candidate {stash.hex()} has no session key")
    for stash, targets in nominations.items():
        if list(targets) != sorted(set(targets)) or not targets:
            problems.append(f"nominator {stash.hex()} has malformed targets")
    if {k: s for s, k in keys.items()} != owners or len(set(keys.values())) != len(keys):
        problems.append("session keys and their owners do not match one to one")
    for stash in keys:
        if stash not in ledgers:
            problems.append(f"stash {stash.hex()} keeps a session key without a bond")
    retired = entries(RetiredKeys)
    if set(retired) & set(owners):
        problems.append("a session key in use is also listed as retired")

    active = value(Active)
    exposures: dict[bytes, Exposure] = entries(Exposures)
    if [s for s, _ in active] != sorted(exposures) or len(set(active)) != len(active):
        problems.append("the active set differs from the era's exposures")
    if len({k for _, k in active}) != len(active):
        problems.append("two active validators share a session key")
    for stash, key in active:
        if owners.get(key, retired.get(key)) != stash:
            problems.append(f"active session key {key.hex()} is not its stash's")
    authorities = []
    for stash, key in active:
        exposure = exposures.get(stash)
        if exposure is None:
            continue
        if exposure.session_key != key:
            problems.append(f"validator {stash.hex()}'s exposure names another session key")
        if exposure.total != exposure.own + sum(a for _, a in exposure.others):
            problems.append(f"validator {stash.hex()}'s exposure does not sum to its total")
        others = [n for n, _ in exposure.others]
        if others != sorted(set(others)) or any(a == 0 for _, a in exposure.others):
            problems.append(f"validator {stash.hex()}'s exposure has malformed shares")
        authorities.append((key, exposure.total))
    in_session = session.authority_set(StateOverlay(read)).authorities
    if sorted(authorities) != sorted(in_session):
        problems.append("session's authority set is not the era's validators and backing")
    for stash in entries(EraActivity):
        if stash not in exposures:
            problems.append(f"stash {stash.hex()} has era points but does not validate")
    problems.extend(noted_window_problems(value(system.Number), entries(NotedWindows)))
    return problems
