"""The compute workloads as consensus sees them: parameters, inputs, cost units and result leaves.

All workloads are integer arithmetic, so a result is bit-exact on every device and a validator can
recompute any leaf of it exactly. The kernels that compute them live in `gpu_worker`; this module
holds only the rules every node must agree on.

gemm_i8    C = A·B, A: m×k int8, B: k×n int8, C: m×n int32 (K ≤ 131,071 keeps int32 exact).
           params [m, k, n, row_block] or [m, k, n, row_block, col_block]; inputs "a", "b".
           C is cut into tiles of row_block rows × col_block columns (col_block = n when it is
           left out: a leaf is a band of whole rows), the last row and column of tiles shorter
           where the block does not divide the dimension. Leaves are in tile-major order: leaf
           index = row_tile · col_tiles + col_tile, each the tile's rows of C, row-major,
           little-endian int32.
           cost units 2·m·k·n.
qmlp_i8    A quantized MLP over a batch. params [batch, row_block, d0, d1, ..., dL] (L ≥ 1 layers,
           every d ≤ 65,536); inputs "x" (batch×d0 int8) and "model": per layer, in order,
           W_j (d_j×d_{j+1} int8, row-major), b_j (d_{j+1} int32), mult_j (int32), shift_j (int32),
           all little-endian. Layer j computes the accumulators acc_j = h_j·W_j + b'_j with
           b'_j = clamp(b_j, −(2^30−1), 2^30−1), exact in int32; h_0 = x, and the next layer's
           input is h_{j+1} = clamp((acc_j·mult_j + 2^(s−1)) >> s, 0, 127) with s =
           clamp(shift_j, 1, 62), in int64 (requantization and ReLU). The last layer's
           accumulators are the logits. Leaves: for each layer j, for each row block, that block's
           accumulator rows (int32), layers in order (a leaf is rechecked from x, see below).
           cost units Σ_j 2·batch·d_j·d_{j+1}.
           No column tiles, by choice: a leaf of layer j is rechecked from its rows of x through
           layers 0..j−1 whole (each needs every column of the layer below), so cutting layer j
           into columns saves only part of the last of those layers. A finer audit comes from
           fewer rows a leaf instead: an audit of k leaves costs about k·row_block/batch of the
           job, and row_block 1 is a leaf per row (measured at batch 2,048, layers
           2,048 → 2,048 → 2,048 → 10: 16 leaves 1.0% of the job's CPU time at row block 1, 1.2%
           at 2, 4.9% at 4; `xpl benchmark workload qmlp_i8`).
sgd_fxp    T steps of fixed-point mini-batch SGD on a linear model with squared loss.
           params [samples, features, outputs, batch, steps, frac_bits, lr_shift];
           inputs "x" (samples×features int8), "y" (samples×outputs int16); the batch order
           comes from the job's seed. Leaf t: the weights after step t (features×outputs int32).
           cost units steps · 4·batch·features·outputs.
mlp_fxp    Fixed-point mini-batch SGD on an MLP, from weights drawn from the job's seed.
           params [samples, batch, steps, every, frac_bits, lr_shift, d0, d1, ..., dL] (L ≥ 1
           layers); inputs "x" (samples×d0 int8) and "y" (samples×dL int16 targets, e.g. a
           one-hot class scaled by the requester); the batch order comes from the seed as for
           sgd_fxp. Leaf t (t < steps/every, every dividing steps): every layer's weights and
           bias after (t + 1)·every steps (`mlp_leaf_bytes`). The arithmetic (weights in
           Q.frac_bits, activations 0..127, squared error on the targets, stated rounding) is
           specified in `gpu_worker.mlp_fxp`.
           cost units steps · 6·batch·Σ_j d_j·d_{j+1} (forward, the gradients, the errors
           carried back).

An input is either generated from a seed (synthetic and benchmark jobs) or a blob: content
addressed by the Merkle root over its 64 KiB chunks.

Verifying one leaf reads only the slices of the inputs that leaf depends on and recomputes only
that leaf, so each job is bounded by what checking its worst leaf takes, not by the job's size:

gemm_i8    the tile's rows of A and its columns of B; 2·rows·k·cols units. A member reads an
           input blob in whole 64 KiB chunks, and a column of B spans every chunk of B when a
           row of B is shorter than a chunk, so the input bound counts B whole.
qmlp_i8    the whole model and the leaf's row block of x, carried through layers 0..j for a leaf
           of layer j (rows are independent across layers, so no committed leaf is trusted);
           Σ_{i≤j} 2·rows·d_i·d_{i+1} units.
sgd_fxp    x, y and the step's one row of the batch order (generated on its own: the order is a
           counter-based stream); one step from the committed previous weights, 4·batch·f·o units.
mlp_fxp    x, y and the leaf's `every` rows of the batch order; `every` steps from the committed
           checkpoint before (from the seed's weights for leaf 0), every·6·batch·Σ d_j·d_{j+1}.

A job is refused unless every leaf reads at most MAX_LEAF_INPUT_BYTES of input and costs at most
MAX_LEAF_VERIFY_UNITS to recompute. Within that, a requester can still submit the most expensive
job to verify the bounds allow: its leaves recompute within the commit window at
VERIFIER_UNITS_PER_S (`xpl benchmark audit-bounds` measures it), and the requester pays for the
audit it forces like for any other job: the flat verification fee for a sampled workload, the
committee's whole recomputation for one audited whole (`forced_audit_units`, mlp_fxp).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

MAX_DIM: Final = 65_536
MAX_K: Final = 131_071
MAX_LEAVES: Final = 65_536
MAX_LEAF_BYTES: Final = 8 * 1024 * 1024
MAX_RESULT_BYTES: Final = 256 * 1024 * 1024  # what a node stores as one blob (MAX_BLOB_BYTES)
MAX_COST_UNITS: Final = 10**16
MAX_QMLP_LAYERS: Final = 16
MAX_SGD_STEPS: Final = 100_000
MAX_MLP_LAYERS: Final = 8
MAX_MLP_WIDTH: Final = 4096
MAX_MLP_CHECKPOINTS: Final = 16
"""The most leaves (checkpoints) an mlp_fxp job has: an audit recomputes every one of them (see
`mlp_shape` for why a chain of checkpoints needs it), as much work as the default audit's 16."""
MAX_MLP_FRAC_BITS: Final = 20
CHUNK_BYTES: Final = 64 * 1024
"""Blobs (job inputs) are committed to as a Merkle tree over chunks of this size."""
GOP: Final = 10**9
"""Prices are per 10^9 cost units."""
MAX_INPUT_BYTES: Final = 256 * 1024 * 1024
"""The most bytes one input may have, generated or a blob: what a node stores as one blob, and
what a worker must hold in memory for it."""
MAX_BATCH_ORDER_BYTES: Final = 256 * 1024 * 1024
"""The most bytes an sgd_fxp batch order has (u32 indices): what the worker generates whole."""
MAX_LEAF_INPUT_BYTES: Final = 64 * 1024 * 1024
"""Bytes of input that recomputing any one leaf reads: the slices of the inputs it depends on
(with the kernels' copies, a check stays well under 1 GiB of memory)."""
MAX_LEAF_VERIFY_UNITS: Final = 1 << 27
"""Cost units of recomputing any one leaf, its qmlp_i8 layer chain included: 16 leaves take
2.1 s at VERIFIER_UNITS_PER_S, within a commit window of 8 blocks of 300 ms."""
VERIFIER_UNITS_PER_S: Final = 10**9
"""The verifier's CPU rate the bounds assume: about a quarter of the slowest audit measured on
two cores of this machine's CPU with the Numba kernels (`xpl benchmark audit-bounds`: 16 leaves
of a qmlp_i8 row through 16 layers of 2,000 at 3.6·10^9 units/s, a gemm_i8 row against 64 MiB of
B at 6·10^9), leaving room for a loaded machine, reading the inputs and submitting."""


class WorkloadError(ValueError):
    """Job parameters that break a workload's rules; the message names the parameter."""


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A named input of a workload and its exact size in bytes for given parameters."""

    name: str
    size: int


@dataclass(frozen=True, slots=True)
class WorkloadShape:
    """What consensus needs to know about a job: its inputs, cost and result leaves."""

    inputs: tuple[InputSpec, ...]
    cost_units: int
    leaf_sizes: tuple[int, ...]
    leaf_verify_units: int = 0
    """The most cost units recomputing one leaf takes (a qmlp_i8 leaf counts its layer chain)."""
    leaf_input_bytes: int = 0
    """The most input bytes recomputing one leaf reads."""

    @property
    def leaves(self) -> int:
        return len(self.leaf_sizes)

    @property
    def result_bytes(self) -> int:
        return sum(self.leaf_sizes)


def _dim(value: int, name: str, hi: int = MAX_DIM) -> int:
    if type(value) is not int or not 1 <= value <= hi:
        raise WorkloadError(f"parameter {name} must be an integer from 1 to {hi}, got {value!r}")
    return value


def _blocks(rows: int, row_block: int) -> list[int]:
    return [min(row_block, rows - start) for start in range(0, rows, row_block)]


def _check(shape: WorkloadShape) -> WorkloadShape:
    if shape.leaves > MAX_LEAVES:
        raise WorkloadError(f"{shape.leaves} result leaves, over the limit of {MAX_LEAVES}")
    if max(shape.leaf_sizes) > MAX_LEAF_BYTES:
        raise WorkloadError(f"a result leaf of {max(shape.leaf_sizes)} bytes is over the limit")
    if shape.result_bytes > MAX_RESULT_BYTES:
        raise WorkloadError(f"a result of {shape.result_bytes} bytes is over the limit")
    if shape.cost_units > MAX_COST_UNITS:
        raise WorkloadError(f"{shape.cost_units} cost units, over the limit of {MAX_COST_UNITS}")
    return shape


def _check_leaf_verification(
    shape: WorkloadShape, sized_by: Mapping[str, str], reads: str, work: str
) -> WorkloadShape:
    """WorkloadError unless each input, and what one leaf's verification reads and computes, is
    within the bounds; `sized_by` (per input), `reads` and `work` name the parameters that set
    each."""
    for spec in shape.inputs:
        if spec.size > MAX_INPUT_BYTES:
            raise WorkloadError(
                f"input {spec.name!r} is {spec.size} bytes, over the limit of {MAX_INPUT_BYTES}: "
                f"lower {sized_by[spec.name]}"
            )
    if shape.leaf_input_bytes > MAX_LEAF_INPUT_BYTES:
        raise WorkloadError(
            f"verifying one leaf reads {shape.leaf_input_bytes} bytes of input, over the limit "
            f"of {MAX_LEAF_INPUT_BYTES}: lower {reads}"
        )
    if shape.leaf_verify_units > MAX_LEAF_VERIFY_UNITS:
        raise WorkloadError(
            f"verifying one leaf takes {shape.leaf_verify_units} cost units, over the limit of "
            f"{MAX_LEAF_VERIFY_UNITS}: lower {work}"
        )
    return _check(shape)


MAX_TILE_SKEW: Final = Fraction(3, 2)
"""The costliest gemm_i8 tile may cost at most this many times the mean tile (see gemm_shape):
the incentive guard's dependency factor D (`runtime.pallets.compute.guard`), which bounds the
work a share f of faked leaves saves by D·f."""


def gemm_layout(params: Sequence[int]) -> tuple[int, int, int, int, int]:
    """gemm_i8's `(m, k, n, row_block, col_block)`, each range-checked (col_block = n when the
    params leave it out); WorkloadError naming the parameter that is wrong."""
    if len(params) not in (4, 5):
        raise WorkloadError(
            "gemm_i8 takes params [m, k, n, row_block] or [m, k, n, row_block, col_block]"
        )
    m, k, n = _dim(params[0], "m"), _dim(params[1], "k", MAX_K), _dim(params[2], "n")
    row_block = _dim(params[3], "row_block", m)
    col_block = n if len(params) == 4 else _dim(params[4], "col_block", n)
    return m, k, n, row_block, col_block


def gemm_shape(params: Sequence[int]) -> WorkloadShape:
    """gemm_i8 `[m, k, n, row_block(, col_block)]`: inputs a, b; a leaf per tile of C in
    tile-major order; or WorkloadError.

    Layouts refused besides the common bounds (leaf count, leaf size, what one leaf's check
    reads and computes), because they would make an audit say less than it seems to:
    - tiles (col_block < n) of which the costliest costs more than MAX_TILE_SKEW times the mean
      tile. The audit draws leaves, not units of work: where a few tiles hold most of the work
      (m = n = 1,025 in blocks of 1,024: one tile of 1,024² next to three slivers), a worker who
      fakes that one tile skips nearly all the work while faking a quarter of the leaves.
      Within the bound, faking a share f of the leaves saves at most 3/2·f of the work, which
      the incentive guard's D = 3/2 already prices. Bands of whole rows (col_block = n, or the
      four params) are not held to it, as before tiles: only their last band is short, so the
      largest is at most L/(L − 1) times the mean of L bands (2 for two bands).
    """
    m, k, n, row_block, col_block = gemm_layout(params)
    row_blocks, col_blocks = _blocks(m, row_block), _blocks(n, col_block)
    tiles = len(row_blocks) * len(col_blocks)
    if tiles > MAX_LEAVES:
        raise WorkloadError(
            f"{tiles} result leaves, over the limit of {MAX_LEAVES}: raise row_block or col_block"
        )
    if col_block < n and row_block * col_block * tiles > MAX_TILE_SKEW * m * n:
        raise WorkloadError(
            f"a tile of {row_block}×{col_block} holds more than {MAX_TILE_SKEW} times the mean "
            f"tile's work ({m}×{n} in {tiles} tiles): choose blocks that divide m and n more "
            "evenly"
        )
    return _check_leaf_verification(
        WorkloadShape(
            inputs=(InputSpec("a", m * k), InputSpec("b", k * n)),
            cost_units=2 * m * k * n,
            leaf_sizes=tuple(rows * cols * 4 for rows in row_blocks for cols in col_blocks),
            leaf_verify_units=2 * row_block * k * col_block,
            # B counted whole: its columns span all of its chunks (see the module docstring).
            leaf_input_bytes=row_block * k + k * n,
        ),
        sized_by={"a": "m or k", "b": "k or n"},
        reads="k or n (b's chunks are read whole) or row_block",
        work="row_block, col_block, k or n",
    )


def qmlp_shape(params: Sequence[int]) -> WorkloadShape:
    """qmlp_i8 `[batch, row_block, d0..dL]`: a leaf per layer and row block; or WorkloadError.

    Every layer has as many leaves, whatever its width, so a model whose last layers hold most
    of the work would let a worker fake them in a small share of the leaves (16 layers of width
    1 before a layer of 4,096²: faking the last sixteenth of the leaves skips nearly all the
    work). A worker that fakes layer j of some rows fakes every later layer of those rows too (a
    leaf is rechecked from x), so what it can save by faking a share f of the leaves is bounded
    by the costliest suffix of layers: refused unless, for every j, the work of layers j..L−1
    is at most MAX_TILE_SKEW times their share (L − j)/L of the leaves, as for gemm_i8 tiles.
    Models that narrow towards their output, as classifiers do, pass.
    """
    if len(params) < 4:
        raise WorkloadError("qmlp_i8 takes params [batch, row_block, d0, d1, ..., dL]")
    batch = _dim(params[0], "batch")
    row_block = _dim(params[1], "row_block", batch)
    dims = [_dim(d, f"d{i}") for i, d in enumerate(params[2:])]
    if len(dims) - 1 > MAX_QMLP_LAYERS:
        raise WorkloadError(f"at most {MAX_QMLP_LAYERS} layers")
    layers = list(itertools.pairwise(dims))
    works = [a * b for a, b in layers]
    for j in range(len(layers)):
        if sum(works[j:]) * len(layers) > MAX_TILE_SKEW * sum(works) * (len(layers) - j):
            raise WorkloadError(
                f"layers {j}..{len(layers) - 1} hold more than {MAX_TILE_SKEW} times their share "
                f"of the leaves' work ({len(layers) - j} of {len(layers)} layers): an audit, "
                "which draws leaves, would undervalue faking them; put less of the model's work "
                "in its last layers"
            )
    leaf_sizes: list[int] = []
    for _, width in layers:
        leaf_sizes.extend(rows * width * 4 for rows in _blocks(batch, row_block))
    model = qmlp_model_bytes(dims)
    return _check_leaf_verification(
        WorkloadShape(
            inputs=(InputSpec("x", batch * dims[0]), InputSpec("model", model)),
            cost_units=sum(2 * batch * a * b for a, b in layers),
            leaf_sizes=tuple(leaf_sizes),
            # The last layer's leaf recomputes its rows through every layer.
            leaf_verify_units=sum(2 * row_block * a * b for a, b in layers),
            leaf_input_bytes=model + row_block * dims[0],
        ),
        sized_by={"x": "batch or d0", "model": "the layer widths d0..dL"},
        reads="the layer widths d0..dL (the model is read whole) or row_block",
        work="row_block or the layer widths",
    )


def qmlp_model_bytes(dims: Sequence[int]) -> int:
    """Size of a qmlp_i8 model: per layer W (int8), bias (int32), mult and shift (int32 each)."""
    return sum(a * b + 4 * b + 8 for a, b in itertools.pairwise(dims))


def sgd_shape(params: Sequence[int]) -> WorkloadShape:
    """sgd_fxp (seven params): inputs x, y; a leaf (the weights) per step; or WorkloadError."""
    if len(params) != 7:
        raise WorkloadError(
            "sgd_fxp takes params [samples, features, outputs, batch, steps, frac_bits, lr_shift]"
        )
    samples = _dim(params[0], "samples")
    features = _dim(params[1], "features", 4096)
    outputs = _dim(params[2], "outputs", 1024)
    batch = _dim(params[3], "batch", samples)
    steps = _dim(params[4], "steps", MAX_SGD_STEPS)
    frac_bits = _dim(params[5], "frac_bits", 24)
    lr_shift = _dim(params[6], "lr_shift", 48)
    del frac_bits, lr_shift  # range-checked; they shape the arithmetic, not the size
    if 4 * batch * steps > MAX_BATCH_ORDER_BYTES:
        raise WorkloadError(
            f"the batch order is {4 * batch * steps} bytes, over the limit of "
            f"{MAX_BATCH_ORDER_BYTES}: lower batch or steps"
        )
    return _check_leaf_verification(
        WorkloadShape(
            inputs=(InputSpec("x", samples * features), InputSpec("y", samples * outputs * 2)),
            cost_units=steps * 4 * batch * features * outputs,
            leaf_sizes=(features * outputs * 4,) * steps,
            leaf_verify_units=4 * batch * features * outputs,
            # x and y whole, and one step's row of the batch order (u32 indices).
            leaf_input_bytes=samples * (features + 2 * outputs) + 4 * batch,
        ),
        sized_by={"x": "samples or features", "y": "samples or outputs"},
        reads="samples, features or outputs (x and y are read whole)",
        work="batch, features or outputs",
    )


def mlp_layout(params: Sequence[int]) -> tuple[int, int, int, int, int, int, tuple[int, ...]]:
    """mlp_fxp's `(samples, batch, steps, every, frac_bits, lr_shift, dims)`, each
    range-checked; WorkloadError naming the parameter that is wrong."""
    if len(params) < 8:
        raise WorkloadError(
            "mlp_fxp takes params [samples, batch, steps, every, frac_bits, lr_shift, d0, d1, "
            "..., dL]"
        )
    samples = _dim(params[0], "samples")
    batch = _dim(params[1], "batch", min(samples, 4096))
    steps = _dim(params[2], "steps", MAX_SGD_STEPS)
    every = _dim(params[3], "every", steps)
    frac_bits = _dim(params[4], "frac_bits", MAX_MLP_FRAC_BITS)
    lr_shift = _dim(params[5], "lr_shift", 48)
    dims = tuple(_dim(d, f"d{i}", MAX_MLP_WIDTH) for i, d in enumerate(params[6:]))
    if len(dims) - 1 > MAX_MLP_LAYERS:
        raise WorkloadError(f"at most {MAX_MLP_LAYERS} layers")
    return samples, batch, steps, every, frac_bits, lr_shift, dims


def mlp_leaf_bytes(dims: Sequence[int]) -> int:
    """Size of an mlp_fxp checkpoint: per layer W_j (d_j×d_{j+1} int32) then b_j (d_{j+1}
    int32), little-endian, layers in order."""
    return sum(4 * (a * b + b) for a, b in itertools.pairwise(dims))


def mlp_shape(params: Sequence[int]) -> WorkloadShape:
    """mlp_fxp `[samples, batch, steps, every, frac_bits, lr_shift, d0..dL]`: inputs x, y; a
    leaf (a checkpoint of every layer) each `every` steps; or WorkloadError.

    A checkpoint is audited by recomputing its `every` steps from the committed checkpoint
    before, so checkpoints form a chain, and a chain of MLP states has cheap links a cheater can
    fake into: the all-zero network is a fixed point of SGD on any MLP (no gradient reaches a
    layer whose input and whose next layer's weights are zero), and so is a network whose hidden
    units are all dead (weights ≤ 0 on inputs ≥ 0). A worker that fakes one checkpoint as such a
    state computes every later checkpoint from it at almost no cost, and each later one passes
    its audit: faking one leaf saves the rest of the job. Only drawing that one leaf catches it,
    so an audit of an mlp_fxp job recomputes every checkpoint (`audited_leaves`), and refused are
    - more than MAX_MLP_CHECKPOINTS leaves: an audit's work stays within MAX_MLP_CHECKPOINTS
      leaves of MAX_LEAF_VERIFY_UNITS each, the default audit's (`audit_leaves` 16);
    - a single leaf (every = steps): its audit would recompute the whole job from the seed, as
      costly as the job; and `every` that does not divide `steps`.
    """
    samples, batch, steps, every, _, _, dims = mlp_layout(params)
    if steps % every:
        raise WorkloadError(f"every ({every}) must divide steps ({steps})")
    checkpoints = steps // every
    if checkpoints < 2:
        raise WorkloadError(
            "every must be at most half of steps: a job of one checkpoint is audited by "
            "recomputing all of it"
        )
    if checkpoints > MAX_MLP_CHECKPOINTS:
        raise WorkloadError(
            f"{checkpoints} checkpoints (steps/every), over the limit of {MAX_MLP_CHECKPOINTS}: "
            "raise every"
        )
    if 4 * batch * steps > MAX_BATCH_ORDER_BYTES:
        raise WorkloadError(
            f"the batch order is {4 * batch * steps} bytes, over the limit of "
            f"{MAX_BATCH_ORDER_BYTES}: lower batch or steps"
        )
    per_step = 6 * batch * sum(a * b for a, b in itertools.pairwise(dims))
    return _check_leaf_verification(
        WorkloadShape(
            inputs=(InputSpec("x", samples * dims[0]), InputSpec("y", samples * dims[-1] * 2)),
            cost_units=steps * per_step,
            leaf_sizes=(mlp_leaf_bytes(dims),) * checkpoints,
            leaf_verify_units=every * per_step,
            leaf_input_bytes=samples * (dims[0] + 2 * dims[-1]) + 4 * batch * every,
        ),
        sized_by={"x": "samples or d0", "y": "samples or dL"},
        reads="samples, d0 or dL (x and y are read whole)",
        work="every, batch or the layer widths",
    )


WORKLOADS: Final = {
    "gemm_i8": gemm_shape,
    "qmlp_i8": qmlp_shape,
    "sgd_fxp": sgd_shape,
    "mlp_fxp": mlp_shape,
}


def workload_shape(workload: str, params: Sequence[int]) -> WorkloadShape:
    """The shape of a job; WorkloadError if the workload is unknown or a parameter is wrong."""
    rule = WORKLOADS.get(workload)
    if rule is None:
        known = ", ".join(sorted(WORKLOADS))
        raise WorkloadError(f"unknown workload {workload!r} (known: {known})")
    return rule(params)


def builds_on(workload: str, leaf: int) -> tuple[int, ...]:
    """The committed result leaves that recomputing `leaf` starts from (a consensus rule: a
    member may claim the worker withheld them only where there are some): the step (checkpoint)
    before, for an sgd_fxp step or an mlp_fxp checkpoint; none for the others (a qmlp_i8 leaf
    is recomputed from the input rows)."""
    if workload in ("sgd_fxp", "mlp_fxp") and leaf > 0:
        return (leaf - 1,)
    return ()


AUDITS_EVERY_LEAF: Final = frozenset({"mlp_fxp"})
"""Workloads whose audit recomputes every leaf of a job rather than a sample of `audit_leaves`
(`audited_leaves`): the audit is forced by the workload, not chosen by the protocol, so the
market's verification fee covers it (`forced_audit_units`)."""


def audited_leaves(workload: str, audit_leaves: int, leaves: int) -> int:
    """How many distinct leaves an audit of a job of `leaves` leaves draws (a consensus rule):
    `audit_leaves`, or every checkpoint of an mlp_fxp job, whose checkpoints form a chain with
    cheap links to fake (`mlp_shape`): only drawing the one faked checkpoint catches it."""
    if workload in AUDITS_EVERY_LEAF:
        return leaves
    return min(audit_leaves, leaves)


DEFAULT_AUDIT_LEAVES: Final = 16
"""The leaves an audit draws at the compute pallet's default `audit_leaves`: what the market,
which cannot see the compute pallet's parameters, assumes when it prices an audit
(`audit_units`)."""


def most_audited_leaves(audit_leaves: int) -> int:
    """The most leaves any job's audit draws when the compute pallet's `audit_leaves` is
    `audit_leaves`: that many, or the most checkpoints an mlp_fxp job has (all of which its
    audit recomputes, whatever `audit_leaves` is)."""
    return max(audit_leaves, MAX_MLP_CHECKPOINTS)


def audit_units(
    workload: str, shape: WorkloadShape, audit_leaves: int = DEFAULT_AUDIT_LEAVES
) -> int:
    """The cost units one committee member's audit of a job of this shape recomputes, at most:
    the leaves the audit draws (`audited_leaves`) times the costliest leaf's recomputation
    (`WorkloadShape.leaf_verify_units`). A job of few leaves is audited whole (an mlp_fxp job
    always is, whatever its size): each member then recomputes about the whole job."""
    return audited_leaves(workload, audit_leaves, shape.leaves) * shape.leaf_verify_units


def forced_audit_units(workload: str, shape: WorkloadShape) -> int:
    """The cost units one committee member's audit of a job recomputes because its workload
    forces them (`audit_units` for a workload in AUDITS_EVERY_LEAF: the whole job, about), as
    opposed to the sample of `audit_leaves` leaves the protocol draws, which the flat verification
    fee prices: 0 for the sampled workloads."""
    return audit_units(workload, shape) if workload in AUDITS_EVERY_LEAF else 0


def payment_for(cost_units: int, price_per_gop: int) -> int:
    """What `cost_units` of compute costs at `price_per_gop` (rounded up to a whole unit)."""
    return -(-cost_units * price_per_gop // GOP)
