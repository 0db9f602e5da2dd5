"""A worker's jobs on disk: one small JSON record per job, its result leaves, its fetched inputs.

    <state dir>/lock                      held (flock) while a worker runs on the directory
    <state dir>/<chain>/jobs/<id>/job.json        the record: phase, root, leaf count, ...
    <state dir>/<chain>/jobs/<id>/leaves.bin      the result leaves, as committed
    <state dir>/<chain>/jobs/<id>/input.<name>    an input downloaded from a blob

A job's phases, in order: "fetched" (its downloaded inputs are on disk), "computed" (its leaves
are on disk and the record holds their root), "uploaded" (the node holds them as a blob),
"committed" (the root is on chain), "ended" (settled, failed or lost; the large files are gone).
A matched job with no record yet has not been started.

Every file is written whole to a temporary name and renamed over the old one, and a record moves
to a phase only after the files that phase promises are written, so a process killed at any
moment leaves each job at a phase whose files are all there. The chain stays the authority on a
job's state: the record tells a restarted worker what it need not do again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Final

from runtime.pallets.market import Job, job_digest
from runtime.primitives.hashing import from_hex, to_hex
from runtime.primitives.merkle import merkle_root

PHASES: Final = ("fetched", "computed", "uploaded", "committed", "ended")
RECORD_NAME: Final = "job.json"
LEAVES_NAME: Final = "leaves.bin"
INPUT_PREFIX: Final = "input."
LEAVES_MAGIC: Final = b"XPLLEAF1"
MAX_RECORD_BYTES: Final = 1024 * 1024


class JobStateError(Exception):
    """A state file that cannot be read or written, or a state directory already in use."""


@dataclass(frozen=True, slots=True)
class JobRecord:
    """What a worker remembers about one job between steps and across restarts."""

    job_id: int
    phase: str
    workload: str
    params: tuple[int, ...]
    seed: int
    matched_at: int
    commit_by: int
    inputs: tuple[tuple[str, bytes], ...]
    """(name, blob root) as the job names them; an empty root is generated from the seed."""
    root: bytes = b""
    """The Merkle root of the leaves on disk (from "computed" on)."""
    leaves: int = 0
    cheated: tuple[int, ...] = ()
    """Leaves deliberately corrupted (--cheat)."""
    compute_seconds: float = 0.0
    committed_at: int = 0
    checks_logged: tuple[str, ...] = ()
    """One entry per verification check already reported: its outcome then ("" while open)."""
    outcome: str = ""
    """How the job ended: settled, failed, or lost (no longer this worker's)."""
    digest: bytes = b""
    """The job's digest (`market.job_digest`) when it was taken: the commitment carries it, so
    that it binds the root only to the job computed, never to another fork's job of that id."""

    @classmethod
    def of_job(cls, job_id: int, job: Job, phase: str, **changes: Any) -> JobRecord:
        """A record of the chain's `job` at `phase`, with `changes`."""
        return cls(
            job_id=job_id,
            phase=phase,
            workload=job.workload,
            params=job.params,
            seed=job.seed,
            matched_at=job.matched_at,
            commit_by=job.commit_by,
            inputs=job.inputs,
            digest=job_digest(job_id, job),
            **changes,
        )

    def is_of(self, job_id: int, job: Job) -> bool:
        """Whether this record is about the chain's job `job_id`: its digest is the job's or,
        written before records kept one, it names the same work (workload, parameters, seed and
        inputs: the same leaves answer it), so that upgrading never throws away leaves on disk."""
        if self.digest:
            return self.digest == job_digest(job_id, job)
        return (self.workload, self.params, self.seed, self.inputs) == (
            job.workload,
            job.params,
            job.seed,
            job.inputs,
        )

    def advance(self, phase: str, **changes: Any) -> JobRecord:
        """This record at `phase` (never an earlier one) with `changes`."""
        if PHASES.index(phase) < PHASES.index(self.phase):
            raise ValueError(f"job {self.job_id}: cannot go back from {self.phase} to {phase}")
        return replace(self, phase=phase, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "phase": self.phase,
            "workload": self.workload,
            "params": list(self.params),
            "seed": self.seed,
            "matchedAt": self.matched_at,
            "commitBy": self.commit_by,
            "inputs": [{"name": n, "root": to_hex(r) if r else None} for n, r in self.inputs],
            "root": to_hex(self.root) if self.root else None,
            "leaves": self.leaves,
            "cheated": list(self.cheated),
            "computeSeconds": self.compute_seconds,
            "committedAt": self.committed_at or None,
            "checksLogged": list(self.checks_logged),
            "outcome": self.outcome or None,
            "digest": to_hex(self.digest) if self.digest else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> JobRecord:
        """Parse a record; ValueError naming the first field that is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a job record is a JSON object")

        def get(name: str, kind: type | tuple[type, ...]) -> Any:
            value = data.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"field {name!r} is missing or not a {_kind_name(kind)}")
            return value

        phase = get("phase", str)
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        params = get("params", list)
        if not all(type(p) is int for p in params):
            raise ValueError("field 'params' must hold integers")
        inputs: list[tuple[str, bytes]] = []
        for item in get("inputs", list):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ValueError("field 'inputs' must hold {name, root} objects")
            root = item.get("root")
            inputs.append((item["name"], b"" if root is None else from_hex(root, length=32)))
        root = data.get("root")
        digest = data.get("digest")
        cheated = get("cheated", list)
        checks = get("checksLogged", list)
        if not all(type(i) is int for i in cheated) or not all(isinstance(c, str) for c in checks):
            raise ValueError("fields 'cheated' and 'checksLogged' hold leaf indices and outcomes")
        return cls(
            job_id=get("job", int),
            phase=phase,
            workload=get("workload", str),
            params=tuple(params),
            seed=get("seed", int),
            matched_at=get("matchedAt", int),
            commit_by=get("commitBy", int),
            inputs=tuple(inputs),
            root=b"" if root is None else from_hex(root, length=32, what="root"),
            leaves=get("leaves", int),
            cheated=tuple(cheated),
            compute_seconds=float(get("computeSeconds", (int, float))),
            committed_at=data.get("committedAt") or 0,
            checks_logged=tuple(checks),
            outcome=data.get("outcome") or "",
            digest=b"" if digest is None else from_hex(digest, length=32, what="digest"),
        )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


# Files


def atomic_write(path: Path, chunks: Iterable[bytes | memoryview]) -> None:
    """Write `chunks` to a temporary file beside `path`, sync it, and rename it over `path`.

    A reader (or a process restarted after a crash) sees the old file or the new one, whole.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with temporary.open("xb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make a rename in `directory` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_leaves(leaves: Sequence[bytes | memoryview]) -> Iterator[bytes | memoryview]:
    """The leaves file: magic, count (u32 LE), each leaf's size (u64 LE), then the leaves."""
    yield LEAVES_MAGIC + len(leaves).to_bytes(4, "little")
    yield b"".join(len(leaf).to_bytes(8, "little") for leaf in leaves)
    yield from leaves


def decode_leaves(data: bytes) -> list[bytes]:
    """The leaves of a leaves file; ValueError if it is not one or is cut short."""
    header = len(LEAVES_MAGIC) + 4
    if len(data) < header or not data.startswith(LEAVES_MAGIC):
        raise ValueError("not a leaves file")
    count = int.from_bytes(data[len(LEAVES_MAGIC) : header], "little")
    offset = header + 8 * count
    if len(data) < offset:
        raise ValueError("the leaves file is cut short in its sizes")
    sizes = [
        int.from_bytes(data[header + 8 * i : header + 8 * i + 8], "little") for i in range(count)
    ]
    if offset + sum(sizes) != len(data):
        raise ValueError(
            f"the leaves file holds {len(data) - offset} bytes of leaves, not {sum(sizes)}"
        )
    leaves: list[bytes] = []
    for size in sizes:
        leaves.append(data[offset : offset + size])
        offset += size
    return leaves


class JobStore:
    """The jobs of one worker on one chain, under `directory` (created if missing)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.jobs_dir = directory / "jobs"
        try:
            self.jobs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JobStateError(
                f"cannot create the state directory {self.jobs_dir}: {exc}"
            ) from exc

    def job_dir(self, job_id: int) -> Path:
        return self.jobs_dir / str(job_id)

    def job_ids(self) -> list[int]:
        """Ids of the jobs with a directory here, in ascending order."""
        return sorted(int(p.name) for p in self.jobs_dir.iterdir() if p.name.isdigit())

    def load(self, job_id: int) -> JobRecord | None:
        """Job `job_id`'s record, None if it has none; JobStateError if the file is damaged."""
        path = self.job_dir(job_id) / RECORD_NAME
        try:
            with path.open("rb") as file:
                raw = file.read(MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise JobStateError(f"cannot read {path}: {exc}") from exc
        try:
            if len(raw) > MAX_RECORD_BYTES:
                raise ValueError("the file is too large to be a job record")
            record = JobRecord.from_json(json.loads(raw))
        except ValueError as exc:
            raise JobStateError(f"job record {path} is damaged: {exc}") from exc
        if record.job_id != job_id:
            raise JobStateError(f"job record {path} is about job {record.job_id}")
        return record

    def save(self, record: JobRecord) -> None:
        """Write the record (atomically)."""
        directory = self.job_dir(record.job_id)
        text = json.dumps(record.to_json(), indent=1).encode() + b"\n"
        self._write(directory / RECORD_NAME, [text])

    def save_input(self, job_id: int, name: str, data: bytes) -> None:
        """Keep a downloaded input of the job."""
        if not name.isidentifier():
            raise JobStateError(f"input name {name!r} is not a plain name")
        self._write(self.job_dir(job_id) / f"{INPUT_PREFIX}{name}", [data])

    def load_input(self, job_id: int, name: str) -> bytes | None:
        """A kept input, None if it is not on disk."""
        try:
            return (self.job_dir(job_id) / f"{INPUT_PREFIX}{name}").read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise JobStateError(f"cannot read input {name!r} of job {job_id}: {exc}") from exc

    def save_leaves(self, job_id: int, leaves: Sequence[bytes | memoryview]) -> None:
        """Keep the job's result leaves, exactly as they are committed."""
        self._write(self.job_dir(job_id) / LEAVES_NAME, encode_leaves(leaves))

    def load_leaves(self, job_id: int, root: bytes) -> list[bytes] | None:
        """The job's leaves if they are on disk and their Merkle root is `root`, else None."""
        try:
            data = (self.job_dir(job_id) / LEAVES_NAME).read_bytes()
            leaves = decode_leaves(data)
        except (OSError, ValueError):
            return None
        return leaves if merkle_root(leaves) == root else None

    def end(self, record: JobRecord, outcome: str) -> JobRecord:
        """Mark the job ended with `outcome`; delete its leaves and inputs, keep the record."""
        ended = record.advance("ended", outcome=outcome)
        self.save(ended)
        directory = self.job_dir(record.job_id)
        for path in directory.iterdir():
            if path.name != RECORD_NAME:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        return ended

    def _write(self, path: Path, chunks: Iterable[bytes | memoryview]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, chunks)
        except OSError as exc:
            raise JobStateError(f"cannot write {path}: {exc}") from exc


@contextlib.contextmanager
def locked_state_dir(directory: Path) -> Iterator[BinaryIO]:
    """Hold `directory`'s lock file while the block runs; JobStateError if a worker holds it.

    The lock (flock) dies with the process, so a worker killed with SIGKILL leaves none behind.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = (directory / "lock").open("ab")
    except OSError as exc:
        raise JobStateError(f"cannot use the state directory {directory}: {exc}") from exc
    with lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise JobStateError(
                f"another worker is running on the state directory {directory}"
            ) from exc
        yield lock


__all__ = [
    "PHASES",
    "JobRecord",
    "JobStateError",
    "JobStore",
    "atomic_write",
    "decode_leaves",
    "encode_leaves",
    "locked_state_dir",
]
