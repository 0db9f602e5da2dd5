"""The treasury's records (the ledger, a spend) and storage items."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from runtime import fields
from runtime.framework import (
    U64_CODEC,
    U128_CODEC,
    StorageMap,
    StorageValue,
    ValueCodec,
    record_codec,
    value_codec,
)
from runtime.pallets.treasury.params import (
    DEFAULT_TREASURY_PARAMS,
    MAX_HISTORY,
    MAX_PENDING_SPENDS,
    NAME,
    PURPOSES,
    SOURCES,
    TreasuryParams,
)
from runtime.primitives import codec
from runtime.schema import Record, param


@dataclass(frozen=True, slots=True)
class Ledger(Record):
    """Every amount that entered or left the treasury since genesis, by source and purpose."""

    genesis: int = param(fields.BALANCE, default=0)
    """The treasury's balance at genesis."""
    fees: int = param(fields.BALANCE, default=0)
    slashes: int = param(fields.BALANCE, default=0)
    inflation: int = param(fields.BALANCE, default=0)
    protocol: int = param(fields.BALANCE, default=0)
    rent: int = param(fields.BALANCE, default=0)
    returns: int = param(fields.BALANCE, default=0)
    donations: int = param(fields.BALANCE, default=0)
    spends: int = param(fields.BALANCE, default=0)
    """Paid to the beneficiaries of approved spends."""
    bounties: int = param(fields.BALANCE, default=0)
    """Paid into approved bounties' accounts."""
    grants: int = param(fields.BALANCE, default=0)
    """Paid into compute grants' accounts."""
    burned: int = param(fields.BALANCE, default=0)
    """Burned at the ends of spend periods."""

    def income(self) -> int:
        """Everything received since genesis."""
        return sum(int(getattr(self, source)) for source in SOURCES)

    def outflows(self) -> int:
        """Everything paid out or burned since genesis."""
        return sum(int(getattr(self, purpose)) for purpose in PURPOSES) + self.burned

    def expected_balance(self) -> int:
        """What the treasury must hold: its genesis balance plus income less outflows."""
        return self.genesis + self.income() - self.outflows()

    def plus(self, entry: str, amount: int) -> Ledger:
        """The ledger with `amount` added to `entry` (a source, a purpose or "burned")."""
        return replace(self, **{entry: getattr(self, entry) + amount})


@dataclass(frozen=True, slots=True)
class Spend(Record):
    """An approved spend: who it pays, how much, from when, until when, and how it ended."""

    amount: int = param(fields.BALANCE)
    beneficiary: bytes = param(fields.ACCOUNT)
    valid_from: int = param(fields.U64)
    """The first block it may be claimed in."""
    expire_at: int = param(fields.U64)
    """The block from which it can no longer be claimed."""
    approved_at: int = param(fields.U64)
    origin: str = param(fields.str_type(16))
    """What approved it: "root" or the name of the track whose referendum did."""
    status: str = param(fields.str_type(8), default="pending")
    """"pending", then "paid", "expired" or "voided"."""
    ended_at: int = param(fields.U64, default=0)
    """The block it was paid, found expired or voided in (0 while pending)."""

    @property
    def pending(self) -> bool:
        """Whether it still promises its amount."""
        return self.status == "pending"


def _indices_codec(max_len: int) -> ValueCodec[tuple[int, ...]]:
    return value_codec(
        list,
        lambda v: tuple(
            codec.expect_int(x, 0, codec.U32_MAX, "spend index")
            for x in codec.expect_array(v, max_len, "spend indices")
        ),
    )


Params: Final = StorageValue[TreasuryParams](
    NAME, "Params", record_codec(TreasuryParams), DEFAULT_TREASURY_PARAMS
)
Ledgers: Final = StorageValue[Ledger](NAME, "Ledger", record_codec(Ledger), Ledger())
Spends: Final = StorageMap[int, Spend](
    NAME, "Spends", lambda i: i.to_bytes(4, "big"), record_codec(Spend)
)
SpendCount: Final = StorageValue[int](NAME, "SpendCount", U64_CODEC, 0)
"""The index the next spend gets: indices are never reused."""
Pending: Final = StorageValue[tuple[int, ...]](
    NAME, "Pending", _indices_codec(MAX_PENDING_SPENDS), ()
)
"""The spends still promising their amount, oldest first."""
History: Final = StorageValue[tuple[int, ...]](NAME, "History", _indices_codec(MAX_HISTORY), ())
"""The latest ended spends, newest last."""
Promised: Final = StorageValue[int](NAME, "Promised", U128_CODEC, 0)
"""The sum of the pending spends' amounts: the part of the balance that is not available."""
