"""A real, small filesystem to fill: a tmpfs mounted in a mount namespace of its own.

`unshare -r -m` gives a process its own user and mount namespaces, where it may mount a tmpfs
without being root (wherever unprivileged user namespaces are allowed, as on most Linux CI
machines). The tmpfs is reached from outside through `/proc/PID/root`, so the test, and a node it
starts, write to it by an ordinary path and get a real ENOSPC when it is full. The holder process
exits when its stdin closes (the test ends, or dies), which unmounts the tmpfs; no mount is left
behind in the test's own namespace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

_CHUNK = 64 * 1024


class TinyFilesystem:
    """A tmpfs of a given size at `path`, with a ballast file that fills it."""

    def __init__(self, holder: subprocess.Popen[bytes], path: Path) -> None:
        self.holder = holder
        self.path = path
        self.ballast = path / "ballast"

    def fill(self) -> int:
        """Write the ballast until the filesystem is full (a real ENOSPC); the bytes written."""
        written = 0
        with self.ballast.open("ab", buffering=0) as f:
            for size in (_CHUNK, 4096, 512, 1):
                chunk = bytes(size)
                while True:
                    try:
                        written += f.write(chunk) or 0
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def free(self) -> None:
        """Delete the ballast."""
        self.ballast.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize


@contextlib.contextmanager
def tiny_filesystem(where: Path, size_bytes: int) -> Iterator[TinyFilesystem]:
    """Mount a tmpfs of `size_bytes` over `where` in a namespace of its own; skip the test with the
    reason if this machine does not allow it."""
    if shutil.which("unshare") is None:
        pytest.skip("no `unshare` command: cannot mount a small tmpfs to fill")
    where.mkdir(parents=True, exist_ok=True)
    script = (
        f'mount -t tmpfs -o size={size_bytes},mode=0777 xpl-test "$1" && echo mounted '
        "&& exec cat >/dev/null"
    )
    holder = subprocess.Popen(
        ["unshare", "-r", "-m", "sh", "-c", script, "sh", str(where)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stderr is not None
        if holder.stdout.readline().strip() != b"mounted":
            holder.wait(timeout=10)
            reason = holder.stderr.read().decode(errors="replace").strip()
            pytest.skip(
                "cannot mount a tmpfs in a user namespace here (`unshare -r -m` then `mount -t "
                f"tmpfs`: {reason or 'failed'}); storage fault tests need a real small disk"
            )
        path = Path(f"/proc/{holder.pid}/root") / where.relative_to("/")
        fs = TinyFilesystem(holder, path)
        try:
            stats = os.statvfs(path)
        except OSError as exc:
            pytest.skip(f"the tmpfs cannot be reached through /proc/PID/root here: {exc}")
        total = stats.f_blocks * stats.f_frsize
        assert total <= 2 * size_bytes, "the tmpfs is not reached through /proc/PID/root"
        yield fs
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        try:
            holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(timeout=10)
