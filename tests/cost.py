"""The work a call does, counted rather than timed: the Python lines it executes.

A count is the same on a quiet machine and a busy one, so a test can compare the cost of an
attacker's message with an honest one's without the noise of a shared machine. Work done in C
(hashing, signature checks) is not counted; a test that compares costs says what it leaves out.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


def executed_lines(run: Callable[[], T]) -> tuple[T, int]:
    """`run()`'s result and the number of Python lines executed while it ran, in every function
    it called."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        result = run()
    finally:
        sys.settrace(previous)
    return result, count
