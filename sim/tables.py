"""A run's output tables: their schemas, the recorder that writes them to Parquet as the run goes,
and the run's digest over every row recorded.

Six tables, each with `t_ms` (simulated time) first. Amounts of XPL (stakes, earnings, slashes,
issuance, fees, ...) are exact integers in units (1 XPL = 10^12): balances are 128-bit on chain,
beyond int64, so they are stored as `decimal128(38, 0)` and come back to pandas as Python ints.
Other integers are int64 and come back as pandas' nullable `Int64`.

A row leaves memory once `flush_rows` rows of its table are buffered: they are written as one
Parquet row group, so a run's memory stays flat however long it runs. Every row, whether or not its
table is written, feeds the digest, so the digest is the run's and not its output settings'.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import msgpack
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

AMOUNT: Final = pa.decimal128(38, 0)
"""An amount of XPL in units: exact, up to 10^38 − 1 (balances are u128 on chain)."""

AMOUNT_LIMIT: Final = 10**38
"""The bound (exclusive) on an amount's magnitude that `AMOUNT` holds."""

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

DEFAULT_FLUSH_ROWS: Final = 10_000
"""Rows of one table held in memory before they are written out as a Parquet row group."""


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    """A table's schema: `t_ms` first, then (name, type, nullable) in order."""
    return pa.schema(
        [pa.field("t_ms", pa.int64(), nullable=False)]
        + [pa.field(name, kind, nullable=nullable) for name, kind, nullable in fields]
    )


_STR, _INT, _BOOL = pa.string(), pa.int64(), pa.bool_()

TABLES: Final[dict[str, pa.Schema]] = {
    # One row per block, the first time any node authors or imports it.
    "blocks": _schema(
        ("number", _INT, False),
        ("hash", _STR, False),  # hex
        ("parent", _STR, False),  # hex
        ("author", _STR, False),  # ss58 or hex
        ("slot", _INT, False),
        ("size_bytes", _INT, False),
        ("extrinsics", _INT, False),
    ),
    # One row per node per change of its best or finalized height.
    "finality": _schema(
        ("node", _STR, False),
        ("best", _INT, False),
        ("finalized", _INT, False),
        ("lag_blocks", _INT, False),  # best − finalized
    ),
    # Per sample window and topic: what the network carried in that window.
    "messages": _schema(
        ("topic", _STR, False),
        ("messages", _INT, False),
        ("bytes", _INT, False),
        ("lost", _INT, False),
    ),
    # One row per step of a job's lifecycle (`JOB_STEPS`).
    "jobs": _schema(
        ("job", _INT, False),
        ("step", _STR, False),
        ("block", _INT, True),
        ("workload", _STR, True),
        ("requester", _STR, True),
        ("worker", _STR, True),
        ("price", _INT, True),  # units per gunit
        ("cost_units", _INT, True),
        ("verdict", _STR, True),
        ("amount", AMOUNT, True),  # escrow paid, slash, ... as the step has one
    ),
    # Per worker, every sample: its standing so far (amounts cumulative since the start).
    "workers": _schema(
        ("worker", _STR, False),
        ("group", _STR, False),
        ("strategy", _STR, False),
        ("stake", AMOUNT, False),
        ("earnings", AMOUNT, False),
        ("slashed", AMOUNT, False),
        ("reputation", _INT, False),
        ("active", _BOOL, False),  # running at least one job at the sample
        ("online", _BOOL, False),
        ("cost", AMOUNT, True),  # modelled cost of the compute done so far, where modelled
    ),
    # Per era, epoch or sample: `issuance` and `treasury` are levels at `block`; `fees`,
    # `rewards`, `minted` and `burned` are what happened since the previous row.
    "economics": _schema(
        ("block", _INT, False),
        ("issuance", AMOUNT, False),
        ("fees", AMOUNT, False),
        ("treasury", AMOUNT, False),
        ("rewards", AMOUNT, False),
        ("minted", AMOUNT, False),
        ("burned", AMOUNT, False),
    ),
}
"""The output tables by name; a column that is nullable may be left out of a row (it is null)."""

JOB_STEPS: Final = (
    "submitted",
    "matched",
    "committed",
    "audit_drawn",
    "attested",
    "disputed",
    "settled",
    "failed",
    "expired",
    "slashed",
)
"""The steps of a job's lifecycle that the `jobs` table records."""


class TableError(ValueError):
    """A row that does not fit its table: an unknown table or column, a missing or mistyped value.

    The message names the table, the column and the problem."""


class RecorderClosed(RuntimeError):
    """A row recorded after the recorder was closed."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column as validation sees it: plain Python, read once from the Arrow schema (asking
    pyarrow for a field's name and type on every row costs more than the rest of a row)."""

    name: str
    kind: str  # "str", "bool", "int" (int64) or "amount"
    nullable: bool

    @property
    def expects(self) -> str:
        """What the column takes, in words."""
        return _EXPECTS[self.kind]


_EXPECTS: Final = {
    "str": "a string",
    "bool": "a bool",
    "int": "an integer",
    "amount": "an amount (integer units)",
}


def _column(field: pa.Field) -> Column:
    kinds = {_STR: "str", _BOOL: "bool", _INT: "int", AMOUNT: "amount"}
    return Column(field.name, kinds[field.type], field.nullable)


COLUMNS: Final[dict[str, tuple[Column, ...]]] = {
    table: tuple(_column(field) for field in schema) for table, schema in TABLES.items()
}
"""Each table's columns, in schema order."""

_NAMES: Final = {table: frozenset(c.name for c in columns) for table, columns in COLUMNS.items()}
_AMOUNTS: Final = {
    table: tuple(i for i, c in enumerate(columns) if c.kind == "amount")
    for table, columns in COLUMNS.items()
}


def _refusal(table: str, column: Column, what: str, value: Any) -> TableError:
    return TableError(
        f"table {table!r}: column {column.name!r} expects {what}, got "
        f"{type(value).__name__} {value!r:.80}"
    )


def _canonical(table: str, column: Column, value: Any) -> Any:
    """`value` as the plain Python value `column` stores (int, str, bool or None), or TableError."""
    kind = column.kind
    value_type = type(value)
    if value_type is int and kind == "int" and INT64_MIN <= value <= INT64_MAX:
        return value  # the common case, first
    if value is None:
        if column.nullable:
            return None
    elif kind == "str":
        if value_type is str or isinstance(value, str):
            if not value.isascii() and not _is_utf8(value):
                raise _refusal(table, column, "text UTF-8 can carry", value)
            return value
    elif kind == "bool":
        if isinstance(value, bool | np.bool_):
            return bool(value)  # numpy's bool made plain, as numpy's integers are
    # Integers: numpy integers are accepted and made plain ints; bools are not numbers here, and
    # floats are refused rather than silently truncated.
    elif not isinstance(value, bool) and isinstance(value, numbers.Integral):
        number = int(value)
        if kind == "amount":
            if -AMOUNT_LIMIT < number < AMOUNT_LIMIT:
                return number
            raise _refusal(table, column, "an amount below 10^38", value)
        if INT64_MIN <= number <= INT64_MAX:
            return number
        raise _refusal(table, column, "an integer in int64's range", value)
    raise _refusal(table, column, column.expects, value)


def _is_utf8(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (a lone surrogate does not: Parquet and the digest need
    it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_row(table: str, columns: Mapping[str, Any]) -> list[Any]:
    """The row's values in its schema's column order, checked; TableError names what is wrong."""
    spec = COLUMNS.get(table)
    if spec is None:
        raise TableError(f"unknown table {table!r} (known: {', '.join(TABLES)})")
    names = _NAMES[table]
    for name in columns:
        if name not in names:
            raise TableError(
                f"table {table!r}: unknown column {name!r} "
                f"(columns: {', '.join(c.name for c in spec)})"
            )
    values = []
    for column in spec:
        if column.name not in columns and not column.nullable:
            raise TableError(f"table {table!r}: missing column {column.name!r}")
        values.append(_canonical(table, column, columns.get(column.name)))
    return values


def _encode_for_digest(table: str, values: list[Any]) -> bytes:
    """One row's canonical bytes: msgpack of [table, values in column order], amounts as decimal
    text (msgpack integers stop at 64 bits)."""
    plain = list(values)
    for i in _AMOUNTS[table]:
        if plain[i] is not None:
            plain[i] = str(plain[i])
    encoded: bytes = msgpack.packb([table, plain], use_bin_type=True)
    return encoded


def _arrow(table: str, rows: list[list[Any]]) -> pa.Table:
    """Validated rows of `table` as an Arrow table with its schema."""
    schema = TABLES[table]
    return pa.Table.from_arrays(
        [pa.array([row[i] for row in rows], type=field.type) for i, field in enumerate(schema)],
        schema=schema,
    )


def frame_of(table: pa.Table) -> pd.DataFrame:
    """A table read back as a DataFrame: amounts as Python ints, int64 as nullable Int64."""
    frame: pd.DataFrame = table.to_pandas(
        types_mapper=lambda kind: pd.Int64Dtype() if kind == pa.int64() else None
    )
    for field in table.schema:
        if pa.types.is_decimal(field.type):
            frame[field.name] = pd.Series(
                [None if v is None else int(v) for v in table.column(field.name).to_pylist()],
                index=frame.index,
                dtype=object,
            )
    return frame


def empty_frame(table: str) -> pd.DataFrame:
    """An empty DataFrame with `table`'s columns and dtypes."""
    return frame_of(TABLES[table].empty_table())


def read_table(path: Path, table: str) -> pd.DataFrame:
    """A Parquet file written by a Recorder as a DataFrame, or the empty table if it is absent."""
    if not path.exists():
        return empty_frame(table)
    return frame_of(pq.read_table(path, schema=TABLES[table]))


class Recorder:
    """Validates, digests and writes a run's rows: to `out/<table>.parquet`, or kept in memory
    when `out` is None (tests, notebooks). Only the tables named in `tables` are kept.
    Table files already in `out` (a run before this one) are removed at the start."""

    def __init__(
        self,
        out: Path | None,
        *,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        tables: Collection[str] = tuple(TABLES),
    ) -> None:
        if flush_rows < 1:
            raise ValueError(f"flush_rows must be at least 1, got {flush_rows}")
        unknown = sorted(set(tables) - set(TABLES))
        if unknown:
            raise TableError(f"unknown table {unknown[0]!r} (known: {', '.join(TABLES)})")
        self.out = out
        self.flush_rows = flush_rows
        self.tables: tuple[str, ...] = tuple(name for name in TABLES if name in tables)
        self._hash = hashlib.blake2b(digest_size=32)
        self._buffers: dict[str, list[list[Any]]] = {name: [] for name in self.tables}
        # In memory, every row is kept (as row groups of `flush_rows`) instead of written.
        self._kept: dict[str, list[pa.Table]] = {name: [] for name in self.tables}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._row_groups: dict[str, int] = dict.fromkeys(self.tables, 0)
        self._closed = False
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for name in TABLES:  # a previous run's tables in the same directory are not this one's
                (out / f"{name}.parquet").unlink(missing_ok=True)

    def row(self, table: str, **columns: Any) -> None:
        """Record one row of `table` (TableError if it does not fit the table's schema)."""
        if self._closed:
            raise RecorderClosed(f"row for table {table!r} after the recorder was closed")
        values = validate_row(table, columns)
        self._hash.update(_encode_for_digest(table, values))
        buffer = self._buffers.get(table)
        if buffer is None:
            return  # a table this run does not keep: digested, not written
        buffer.append(values)
        if len(buffer) >= self.flush_rows:
            self._flush(table)

    def digest(self) -> str:
        """blake2b-256, hex, over every row recorded so far, in order."""
        return self._hash.hexdigest()

    def buffered(self, table: str) -> int:
        """Rows of `table` held in memory, not yet written out."""
        return len(self._buffers.get(table, ()))

    def row_groups(self, table: str) -> int:
        """Row groups of `table` written out (or kept, in memory) so far."""
        return self._row_groups.get(table, 0)

    def path(self, table: str) -> Path | None:
        """Where `table` is written, or None in memory."""
        return None if self.out is None else self.out / f"{table}.parquet"

    def _flush(self, table: str) -> None:
        """Write the buffered rows of `table` as one row group (or keep them, in memory)."""
        rows = self._buffers[table]
        if not rows:
            return
        # A KeyboardInterrupt is raised only between Python steps: everything that runs Python
        # code (building the batch, opening the file) comes first, while the rows are still
        # buffered for `close`; then the rows leave the buffer and the batch is written in one
        # native call, after which an interrupt can neither lose them nor write them twice.
        batch = _arrow(table, rows)
        count = len(rows)
        kept = self._kept[table]
        native = None if self.out is None else self._writer(table).writer
        self._row_groups[table] += 1
        self._buffers[table] = []
        if native is None:
            kept.append(batch)
        else:
            native.write_table(batch, row_group_size=count)

    def _writer(self, table: str) -> pq.ParquetWriter:
        writer = self._writers.get(table)
        if writer is None:
            writer = pq.ParquetWriter(self.path(table), TABLES[table])
            self._writers[table] = writer
        return writer

    def close(self) -> None:
        """Write what is buffered and finish every table's file (an empty table gets a file with
        its schema), so each is complete and readable. Safe to call again, and from a
        KeyboardInterrupt handler in the middle of a run."""
        if self._closed:
            return
        self._closed = True
        failure: BaseException | None = None
        for table in self.tables:
            try:
                self._flush(table)
            except BaseException as error:  # finish the other files before raising
                failure = failure or error
            if self.out is not None:
                try:
                    self._writer(table).close()
                except BaseException as error:
                    failure = failure or error
        if failure is not None:
            raise failure

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def frames(self) -> dict[str, pd.DataFrame]:
        """Each kept table as a DataFrame. With a directory, the recorder is closed first and the
        tables are read back from their Parquet files."""
        if self.out is not None:
            self.close()
            return {name: read_table(self.out / f"{name}.parquet", name) for name in self.tables}
        return {
            name: frame_of(pa.concat_tables([*self._kept[name], _arrow(name, self._buffers[name])]))
            for name in self.tables
        }
