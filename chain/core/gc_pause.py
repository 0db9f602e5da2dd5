"""Cyclic garbage collection held off while a block is executed and stored."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused() -> Iterator[None]:
    """Hold off cyclic garbage collection while a block is executed and stored.

    A block's decoded transactions, events and state values live until the block is done, so a
    collection in the middle of it frees nothing, while each one that reaches the oldest
    generation walks the whole heap: together they took a tenth of an import. What the block
    leaves behind is freed by reference counting once it is done, and any cycles by the next
    collection after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
