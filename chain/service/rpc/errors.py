"""JSON-RPC 2.0 error codes and the exception a method handler raises to answer with one.

Codes, following the JSON-RPC 2.0 specification and Substrate's jsonrpsee where they overlap:

- -32700..-32600: the standard protocol errors (parse error, invalid request, ...).
- -32000..-32009: errors of the transport itself (request or response too large, too many
  subscriptions, server busy); only the RPC server raises these.
- -32010..-32099: application errors that method handlers raise (transaction invalid, pool full,
  unknown block, state pruned, blob refused, ...). New application codes go in this range, named
  here.
"""

from __future__ import annotations

import errno
from typing import Final

from chain.storage.kv import StoreError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# Transport errors, -32000..-32009.
SERVER_BUSY = -32001
TOO_MANY_SUBSCRIPTIONS = -32006
OVERSIZED_REQUEST = -32007
OVERSIZED_RESPONSE = -32008
BATCH_TOO_LARGE = -32009

# Application errors, -32010..-32099.
TRANSACTION_INVALID = -32010
TRANSACTION_POOL_FULL = -32011
UNKNOWN_BLOCK = -32012
STATE_PRUNED = -32013
BLOB_ERROR = -32020
"""A blob store refusal (unknown blob or upload, a limit, an incomplete upload); data.kind."""
STORAGE_FAILURE = -32030
"""The node's database or a file it keeps failed a write (no space left, an I/O error), or the
database is being reopened after one; the call may succeed once `system_health` shows no
"storage" fault."""

STORAGE_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EROFS})
"""OS errors that mean the disk failed, not the request: answered as STORAGE_FAILURE."""


class RpcError(Exception):
    """An error answer to a JSON-RPC call: raised by a handler, sent to the client as is."""

    def __init__(self, code: int, message: str, data: object | None = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, object]:
        """The JSON-RPC "error" member for this error."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(msg: str) -> RpcError:
    """An INVALID_PARAMS error with a message that names what is wrong."""
    return RpcError(INVALID_PARAMS, f"Invalid params: {msg}")


def storage_failure(exc: Exception) -> RpcError | None:
    """The STORAGE_FAILURE answer if `exc` is the database's or the disk's failure, else None."""
    if isinstance(exc, StoreError) or (isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS):
        return RpcError(STORAGE_FAILURE, f"Storage failure: {exc}")
    return None
