"""Run fuzz targets under atheris (libFuzzer, coverage-guided over XPL's own packages).

    python -m tests.fuzz.run all --seconds 60        each target for 60 s (what `make fuzz` does)
    python -m tests.fuzz.run rpc --runs 1000000      one target for a million inputs

One process imports and instruments XPL once, then forks a child per target in turn (libFuzzer
ends the process it fuzzes in when it stops; a fork starts each target without importing and
instrumenting again). The corpus a run builds is kept under `.fuzz/corpus/<target>/` and grows run
after run; an input that fails is written to `tests/fuzz/regressions/<target>/`, where the test
suite replays it from then on. The summary line per target gives the inputs run, the executions
per second and the outcome.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
REGRESSIONS: Final = Path(__file__).resolve().parent / "regressions"
CORPUS: Final = ROOT / ".fuzz" / "corpus"
INSTRUMENTED: Final = ("runtime", "chain", "p2p", "msgpack", "sim")
"""Packages whose branches guide the fuzzer (XPL's own, and the msgpack decoder beneath the
codec). Instrumenting everything imported (trio, pydantic, libp2p) would slow every input."""
SUITE_INSTRUMENTED: Final = ("runtime.primitives", "msgpack")
"""What the test suite's few seconds a target instrument: the codec every decoder is built on.
Instrumenting all of XPL costs about 7 s of a target's start, longer than the suite fuzzes it;
`make fuzz` instruments INSTRUMENTED."""
_INSTRUMENT_ENV: Final = "XPL_FUZZ_INSTRUMENT"
PER_INPUT_TIMEOUT_S: Final = 10
"""An input that takes longer is reported as a hang."""
MEMORY_LIMIT_MB: Final = 4096
"""An input that makes the process grow past this is reported as a memory blow-up."""


def _instrumented() -> list[str]:
    """The packages the fuzzing process instruments, as `run_targets` asked."""
    return os.environ.get(_INSTRUMENT_ENV, ",".join(INSTRUMENTED)).split(",")


def _fuzz_in_this_process(name: str, libfuzzer_args: list[str]) -> None:
    """Build target `name` (its modules already imported and instrumented) and hand over to
    libFuzzer, which ends the process when it stops."""
    import atheris

    from tests.fuzz.targets import TARGETS

    target = TARGETS[name]
    with atheris.instrument_imports(include=_instrumented()):  # what `build` imports late
        one = target.build()
    corpus = CORPUS / name
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in target.seeds():
        (corpus / f"seed-{hashlib.sha1(seed).hexdigest()}").write_bytes(seed)
    artifacts = REGRESSIONS / name
    artifacts.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.argv[0],
        str(corpus),
        f"-artifact_prefix={artifacts}/",
        f"-timeout={PER_INPUT_TIMEOUT_S}",
        f"-rss_limit_mb={MEMORY_LIMIT_MB}",
        "-print_final_stats=1",
        *libfuzzer_args,
    ]
    atheris.Setup(argv, one)
    atheris.Fuzz()


def _worker(names: list[str], logs: Path, libfuzzer_args: list[str]) -> None:
    """Inside the fuzzing process: instrument and import once, then fuzz each target in a forked
    child whose output goes to `logs/<name>.log`, its exit status to `logs/<name>.status` and
    its time to `logs/<name>.seconds`."""
    import atheris

    with atheris.instrument_imports(include=_instrumented()):
        import tests.fuzz.targets  # noqa: F401  (every module a target uses, instrumented)
    for name in names:
        sys.stdout.flush()
        sys.stderr.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: fuzz, never come back
            try:
                log = os.open(logs / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(log, 1)
                os.dup2(log, 2)
                _fuzz_in_this_process(name, libfuzzer_args)
            except BaseException:  # a target that cannot even start fails, with its traceback
                traceback.print_exc()
                sys.stderr.flush()
                os._exit(70)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        (logs / f"{name}.seconds").write_text(f"{time.monotonic() - started:.3f}")
        (logs / f"{name}.status").write_text(str(os.waitstatus_to_exitcode(status)))


def run_targets(
    names: list[str],
    seconds: int | None,
    runs: int | None,
    instrument: tuple[str, ...] = INSTRUMENTED,
) -> dict[str, tuple[bool, str]]:
    """Fuzz each of `names` in turn, guided by the branches of the `instrument` packages, all in
    one child process that imports them once; {name: (passed, summary line)}."""
    args = []
    if seconds is not None:
        args.append(f"-max_total_time={seconds}")
    if runs is not None:
        args.append(f"-runs={runs}")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env[_INSTRUMENT_ENV] = ",".join(instrument)
    with tempfile.TemporaryDirectory(prefix="xpl-fuzz-") as directory:
        logs = Path(directory)
        command = [sys.executable, "-m", "tests.fuzz.run", "--worker", "--logs", str(logs)]
        done = subprocess.run(
            [*command, *names, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return {name: _summary(name, logs, done.stdout + done.stderr) for name in names}


def _summary(name: str, logs: Path, parent_output: str) -> tuple[bool, str]:
    """(passed, summary line) of one target from what its child left in `logs`."""
    log, status, seconds = (logs / f"{name}{ext}" for ext in (".log", ".status", ".seconds"))
    if not status.exists():  # the parent died before or while this target ran
        return False, f"{name:<13} not run\n" + "\n".join(parent_output.splitlines()[-40:])
    output = log.read_text(errors="replace") if log.exists() else ""
    code = int(status.read_text())
    executed = re.search(r"stat::number_of_executed_units:\s*(\d+)", output)
    count = int(executed.group(1)) if executed else 0
    rate = re.search(r"stat::average_exec_per_sec:\s*(\d+)", output)
    passed = code == 0
    outcome = "no failure" if passed else f"FAILED (exit {code})"
    summary = (
        f"{name:<13} {count:>10,} inputs in {float(seconds.read_text()):6.1f} s "
        f"({int(rate.group(1)) if rate else 0:,}/s): {outcome}"
    )
    if not passed:
        summary += "\n" + "\n".join(output.splitlines()[-40:])
    return passed, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("target", nargs="+", help="target names, or 'all'")
    parser.add_argument("--seconds", type=int, help="how long to fuzz each target")
    parser.add_argument("--runs", type=int, help="how many inputs to run per target")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--logs", type=Path, help=argparse.SUPPRESS)
    options, rest = parser.parse_known_args(argv)
    if options.worker:
        _worker(options.target, options.logs, rest)
        return 0
    from tests.fuzz.targets import TARGETS

    names = list(TARGETS) if options.target == ["all"] else options.target
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}; the targets are {', '.join(TARGETS)}")
    if options.seconds is None and options.runs is None:
        options.seconds = 60
    if (options.seconds is not None and options.seconds <= 0) or (
        options.runs is not None and options.runs <= 0
    ):
        parser.error("--seconds and --runs must be positive")
    failed = 0
    for passed, summary in run_targets(names, options.seconds, options.runs).values():
        print(summary, flush=True)
        failed += not passed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
