"""The Arrow-based type system: feature types, schemas, and safe coercion of incoming frames.

Every frame entering fti (pandas, polars or pyarrow) is turned into an Arrow table with the
group's schema by :func:`coerce`. A cast that could lose information (an int that does not
fit, a float with a fraction into an int, a string into a number, nanoseconds into
microseconds) is refused with :class:`~fti.errors.SchemaError`; timestamps are stored as UTC
microseconds, and naive input timestamps are taken as UTC (an insert warns about them, see
:func:`naive_timestamp_columns`). From pandas, NaN in a float column is a missing value
(null), as pandas itself treats it; from Arrow and polars a NaN stays a NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fti import arrow_sources
from fti.errors import SchemaError
from fti.names import check_name

ARROW_TYPES: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list<float32>": pa.list_(pa.float32()),
    "list<float64>": pa.list_(pa.float64()),
}
"""Each fti type name and the Arrow type it is stored as."""

_ALIASES = {
    "array<float32>": "list<float32>",
    "array<float64>": "list<float64>",
    "str": "string",
    "int": "int64",
    "float": "float64",
    "double": "float64",
    "boolean": "bool",
    "datetime": "timestamp",
}

NUMERIC_TYPES = frozenset({"int32", "int64", "float32", "float64"})
KEY_TYPES = frozenset({"bool", "int32", "int64", "string", "date", "timestamp"})


def normalize_type(name: str) -> str:
    """Return the canonical fti type name for ``name`` or raise SchemaError."""
    # Spaces and case never matter ("List<Float32 >"); a non-string is just an unknown type.
    key = name.strip().lower().replace(" ", "") if isinstance(name, str) else ""
    canonical = _ALIASES.get(key, key)
    if canonical not in ARROW_TYPES:
        raise SchemaError(f"unknown feature type {name!r}; use one of {', '.join(ARROW_TYPES)}")
    return canonical


@dataclass(frozen=True)
class Feature:
    """A named, typed column of a feature group."""

    name: str
    type: str
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "feature name")
        object.__setattr__(self, "type", normalize_type(self.type))

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type the feature is stored as."""
        return ARROW_TYPES[self.type]

    def to_dict(self) -> dict[str, str]:
        """A JSON-friendly form, the inverse of :meth:`from_dict`."""
        return {"name": self.name, "type": self.type, "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Feature:
        """Rebuild a feature stored with :meth:`to_dict`."""
        return cls(data["name"], data["type"], data.get("description", ""))


def arrow_schema(features: Sequence[Feature]) -> pa.Schema:
    """The Arrow schema of ``features``, in order."""
    return pa.schema([pa.field(f.name, f.arrow_type) for f in features])


def type_of(arrow_type: pa.DataType, column: str = "") -> str:
    """The fti type to store an Arrow column of ``arrow_type`` as (schema inference)."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int32" if t.bit_width <= 16 or t == pa.int32() else "int64"
    if pa.types.is_floating(t):
        return "float64" if t == pa.float64() else "float32"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        value = t.value_type
        if pa.types.is_floating(value) or pa.types.is_integer(value):
            return "list<float64>" if value in (pa.float64(), pa.int64()) else "list<float32>"
    raise SchemaError(
        f"column {column!r} has type {arrow_type}, which fti cannot store; "
        f"supported types: {', '.join(ARROW_TYPES)}"
    )


def infer_features(table: pa.Table) -> list[Feature]:
    """Features for every column of ``table``, typed from its Arrow types."""
    return [Feature(f.name, type_of(f.type, f.name)) for f in table.schema]


def to_arrow(data: Any) -> pa.Table:
    """Turn a pandas, polars or pyarrow frame, a Spark DataFrame, or any source of an Arrow
    stream (the Arrow PyCapsule interface: a RecordBatchReader, a DuckDB relation...), into an
    Arrow table (no type changes yet).

    Raises SchemaError naming the column when a string is not valid Unicode (a lone
    surrogate in Python, invalid UTF-8 in Arrow).
    """
    if isinstance(data, pa.Table):
        return _check_utf8(data)
    if isinstance(data, pa.RecordBatch):
        return _check_utf8(pa.Table.from_batches([data]))
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return _pandas_to_arrow(data)
    if module == "polars":
        table = data.to_arrow()
        if not isinstance(table, pa.Table):
            raise SchemaError("polars could not convert the frame to Arrow")
        return table
    if arrow_sources.is_stream_source(data):
        return _check_utf8(arrow_sources.batches(data).read_all())
    raise SchemaError(
        f"cannot read a {type(data).__name__}: pass a pandas or polars DataFrame, a Spark "
        "DataFrame, a pyarrow Table or a source of an Arrow stream (__arrow_c_stream__)"
    )


def _pandas_to_arrow(df: Any) -> pa.Table:
    import pandas as pd

    if not isinstance(df.columns, pd.Index) or df.columns.nlevels != 1:
        raise SchemaError("a DataFrame with multi-level columns cannot be inserted")
    if df.columns.has_duplicates:
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise SchemaError(f"duplicate column names: {', '.join(dupes)}")
    columns = {}
    for name in df.columns:
        if not is_text(str(name)):
            raise SchemaError(f"column name {str(name)!r} is not valid Unicode (lone surrogate)")
        series = df[name]
        if series.dtype == object and _holds_datetimes(series):
            series = _object_datetimes(series, str(name))
        columns[str(name)] = series
    try:
        return pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as exc:
        raise SchemaError(
            f"cannot convert the DataFrame to Arrow: {_column_at_fault(columns)}"
        ) from exc


def _column_at_fault(columns: Mapping[str, Any]) -> str:
    """Which column pyarrow cannot convert, and why (found again column by column)."""
    for name, series in columns.items():
        try:
            pa.Array.from_pandas(series)
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            return f"column {name!r} holds text that is not valid Unicode ({exc.reason}: {bad!r})"
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as exc:
            return f"column {name!r}: {exc}"
    return "pyarrow refused the frame"


def _holds_datetimes(series: Any) -> bool:
    import datetime as dt

    values = series.dropna()
    return len(values) > 0 and all(isinstance(v, dt.datetime) for v in values.head(1000).tolist())


def _object_datetimes(series: Any, name: str) -> Any:
    """An object column of datetimes as one datetime64 column (UTC when they carry zones).

    Mixed time zones leave pandas with an object column; UTC makes it one instant type. Naive
    values stay naive, so that the insert can say it took them as UTC; naive values beside
    aware ones have no zone fti could take without guessing, and are refused.
    """
    import datetime as dt

    import pandas as pd

    aware = {isinstance(v, dt.datetime) and v.utcoffset() is not None for v in series.dropna()}
    if aware == {True, False}:
        raise SchemaError(
            f"column {name!r} mixes time-zone-aware and naive datetimes: give them all a zone"
        )
    try:
        return pd.to_datetime(series, utc=True in aware)
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"column {name!r} cannot be read as datetimes: {exc}") from exc


def is_text(value: str) -> bool:
    """Whether ``value`` can be stored: UTF-8 has no form for a lone surrogate."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_utf8(table: pa.Table) -> pa.Table:
    """``table``, after checking that its string columns hold valid UTF-8."""
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_string_view(kind)
        ):
            try:
                column.validate(full=True)
            except pa.ArrowInvalid as exc:
                raise SchemaError(
                    f"column {field.name!r} holds text that is not valid UTF-8: {exc}"
                ) from exc
    return table


def coerce(data: Any, features: Sequence[Feature]) -> pa.Table:
    """Cast ``data`` to the schema of ``features``; SchemaError on any lossy or missing cast.

    Columns come out in the order of ``features``. A missing or unknown column is an error.
    """
    table = to_arrow(data)
    expected = [f.name for f in features]
    present = table.column_names
    # Sets and a dict, not list scans: a group may have thousands of columns.
    columns = dict(zip(present, table.columns, strict=True))
    if len(columns) != len(present):
        raise SchemaError(f"duplicate column names in {present}")
    wanted = set(expected)
    missing = [n for n in expected if n not in columns]
    unknown = [n for n in present if n not in wanted]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s): {', '.join(map(repr, unknown))}")
        raise SchemaError("; ".join(parts) + f". The group's columns are: {', '.join(expected)}")
    arrays = [cast_column(columns[f.name], f) for f in features]
    return pa.Table.from_arrays(arrays, schema=arrow_schema(features))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with each column cast to its type in ``schema`` by the rules of
    :func:`coerce`; SchemaError for a column ``schema`` lacks or a cast that could lose
    information. Columns of ``schema`` that ``table`` lacks stay absent."""
    unknown = [n for n in table.column_names if schema.get_field_index(n) < 0]
    if unknown:
        raise SchemaError(
            f"unknown column(s): {', '.join(map(repr, unknown))}. The table's columns are: "
            f"{', '.join(schema.names)}"
        )
    arrays = [
        cast_column(column, Feature(name, type_of(schema.field(name).type, name)))
        for name, column in zip(table.column_names, table.columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=table.column_names)


def cast_column(column: pa.ChunkedArray, feature: Feature) -> pa.ChunkedArray:
    """Cast one column to ``feature``'s type, refusing casts that can lose information."""
    source, target = column.type, feature.arrow_type
    if pa.types.is_dictionary(source):
        column = column.cast(source.value_type)
        source = column.type
    if source == target:
        return column
    if pa.types.is_null(source) or len(column) == 0:
        return pa.chunked_array([pa.nulls(len(column), target)])
    if not _compatible(source, target):
        raise SchemaError(
            f"column {feature.name!r} has type {source} but the feature is {feature.type}; "
            "convert it before inserting"
        )
    if pa.types.is_timestamp(target):
        return _cast_timestamp(column, feature)
    try:
        cast = column.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(
            f"column {feature.name!r} cannot be cast from {source} to {feature.type} "
            f"without losing information: {exc}"
        ) from exc
    if target == pa.float32() or _is_float_list(target, 32):
        _check_float32_range(column, cast, feature)
    return cast


def _compatible(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether a cast from ``source`` to ``target`` is a conversion fti attempts at all."""

    def kind(t: pa.DataType) -> str:
        if pa.types.is_boolean(t):
            return "bool"
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            return "number"
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return "string"
        if pa.types.is_date(t):
            return "date"
        if pa.types.is_timestamp(t):
            return "timestamp"
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            return "list"
        return str(t)

    return kind(source) == kind(target)


def _cast_timestamp(column: pa.ChunkedArray, feature: Feature) -> pa.ChunkedArray:
    source = column.type
    if source.tz is None:
        # Naive timestamps are taken as UTC (documented convention).
        column = column.cast(pa.timestamp(source.unit, tz="UTC"))
    try:
        return column.cast(feature.arrow_type, safe=True)
    except pa.ArrowInvalid as exc:
        raise SchemaError(
            f"column {feature.name!r} has timestamps finer than microseconds; fti stores "
            f"microseconds: round them first ({exc})"
        ) from exc


def _is_float_list(t: pa.DataType, bits: int) -> bool:
    return bool(pa.types.is_list(t)) and bool(
        t.value_type == (pa.float32() if bits == 32 else pa.float64())
    )


def _is_any_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _check_float32_range(
    original: pa.ChunkedArray, cast: pa.ChunkedArray, feature: Feature
) -> None:
    """Arrow turns a float64 beyond float32's range into inf silently; refuse that.

    Rounding to the nearest float32 is the precision the feature declares, so it is allowed.
    """
    if _is_any_list(original.type):
        # Polars sends large lists and fixed-size lists occur too: give the original the
        # cast's list layout first so both flatten to the same elements.
        original = pc.list_flatten(original.cast(pa.list_(pa.float64())))
        cast = pc.list_flatten(cast)
    overflow = pc.and_(pc.is_inf(cast), pc.invert(pc.is_inf(original)))
    if pc.any(pc.fill_null(overflow, False)).as_py():
        raise SchemaError(
            f"column {feature.name!r} has values beyond float32's range; declare it float64"
        )


def naive_timestamp_columns(table: pa.Table, features: Sequence[Feature]) -> list[str]:
    """The timestamp features ``table`` gives without a time zone (:func:`coerce` takes them as
    UTC)."""
    timestamps = {f.name for f in features if f.type == "timestamp"}
    return [
        f.name
        for f in table.schema
        if f.name in timestamps and pa.types.is_timestamp(f.type) and f.type.tz is None
    ]


def check_value_sizes(table: pa.Table, features: Sequence[Feature], limit: int) -> None:
    """Raise SchemaError when a string (UTF-8 bytes) or list value of ``table`` (a coerced
    batch, its columns in the order of ``features``) is larger than ``limit`` bytes."""
    for feature, column in zip(features, table.columns, strict=True):
        if feature.type == "string":
            sizes = pc.binary_length(column)
        elif feature.type in ("list<float32>", "list<float64>"):
            width = feature.arrow_type.value_type.byte_width
            sizes = pc.multiply(pc.list_value_length(column), width)
        else:
            continue
        largest = pc.max(sizes).as_py()
        if largest is not None and largest > limit:
            over = pc.sum(pc.greater(sizes, limit)).as_py()
            raise SchemaError(
                f"column {feature.name!r} has {over:,} value(s) larger than max_value_bytes "
                f"({limit:,} bytes), the largest {largest:,} bytes; raise the setting "
                "(max_value_bytes in fti.toml, FTI_MAX_VALUE_BYTES or connect()) to store them"
            )


def require_not_null(table: pa.Table, columns: Sequence[str], role: str) -> None:
    """Raise SchemaError when any of ``columns`` holds a null (keys and event times)."""
    for name in columns:
        nulls = table.column(name).null_count
        if nulls:
            raise SchemaError(
                f"{role} column {name!r} has {nulls} null value(s); fill or drop them"
            )
