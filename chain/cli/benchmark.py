"""`xpl benchmark`: measured figures of this machine, printed side by side."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from chain.benchmarks.import_bench import (
    ChainFigures,
    run_governance_import_benchmark,
    run_import_benchmark,
)
from gpu_worker.devices import DEVICES, DeviceError
from runtime.workloads import WorkloadError

USAGE_ERROR = 2
"""Exit code of a benchmark asked for with bad arguments (as argparse uses)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl benchmark` and its subcommands."""
    b = sub.add_parser("benchmark", help="measure this machine")
    b_sub = b.add_subparsers(dest="benchmark", metavar="WHAT", required=True)
    i = b_sub.add_parser("import", help="block import rate against the raw signature rate")
    i.add_argument("--txs", type=int, default=20_000, help="signed transfers to import")
    i.add_argument("--accounts", type=int, default=10_000, help="accounts they move between")
    i.add_argument("--verify-workers", type=int, default=0, help="processes checking signatures")
    i.add_argument(
        "--pooled",
        action="store_true",
        help="import into a node whose pool checked the transactions' signatures on admission",
    )
    i.add_argument(
        "--referenda",
        type=int,
        default=0,
        help="also import the same transfers on a genesis holding this many open referenda, "
        "side by side, and print both rates and their ratio",
    )
    i.add_argument(
        "--votes", type=int, default=0, help="with --referenda: conviction votes in that genesis"
    )
    i.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="with --referenda: imports of both chains in turn; each block's best counts",
    )
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(run=import_benchmark)
    w = b_sub.add_parser(
        "workload",
        help="a compute workload's kernel speed and the cost of committing to and checking it",
    )
    w.add_argument("name", metavar="NAME", help="gemm_i8, qmlp_i8, sgd_fxp or mlp_fxp")
    w.add_argument(
        "--n",
        type=int,
        default=None,
        help="job size: gemm_i8 n×n×n, qmlp_i8 a batch of n through n→n→n→10, sgd_fxp n "
        "features (default 1024), mlp_fxp training n→n→10 (default 64)",
    )
    w.add_argument(
        "--row-block",
        type=int,
        default=None,
        help="rows of the output per result leaf (gemm_i8, qmlp_i8; default: gemm_i8 the "
        "client's tiles, qmlp_i8 one row); smaller leaves make an audit of 16 leaves a smaller "
        "share of the job",
    )
    w.add_argument(
        "--col-block",
        type=int,
        default=None,
        help="columns of the output per result leaf (gemm_i8: leaves are tiles of row block × "
        "column block; default: the benchmark's tiles)",
    )
    w.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICES)} (default: auto)")
    w.add_argument("--repeat", type=int, default=3, help="timings per figure; the best is kept")
    w.add_argument("--json", action="store_true", help="print one JSON object")
    w.set_defaults(run=workload_benchmark)
    a = b_sub.add_parser(
        "audit-bounds",
        help="auditing the costliest job the workload bounds accept, in the verifying process",
    )
    a.add_argument(
        "--slot-ms", type=int, default=1000, help="slot duration the window is counted in"
    )
    a.add_argument("--shrink", type=int, default=1, help="divide the jobs' dimensions by this")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(run=audit_bounds_benchmark)
    t = b_sub.add_parser(
        "intake", help="CPU per gossiped batch of transactions that cannot pay their fee"
    )
    t.add_argument("--txs", type=int, default=4_000, help="transactions in a batch")
    t.add_argument("--rounds", type=int, default=5, help="batches sent, reshuffled each time")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(run=intake_benchmark)
    p = b_sub.add_parser(
        "pool", help="pool admission rate, and an honest transfer against a flood of sybils"
    )
    p.add_argument("--txs", type=int, default=8_000, help="payable transfers to admit")
    p.add_argument("--sybils", type=int, default=16, help="barely funded flooding accounts")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=pool_benchmark)
    v = b_sub.add_parser(
        "vote-flood", help="CPU of a flood of finality votes from a rogue authority"
    )
    v.add_argument("--votes", type=int, default=2_000, help="votes in the flood")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.set_defaults(run=vote_flood_benchmark)
    n = b_sub.add_parser(
        "network",
        help="transfers through a local validator network: inclusion, block time, finality lag",
    )
    n.add_argument("--validators", type=int, default=4, help="validator processes (default 4)")
    n.add_argument("--tps", type=int, default=100, help="transfers submitted per second")
    n.add_argument("--duration", type=float, default=20.0, help="seconds of submissions")
    n.add_argument("--accounts", type=int, default=1_000, help="sender accounts (default 1000)")
    n.add_argument(
        "--settle", type=float, default=60.0, help="seconds to wait for the last to finalize"
    )
    n.add_argument("--base-path", type=Path, default=None, help="keep the network's files here")
    n.add_argument("--json", action="store_true", help="print one JSON object")
    n.set_defaults(run=network_benchmark)
    c = b_sub.add_parser(
        "connections",
        help="connections opened and closed against one node, and whether honest nodes still "
        "connect",
    )
    c.add_argument("--count", type=int, default=10_000, help="connections (default 10000)")
    c.add_argument("--lanes", type=int, default=50, help="dialers at once (default 50)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(run=connections_benchmark)
    r = b_sub.add_parser(
        "rpc-attack",
        help="an honest RPC client's latency while stalled and idle connections are held open",
    )
    r.add_argument("--stalled", type=int, default=100, help="stalled POSTs (default 100)")
    r.add_argument("--idle", type=int, default=100, help="idle WebSockets (default 100)")
    r.add_argument("--duration", type=float, default=5.0, help="seconds of honest calls")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(run=rpc_attack_benchmark)
    s = b_sub.add_parser(
        "input-slices",
        help="memory of verifying one leaf of a large input blob: read whole, or only its slices",
    )
    s.add_argument("--a-mib", type=int, default=64, help="size of the input blob A (MiB)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(run=input_slices_benchmark)
    f = b_sub.add_parser(
        "result-fetch",
        help="time to fetch a result of many small leaves: one leaf a request, or runs of leaves",
    )
    f.add_argument("--leaves", type=int, default=4096, help="leaves in the result (4096)")
    f.add_argument("--leaf-bytes", type=int, default=2048, help="bytes a leaf (2048)")
    f.add_argument("--repeats", type=int, default=3, help="runs of each way, alternating (3)")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.set_defaults(run=result_fetch_benchmark)
    m = b_sub.add_parser(
        "sim", help="simulated time over wall time of the simulator at several sizes, and memory"
    )
    m.add_argument(
        "--validators", default="4,16,64", help="validator counts, comma-separated (4,16,64)"
    )
    m.add_argument(
        "--workers", default="10,100,1000", help="worker counts, comma-separated (10,100,1000)"
    )
    m.add_argument(
        "--network-only",
        action="store_true",
        help="validators and a steady load of transfers, no workers or jobs",
    )
    m.add_argument(
        "--duration",
        type=float,
        default=None,
        help="simulated seconds per size (default 240/validators, at least 2)",
    )
    m.add_argument("--tps", type=float, default=2.0, help="transfers a second (network-only)")
    m.add_argument(
        "--memory-durations",
        default="300,900",
        help="simulated seconds of the runs (two to four) whose memory is compared (300,900: "
        "both past the 256 finalized states a node keeps)",
    )
    m.add_argument(
        "--memory-stores",
        default="leveldb",
        help="where the nodes keep their databases in the memory runs, comma-separated: "
        "leveldb (as `xpl sim run` does), memory, or both (memory,leveldb) to compare",
    )
    m.add_argument(
        "--memory-validators", type=int, default=4, help="validators of the memory runs (4)"
    )
    m.add_argument(
        "--memory-workers",
        type=int,
        default=10,
        help="workers of the world's memory runs (10; the world is left out with --network-only)",
    )
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(run=sim_benchmark)
    e = b_sub.add_parser("era-end", help="staking's era end at the most stakers, and its weight")
    e.add_argument("--seats", type=int, default=100, help="validators elected (default 100)")
    e.add_argument("--nominations", type=int, default=16, help="targets per nominator")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(run=era_end_benchmark)


def _progress(args: argparse.Namespace) -> Callable[[str], None]:
    """A benchmark's progress lines, on stderr (none with --json, whose stdout is one object)."""

    def progress(message: str) -> None:
        if not args.json:
            print(f"  {message}", file=sys.stderr)

    return progress


def import_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark import`: block import rate against the raw signature rate."""

    progress = _progress(args)
    if args.referenda or args.votes:
        return _governance_import_benchmark(args, progress)
    figures = run_import_benchmark(
        txs=args.txs,
        accounts=args.accounts,
        verify_workers=args.verify_workers,
        pooled=args.pooled,
        progress=progress,
    )
    if args.json:
        print(json.dumps(figures.to_json()))
        return 0
    print(
        f"imported {figures.txs} transfers among {figures.accounts} accounts "
        f"in {figures.blocks} blocks ({figures.import_seconds} s)"
    )
    print(
        f"  import:          {figures.transfers_per_s:>10.0f} transfers/s"
        f"  ({figures.verify_workers or 'no'} verification workers"
        f"{'; signatures checked on admission' if figures.pooled else ''})"
    )
    print(f"  raw Ed25519:     {figures.verify_per_s:>10.0f} verifications/s (one core)")
    print(f"  ratio:           {figures.ratio:>10.3f}")
    print(
        f"  by CPU time:     {figures.transfers_per_cpu_s:>10.0f} transfers/CPU-s"
        f" (this process), {figures.verify_per_cpu_s:.0f} verifications/CPU-s,"
        f" ratio {figures.cpu_ratio:.3f}"
    )
    return 0


def _governance_import_benchmark(args: argparse.Namespace, progress: Callable[[str], None]) -> int:
    """`xpl benchmark import --referenda N --votes M`: the import rate without and with them."""
    try:
        figures = run_governance_import_benchmark(
            txs=args.txs,
            accounts=args.accounts,
            referenda=args.referenda,
            votes=args.votes,
            rounds=args.rounds,
            verify_workers=args.verify_workers,
            progress=progress,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps(figures.to_json()))
        return 0
    states = ", ".join(f"{n} {s}" for s, n in sorted(figures.referenda_states.items()))
    print(
        f"imported {figures.txs} transfers among {figures.accounts} accounts, "
        f"{figures.rounds} round(s), on two chains in turn"
    )
    print(
        f"  governance state: {figures.referenda} referenda ({states}), {figures.votes} votes, "
        f"{figures.delegations} delegations"
    )

    def line(name: str, f: ChainFigures) -> str:
        return (
            f"  {name:<11} {f.transfers_per_s:>9.0f} transfers/s ({f.import_seconds} s, "
            f"{f.cpu_seconds} s CPU, {f.process_cpu_seconds} s with LevelDB's threads)\n"
            f"{'':14}on_initialize per block: {f.alarms_serviced / f.blocks:.2f} alarms "
            f"(at most {f.max_alarms_per_block}), referenda read at most "
            f"{f.max_referenda_reads} items, mandatory weight {f.mean_mandatory_us:.0f} us "
            f"(at most {f.max_mandatory_us:.0f})"
        )

    print(line("plain:", figures.plain))
    print(line("governance:", figures.governance))
    print(
        f"  ratio:      {figures.ratio:>9.3f} (governance over plain; by CPU time "
        f"{figures.cpu_ratio:.3f})"
    )
    return 0


def audit_bounds_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark audit-bounds`: each workload's costliest accepted audit, as a validator
    verifies it."""
    from chain.benchmarks.audit_bounds_bench import run_audit_bounds_benchmark

    progress = _progress(args)

    if args.shrink < 1 or args.slot_ms < 1:
        print("error: --shrink and --slot-ms must be at least 1", file=sys.stderr)
        return USAGE_ERROR
    try:
        figures = run_audit_bounds_benchmark(
            shrink=args.shrink, slot_ms=args.slot_ms, progress=progress
        )
    except WorkloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps([f.to_json() for f in figures]))
        return 0
    for f in figures:
        print(
            f"{f.workload} {list(f.params)}: {len(f.leaves)} leaves of up to "
            f"{f.leaf_verify_units / 1e6:.0f} M units, {f.leaf_input_bytes / 2**20:.1f} MiB input"
        )
        plain_ms, witness_ms = f.audit_s * 1e3, f.witness_audit_s * 1e3
        print(
            f"  audit:   plain {plain_ms:>6.0f} ms, witness {witness_ms:>6.0f} ms"
            f" ({f.verdict}, {f.witness_verdict}; process start and self-tests "
            f"{f.start_s * 1e3:.0f} ms)"
        )
        plain_mib, witness_mib = f.peak_rss_bytes / 2**20, f.witness_peak_rss_bytes / 2**20
        print(
            f"  memory:  plain {plain_mib:>6.0f} MiB, witness {witness_mib:>6.0f} MiB peak RSS of "
            "the verifying process"
        )
        print(f"  window:  {f.window_ms:>8} ms (the guard's bound for the work: {f.bound_ms} ms)")
    return (
        0
        if all(
            f.verdict == f.witness_verdict == "pass"
            and max(f.audit_s, f.witness_audit_s) * 1000 <= f.window_ms
            for f in figures
        )
        else 1
    )


def intake_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark intake`: what a reshuffled flood of unpayable transactions costs a node."""
    from chain.benchmarks.intake_bench import run_intake_benchmark

    progress = _progress(args)

    try:
        figures = run_intake_benchmark(txs=args.txs, rounds=args.rounds, progress=progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps(figures.to_json()))
        return 0
    f = figures
    print(f"{f.rounds} batches of {f.txs} validly signed transactions from empty accounts")
    print(f"  first batch:   {f.first_batch_ms:>8.1f} ms of CPU")
    print(f"  resent:        {f.repeat_batch_ms:>8.1f} ms of CPU a batch (median, reshuffled)")
    print(f"  sender charged {f.charged} in all (the network bans at 100)")
    return 0


def pool_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark pool`: admission rate, and whether an honest transfer beats a flood."""
    from chain.benchmarks.pool_bench import run_pool_benchmark

    progress = _progress(args)

    try:
        f = run_pool_benchmark(txs=args.txs, sybils=args.sybils, progress=progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps(f.to_json()))
        return 0
    print(f"admitted {f.txs} payable transfers: {f.admitted_per_s:.0f} transfers/s")
    print(f"{f.sybils} barely funded accounts sent {f.flood_sent} transfers; {f.flood_ready} ready")
    print(
        f"  honest transfer admitted: {f.honest_admitted}, in the next block: {f.honest_included}"
    )
    print(
        f"{f.sybils} accounts emptying themselves first sent {f.emptying_sent} transfers; "
        f"{f.emptying_ready} ready"
    )
    print(
        f"  honest transfer admitted: {f.emptying_honest_admitted}, "
        f"in the next block: {f.emptying_honest_included}"
    )
    return 0


def vote_flood_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark vote-flood`: what a rogue authority's flood of votes costs a node."""
    from chain.benchmarks.vote_flood_bench import run_vote_flood_benchmark

    progress = _progress(args)

    try:
        f = run_vote_flood_benchmark(votes=args.votes, progress=progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps(f.to_json()))
        return 0
    print(f"{f.votes} signed votes of one authority for blocks nobody has")
    print(
        f"  as one message:      {f.one_message_ms:>8.1f} ms of CPU, "
        f"sender charged {f.one_message_charged}"
    )
    print(
        f"  as {f.messages} messages: {f.small_messages_ms:>8.1f} ms of CPU, "
        f"sender charged {f.small_messages_charged}"
    )
    return 0


def network_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark network`: transfers through a local validator network."""
    from chain.benchmarks.network_bench import run_network_benchmark

    progress = _progress(args)

    try:
        figures = run_network_benchmark(
            validators=args.validators,
            tps=args.tps,
            duration=args.duration,
            accounts=args.accounts,
            settle=args.settle,
            base_path=args.base_path,
            progress=progress,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps(figures.to_json()))
        return 0 if figures.lost == 0 else 1
    f = figures
    print(f"{f.validators} validators, {f.tps_target} transfers/s for {f.duration_s} s")
    print(f"  submitted:     {f.submitted:>8}  ({f.submit_rate}/s; {f.refused} refused by RPC)")
    print(f"  included:      {f.included:>8}  ({f.included_rate}/s while blocks held them)")
    print(f"  finalized:     {f.finalized:>8}  (lost: {f.lost})")
    print(f"  block time:    p50 {f.block_time_p50_ms:.0f} ms, p99 {f.block_time_p99_ms:.0f} ms")
    print(
        f"  finality lag:  p50 {f.finality_lag_p50_ms:.0f} ms, p99 {f.finality_lag_p99_ms:.0f} ms"
        " (goal: p50 ≤ 2000 ms)"
    )
    cpu = ", ".join(f"{name} {cores:.2f}" for name, cores in f.cpu_per_node.items())
    print(f"  CPU per node:  {cpu} cores")
    return 0 if f.lost == 0 else 1


def connections_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark connections`: a node keeps accepting honest peers through churn."""
    from p2p import churn

    argv = ["--count", str(args.count), "--lanes", str(args.lanes)]
    return churn.main([*argv, "--json"] if args.json else argv)


def rpc_attack_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark rpc-attack`: honest calls answer in time while connections are held."""
    from chain.benchmarks.rpc_attack_bench import GOAL_P99_MS, run_rpc_attack_benchmark

    try:
        f = run_rpc_attack_benchmark(
            stalled=args.stalled, idle=args.idle, duration=args.duration, progress=_progress(args)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    met = f.failed == 0 and f.p99_ms < GOAL_P99_MS
    if args.json:
        print(json.dumps(f.to_json()))
        return 0 if met else 1
    print(f"{f.stalled} stalled POSTs and {f.idle} idle WebSockets held open")
    print(
        f"  honest calls:  {f.calls} (system_health and author_submitExtrinsic), {f.failed} failed"
    )
    print(
        f"  latency:       p50 {f.p50_ms:.1f} ms, p99 {f.p99_ms:.1f} ms, max {f.max_ms:.1f} ms"
        f" (goal: p99 < {GOAL_P99_MS:.0f} ms)"
    )
    return 0 if met else 1


def workload_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark workload`: one workload's compute, commitment and audit costs."""
    from chain.benchmarks.workload_bench import run_workload_benchmark

    progress = _progress(args)

    try:
        figures = run_workload_benchmark(
            args.name,
            n=args.n,
            row_block=args.row_block,
            col_block=args.col_block,
            device=args.device,
            repeat=args.repeat,
            progress=progress,
        )
    except (WorkloadError, DeviceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps(figures.to_json()))
        return 0
    print(
        f"{figures.workload} {list(figures.params)} on {figures.device}: "
        f"{figures.cost_units / 1e9:.2f} G cost units, {figures.leaves} leaves, "
        f"{figures.result_bytes / 2**20:.1f} MiB"
    )
    print(f"  kernel:        {figures.gops:>9.1f} GOP/s  ({figures.compute_s * 1e3:.1f} ms)")
    if figures.blas_gops is not None and figures.blas_ratio is not None:
        print(
            f"  float32 BLAS:  {figures.blas_gops:>9.1f} GOP/s  "
            f"(kernel/BLAS {figures.blas_ratio:.2f}, goal ≥ 0.8)"
        )
    commit_goal = "5%" if figures.n >= 2048 else "10%"
    print(
        f"  commit:        {figures.overlapped_commit_share:>+9.1%} of compute, computed and "
        f"committed together (goal ≤ {commit_goal})"
    )
    print(
        f"  commit after:  {figures.commit_share:>9.1%} of compute (leaves hashed in place after "
        f"the kernel; {figures.commit_copy_share:.1%} over copied leaves)"
    )
    audit_goal = "1%" if figures.n >= 2048 else "2%"
    print(
        f"  audit of {figures.audit_leaves:<3}   {figures.audit_share:>9.1%} of compute "
        f"(goal ≤ {audit_goal})"
    )
    print(
        f"  member answer: {figures.answer_share:>9.1%} of compute (the same leaves with their "
        "witnesses, as a committee member recomputes them)"
    )
    print(f"  Freivalds:     {figures.freivalds_share:>9.1%} of compute (goal ≤ 3%)")
    return 0


def input_slices_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark input-slices`: a validator's memory verifying one leaf of a job whose
    input blob is large, reading the whole blob against reading only the leaf's slices."""
    from chain.benchmarks.input_slices_bench import run_input_slices_benchmark

    try:
        figures = run_input_slices_benchmark(a_mib=args.a_mib)
    except WorkloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps([f.to_json() for f in figures]))
        return 0
    mib = 2**20
    print(f"one gemm_i8 leaf of an input blob of {figures[0].input_bytes / mib:.0f} MiB")
    for f in figures:
        print(
            f"  {f.mode:<7} node peak {f.node_peak_rss_bytes / mib:>6.0f} MiB (from "
            f"{f.node_base_rss_bytes / mib:.0f}), verifying process "
            f"{f.verify_peak_rss_bytes / mib:>5.0f} MiB, {f.crossed_bytes / mib:>7.2f} MiB "
            f"across, {f.seconds:.2f} s, {f.verdict}"
        )
    return 0


def result_fetch_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark result-fetch`: a whole result fetched over RPC one leaf a request
    (blob_get) against runs of leaves a request (blob_getLeaves), side by side."""
    from chain.benchmarks.result_fetch_bench import run_result_fetch_benchmark

    if args.leaves < 1 or not 0 <= args.leaf_bytes <= 65536 or args.repeats < 1:
        print(
            "error: --leaves and --repeats must be at least 1, --leaf-bytes 0 to 65536",
            file=sys.stderr,
        )
        return USAGE_ERROR
    figures = run_result_fetch_benchmark(
        leaves=args.leaves, leaf_bytes=args.leaf_bytes, repeats=args.repeats
    )
    if args.json:
        print(json.dumps([f.to_json() for f in figures]))
        return 0
    print(f"a result of {args.leaves} leaves of {args.leaf_bytes} bytes, over HTTP")
    for f in figures:
        print(
            f"  {f.mode:<8} {f.requests:>6} requests, {f.best_seconds:.3f} s best, "
            f"{f.worst_seconds:.3f} s worst"
        )
    one, batched = figures
    print(f"  batched is {one.best_seconds / batched.best_seconds:.1f}x faster (best runs)")
    return 0


def era_end_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark era-end`: staking's era-end hook timed beside its declared weight."""
    from dataclasses import asdict

    from chain.benchmarks.era_end_bench import run_era_end_benchmark

    if not 1 <= args.nominations <= 64 or not 1 <= args.seats <= 1_000:
        print("error: --seats must be 1 to 1000, --nominations 1 to 64", file=sys.stderr)
        return USAGE_ERROR
    f = run_era_end_benchmark(args.seats, args.nominations)
    if args.json:
        print(json.dumps(asdict(f)))
        return 0
    print(
        f"era end: {f.seats} seats of {f.candidates} candidates, {f.nominators} nominators naming "
        f"{f.nominations} each, {f.payouts} payouts: {f.measured_ms:.0f} ms measured, "
        f"{f.declared_ms:.0f} ms declared"
    )
    return 0


def _numbers(text: str, option: str, kind: Callable[[str], float]) -> list[float]:
    """A comma-separated list of numbers; ValueError naming the option."""
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{option}: expected numbers separated by commas, got {text!r}") from None


def sim_benchmark(args: argparse.Namespace) -> int:
    """`xpl benchmark sim`: how many times faster than real time the simulator runs."""
    from chain.benchmarks.sim_bench import run_sim_benchmark

    progress = _progress(args)
    try:
        figures = run_sim_benchmark(
            validators=[int(v) for v in _numbers(args.validators, "--validators", int)],
            workers=[int(w) for w in _numbers(args.workers, "--workers", int)],
            network_only=args.network_only,
            duration_s=args.duration,
            memory_s=_numbers(args.memory_durations, "--memory-durations", float),
            memory_validators=args.memory_validators,
            memory_workers=args.memory_workers,
            memory_stores=[s.strip() for s in args.memory_stores.split(",") if s.strip()],
            tps=args.tps,
            progress=progress,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps(figures.to_json()))
        return 0
    print(f"simulator speed ({figures.mode}; simulated s over CPU s of one core)")
    for p in figures.speed:
        load = "transfers" if p.workers is None else "jobs"
        who = f"{p.validators:>3} validators" + (
            "" if p.workers is None else f", {p.workers:>4} workers"
        )
        print(
            f"  {who}: {p.speed:>7.1f}x real time  ({p.simulated_s:g} s in {p.wall_s:.2f} s; "
            f"{p.transfers} {load}, {p.messages} messages, finalized #{p.finalized})"
        )
    print("memory (Python's peak by tracemalloc; what the run adds to RSS; the disk)")
    for m in figures.memory:
        who = f"{m.validators} validators" + ("" if m.workers is None else f", {m.workers} workers")
        print(
            f"  {m.mode:<7} {m.store:<7} {who}, {m.simulated_s:>6g} simulated s: "
            f"{m.peak_mib:6.1f} MiB Python, +{m.rss_mib:5.1f} MiB RSS, {m.disk_mib:5.1f} MiB disk "
            f"({m.simulated_s / max(m.cpu_s, 1e-9):.0f}x real time untraced)"
        )
    return 0
