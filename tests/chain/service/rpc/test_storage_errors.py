"""RPC answers a failure of the disk with STORAGE_FAILURE, not the bare internal error: a failed
database write, the database being reopened, or a file write with ENOSPC or EIO."""

from __future__ import annotations

import errno

import pytest
import trio

from chain.service.rpc.errors import INTERNAL_ERROR, STORAGE_FAILURE, RpcError
from chain.service.rpc.protocol import invoke
from chain.storage.kv import StoreUnavailable, StoreWriteFailed


def answer_to(exc: Exception) -> RpcError:
    def handler() -> None:
        raise exc

    async def call() -> None:
        await invoke("blob_finish", handler)

    with pytest.raises(RpcError) as caught:
        trio.run(call)
    return caught.value


@pytest.mark.parametrize(
    "exc",
    [
        StoreWriteFailed("cannot write the database at /d: IO error: No space left on device"),
        StoreUnavailable("the database at /d is closed while it is reopened"),
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EIO, "Input/output error"),
    ],
)
def test_a_storage_failure_has_its_own_code_and_says_what_failed(exc):
    error = answer_to(exc)
    assert error.code == STORAGE_FAILURE != INTERNAL_ERROR
    assert error.message.startswith("Storage failure: ") and str(exc) in error.message


def test_other_os_errors_stay_internal():
    assert answer_to(OSError(errno.ECONNRESET, "reset")).code == INTERNAL_ERROR
