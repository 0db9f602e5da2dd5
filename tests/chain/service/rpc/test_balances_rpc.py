"""balances_account reports an account's locks: the largest freeze and each one by id, so that a
voter sees how much of its free balance it may spend."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from chain.client.chain import Account, XplClient
from chain.service.metrics import NodeMetrics
from chain.service.rpc.balances import add_balances_methods
from chain.service.rpc.context import RpcContext
from chain.service.rpc.registry import Method, RpcMethods
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT, STAKING_HOLD
from runtime.primitives.address import encode_address
from tests.chain.core.test_pool_flood import AUTHOR, XPL
from tests.chain.core.test_pool_freezes import BOB, BOND, frozen_chain


class LocalRpc:
    """The client's `rpc.call`, answered by the registered methods in this process."""

    def __init__(self) -> None:
        f = frozen_chain({AUTHOR.public: BOND + 10 * XPL, BOB.public: 400 * XPL})
        self.methods = RpcMethods()
        node = SimpleNamespace(core=f.core, metrics=NodeMetrics())
        add_balances_methods(RpcContext(node, self.methods))  # type: ignore[arg-type]

    def call(self, name: str, *params: Any) -> Any:
        method = self.methods.lookup(name)
        assert isinstance(method, Method)
        return method.handler(list(params))


def test_an_accounts_locks_are_reported_with_its_balance() -> None:
    rpc = LocalRpc()
    found = rpc.call("balances_account", encode_address(BOB.public))
    assert found["frozen"] == str(400 * XPL)
    assert found["freezes"] == [{"id": "vote", "amount": str(400 * XPL)}]
    nobody = encode_address(EXISTENTIAL_DEPOSIT.to_bytes(32, "big"))
    assert rpc.call("balances_account", nobody)["freezes"] == []


def test_the_client_counts_the_lock_against_the_stake_first() -> None:
    client = XplClient()
    client.rpc = LocalRpc()  # type: ignore[assignment]
    account = client.account(AUTHOR.public)
    assert account.holds == ((STAKING_HOLD, BOND),) and account.frozen == BOND + 10 * XPL
    assert account.usable == account.free - 10 * XPL
    assert client.account(BOB.public).usable == 1_000 * XPL - 400 * XPL
    assert Account(0, 5, 0, (), frozen=9).usable == 0
