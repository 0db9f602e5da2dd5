"""Running a verification's recomputation in a separate process, with a memory limit and a timeout.

A check recomputes leaves of a job someone else chose; whatever the workload bounds miss (a bug, a
kernel that allocates more than it should) must not take the node down with it. So the node runs
the recomputation in a separate Python process (NumPy and Numba on the CPU, started afresh, not
forked: no state shared with the node) whose address space is capped with `RLIMIT_AS`, and
waits for it at most a timeout.

    verdict = run_isolated(judge, material, device="cpu")

The process is started at the first check and kept for the next ones (starting Python, NumPy and
Numba takes about 2 s, a large share of a commit window); one that fails is killed, and the next
check starts another.

A process that runs out of memory, is killed, raises, or outlasts the timeout is an error
(`IsolatedRunFailed`), never a verdict: the verification service logs it and tries again later, a
bounded number of times, like any other failure to verify.

What a requester can still do within this: submit the costliest job the workload bounds accept, so
that each audit of it takes the verifier up to the commit window; the bounds keep that within the
window (`runtime.workloads.MAX_LEAF_VERIFY_UNITS`), and the node's own work goes on meanwhile.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, Generic, TypeVar

VERIFY_MEMORY_BYTES: Final = 1536 * 1024 * 1024
"""The address space a verifying process may use: the interpreter, NumPy and Numba take about
700 MB of it, the bounded inputs of one check (`MAX_LEAF_INPUT_BYTES`) and the kernels' copies
the rest. A check that needs more dies there, not in the node."""
VERIFY_TIMEOUT_S: Final = 60.0
"""How long a verifying process may run: several commit windows of the costliest check the
workload bounds accept (`xpl benchmark audit-bounds`), so that only a broken one reaches it."""

log = logging.getLogger("xpl.verify")

_T = TypeVar("_T")
_LENGTH: Final = struct.Struct(">Q")
"""Each request and reply between the node and the verifying process: its length, then pickle."""


class IsolatedRunFailed(Exception):
    """The verifying process raised, died (out of memory, killed) or ran out of time."""


class IsolatedRunTimedOut(IsolatedRunFailed):
    """The verifying process ran past its timeout and was killed."""


@dataclass(frozen=True, slots=True)
class IsolatedRun(Generic[_T]):
    """What a verifying process returned, how long it took and its peak resident memory."""

    value: _T
    seconds: float
    peak_rss_bytes: int


def _peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM), or ru_maxrss where /proc is absent."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak_rss() -> None:
    """Start this process's peak resident set afresh (Linux), so that each call reports its own."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        pass


def _read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    return stream.read(length)


def _child_main() -> None:
    """The verifying process (`python -m chain.service.verify_process MEMORY_BYTES`): cap the
    address space, then for each pickled call read from stdin write ("ok", value, peak RSS) or
    ("error", description, peak RSS) to stdout, until stdin closes. What a call prints goes to
    stderr."""
    memory_bytes = int(sys.argv[1])
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    while (frame := _read_frame(requests)) is not None:
        _reset_peak_rss()
        try:
            fn, args, kwargs = pickle.loads(frame)
            reply: tuple[str, Any, int] = ("ok", fn(*args, **kwargs), _peak_rss_bytes())
        except BaseException as exc:  # every failure goes back to the node as an error
            reply = ("error", f"{type(exc).__name__}: {exc}", _peak_rss_bytes())
        data = pickle.dumps(reply)
        replies.write(_LENGTH.pack(len(data)) + data)
        replies.flush()


class IsolatedProcess:
    """One verifying process, started at its first call and again after any failure."""

    def __init__(self, memory_bytes: int = VERIFY_MEMORY_BYTES) -> None:
        self.memory_bytes = memory_bytes
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.starts = 0
        """Processes started so far (a fresh one after each failure)."""

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(self.memory_bytes)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            self.starts += 1
        return self._process

    def close(self) -> None:
        """Stop the verifying process, if one runs."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()

    def run(
        self, fn: Callable[..., _T], *args: Any, timeout_s: float = VERIFY_TIMEOUT_S, **kwargs: Any
    ) -> IsolatedRun[_T]:
        """`fn(*args, **kwargs)` in the verifying process, with its time and peak memory;
        IsolatedRunFailed if it raises, dies or outlasts `timeout_s` (then the process is killed
        and the next call starts another)."""
        payload = pickle.dumps((fn, args, kwargs))
        with self._lock:
            started = time.perf_counter()
            process = self._started()
            try:
                reply = self._exchange(process, payload, started + timeout_s)
            except IsolatedRunFailed:
                self.close()
                raise
        status, value, peak = pickle.loads(reply)
        if status != "ok":
            raise IsolatedRunFailed(f"the verifying process failed: {value}")
        return IsolatedRun(value, time.perf_counter() - started, peak)

    def _exchange(self, process: subprocess.Popen[bytes], payload: bytes, deadline: float) -> bytes:
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(_LENGTH.pack(len(payload)) + payload)
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise IsolatedRunFailed(
                f"the verifying process died (exit code {process.poll()})"
            ) from None
        fd = process.stdout.fileno()
        received = bytearray()
        need = _LENGTH.size
        while len(received) < need:
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise IsolatedRunTimedOut("the verifying process ran past its timeout")
            chunk = os.read(fd, min(need - len(received), 1 << 20))
            if not chunk:
                raise IsolatedRunFailed(f"the verifying process died (exit code {process.wait()})")
            received += chunk
            if need == _LENGTH.size and len(received) == need:
                (length,) = _LENGTH.unpack(received)
                need += length
        return bytes(received[_LENGTH.size :])


_SHARED: Final = IsolatedProcess()
atexit.register(_SHARED.close)
_SHARED_GPU: Final = IsolatedProcess(memory_bytes=0)
"""The verifying process for CUDA: the CUDA driver maps far more address space than it uses, so
`RLIMIT_AS` cannot cap it; the workload bounds (`MAX_LEAF_INPUT_BYTES`) bound what a check
loads, and a crash still stays in this process."""
atexit.register(_SHARED_GPU.close)


def run_isolated_measured(
    fn: Callable[..., _T],
    *args: Any,
    timeout_s: float = VERIFY_TIMEOUT_S,
    gpu: bool = False,
    **kwargs: Any,
) -> IsolatedRun[_T]:
    """`fn(*args, **kwargs)` in this node's verifying process (the GPU one where `gpu`), with
    its time and peak memory."""
    return (_SHARED_GPU if gpu else _SHARED).run(fn, *args, timeout_s=timeout_s, **kwargs)


def warm_up(fn: Callable[..., object], *args: Any, gpu: bool = False) -> None:
    """Start this node's verifying process and run `fn(*args)` in it, so that the first check
    does not spend its window importing and loading kernels; a failure is logged (the first
    check starts another process)."""
    try:
        run_isolated(fn, *args, gpu=gpu)
    except IsolatedRunFailed as exc:
        log.warning("the verifying process did not start cleanly: %s", exc)


def run_isolated(
    fn: Callable[..., _T],
    *args: Any,
    timeout_s: float = VERIFY_TIMEOUT_S,
    gpu: bool = False,
    **kwargs: Any,
) -> _T:
    """`fn(*args, **kwargs)` in this node's verifying process (a separate Python process, kept
    between calls, memory-capped unless `gpu`); IsolatedRunFailed if it raises, dies or times
    out."""
    return run_isolated_measured(fn, *args, timeout_s=timeout_s, gpu=gpu, **kwargs).value


__all__ = [
    "VERIFY_MEMORY_BYTES",
    "VERIFY_TIMEOUT_S",
    "IsolatedProcess",
    "IsolatedRun",
    "IsolatedRunFailed",
    "IsolatedRunTimedOut",
    "run_isolated",
    "run_isolated_measured",
    "warm_up",
]

if __name__ == "__main__":
    _child_main()
