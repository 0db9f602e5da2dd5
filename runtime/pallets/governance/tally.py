"""A referendum's tally, as conviction voting keeps it and referenda decides on it (OpenGov's).

- `ayes`, `nays`: the votes, each weighted by its conviction (0.1× to 6×);
- `support`: the capital behind aye and abstain votes, without conviction, which the support
  curve compares with the electorate (the total issuance).

Approval is ayes / (ayes + nays); a tally with no ayes and no nays has approval 0.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from runtime.primitives import codec
from runtime.primitives.codec import Value

PPB: Final = 1_000_000_000
"""Parts per billion: the unit of approval, support and the curves (Substrate's Perbill)."""


class Tally(NamedTuple):
    """Conviction-weighted ayes and nays, and the aye and abstain capital (support)."""

    ayes: int = 0
    nays: int = 0
    support: int = 0

    def approval_ppb(self) -> int:
        """ayes / (ayes + nays) in parts per billion (0 with no votes)."""
        total = self.ayes + self.nays
        return 0 if total == 0 else self.ayes * PPB // total

    def support_ppb(self, electorate: int) -> int:
        """support / electorate in parts per billion (0 with no electorate)."""
        return 0 if electorate <= 0 else min(PPB, self.support * PPB // electorate)

    def to_value(self) -> Value:
        """`[ayes, nays, support]`, each a u128."""
        return [
            codec.encode_u128(self.ayes),
            codec.encode_u128(self.nays),
            codec.encode_u128(self.support),
        ]

    @classmethod
    def from_value(cls, value: Value) -> Tally:
        """The tally `to_value` gave; DecodeError if malformed."""
        f = codec.expect_list(value, 3, "tally")
        return cls(*(codec.expect_u128(x, f"tally[{i}]") for i, x in enumerate(f)))
