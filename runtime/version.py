"""The runtime's version: transactions sign over it, so a changed runtime refuses old signatures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class RuntimeVersion:
    """The runtime's name and versions; transactions sign over both version numbers."""

    spec_name: str
    spec_version: int
    transaction_version: int

    def to_json(self) -> dict[str, Any]:
        """Substrate-style JSON: specName, specVersion and transactionVersion."""
        return {
            "specName": self.spec_name,
            "specVersion": self.spec_version,
            "transactionVersion": self.transaction_version,
        }


RUNTIME_VERSION: Final = RuntimeVersion(spec_name="xpl", spec_version=1, transaction_version=1)
