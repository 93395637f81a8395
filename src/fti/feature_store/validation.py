"""Expectations on feature-group inserts: storing pandera schemas and checking data against them.

A feature group may carry *expectations*: a pandera ``DataFrameSchema`` (pandas API) built from
built-in checks. They are stored as JSON with the group, so only what survives a JSON round trip
is accepted; a custom (function) check, a parser or an index is refused with
:class:`~fti.errors.ExpectationError` when the group is created, not when data first arrives.

Validation checks only what the expectations mention, on the Arrow table about to be written:

* columns the schema does not name are allowed (pandera's ``strict``, ``ordered``, ``coerce``,
  ``add_missing_columns`` and ``drop_invalid_rows`` are ignored: validation never changes data);
* a declared dtype is compared by kind against the Arrow type: boolean, integer, float, string,
  timestamp, date or duration. Width (int32/int64), timestamp unit and time zone, and numpy
  versus Arrow storage are ignored; any other dtype is compared by pandera on the pandas column;
* timestamps reach the checks as tz-aware UTC, or as naive UTC where the column declares a naive
  datetime dtype (fti takes naive timestamps as UTC);
* a null and a float NaN are both missing values to pandera: they pass ``nullable=True``, fail
  ``nullable=False`` (the pandera default), and are skipped by value checks.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fti.errors import DataValidationError, ExpectationError

if TYPE_CHECKING:
    import pandas as pd
    from pandera.api.checks import Check
    from pandera.api.pandas.container import DataFrameSchema

__all__ = [
    "MAX_EXAMPLES",
    "VALIDATION_MODES",
    "CheckFailure",
    "ValidationReport",
    "check_report",
    "deserialize_expectations",
    "serialize_expectations",
    "validate",
    "whole_batch_checks",
]

VALIDATION_MODES = ("strict", "warn")
"""What an insert does when data fails its expectations: refuse it, or store it with the report."""

MAX_EXAMPLES = 5
"""How many distinct failing values a :class:`CheckFailure` keeps."""

_FORMAT = "fti.expectations/1"
_TAG = "__fti_value__"
_BUILT_IN_HINT = (
    "only built-in checks (Check.ge, Check.isin, Check.str_length, Check.in_range, ...) "
    "can be stored with a feature group"
)
_CHECK_FIELDS = ("name", "arguments", "error message", "ignore_na", "groupby", "groups")
# Built-in checks whose verdict on a row depends on that row alone.
_ROW_CHECKS = frozenset(
    {
        "equal_to",
        "not_equal_to",
        "greater_than",
        "greater_than_or_equal_to",
        "less_than",
        "less_than_or_equal_to",
        "in_range",
        "isin",
        "notin",
        "str_matches",
        "str_contains",
        "str_startswith",
        "str_endswith",
        "str_length",
    }
)


# --- storing expectations -------------------------------------------------------------------


def serialize_expectations(schema: Any) -> str:
    """JSON text for ``schema``; ExpectationError if any part of it cannot be stored faithfully."""
    import pandera
    from pandera.api.pandas.container import DataFrameSchema
    from pandera.io.pandas_io import serialize_schema

    if not isinstance(schema, DataFrameSchema):
        hint = (
            " (for a DataFrameModel, pass Model.to_schema())"
            if hasattr(schema, "to_schema")
            else ""
        )
        raise ExpectationError(
            "expectations must be a pandera DataFrameSchema from pandera.pandas, "
            f"not {type(schema).__name__}{hint}"
        )
    _refuse_unstorable(schema)
    stored = {
        "format": _FORMAT,
        "pandera": pandera.__version__,
        # pandera skips check names it does not know when reading; the list lets a later
        # read (perhaps by another pandera version) notice a check gone missing.
        "checks": _check_names(schema),
        "schema": serialize_schema(schema),
    }
    try:
        text = json.dumps(stored, default=_encode, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ExpectationError(f"expectations cannot be stored as JSON: {exc}") from exc
    restored, _ = _read(text)
    _compare_round_trip(schema, restored)
    return text


def deserialize_expectations(text: str) -> DataFrameSchema:
    """The pandera schema stored by :func:`serialize_expectations`."""
    import pandera

    schema, data = _read(text)
    stored: dict[str, Any] = dict(data.get("checks") or {})
    read = _check_names(schema)
    for where in [*stored, *(k for k in read if k not in stored)]:
        if stored.get(where) != read.get(where):
            raise ExpectationError(
                f"stored expectations cannot be read faithfully: {where} has checks "
                f"{stored.get(where)} (stored with pandera {data.get('pandera')}) but pandera "
                f"{pandera.__version__} reads back {read.get(where)}"
            )
    return schema


def _read(text: str) -> tuple[DataFrameSchema, dict[str, Any]]:
    """The schema in ``text``, and everything stored with it."""
    from pandera.errors import SchemaDefinitionError, SchemaInitError
    from pandera.io.pandas_io import deserialize_schema

    try:
        data = json.loads(text, object_hook=_decode)
    except (ValueError, TypeError) as exc:
        raise ExpectationError(f"stored expectations cannot be read: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ExpectationError(
            f"stored expectations cannot be read: not in the {_FORMAT!r} format written by "
            "serialize_expectations"
        )
    try:
        schema: DataFrameSchema = deserialize_schema(data["schema"])  # type: ignore[no-untyped-call]
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        SchemaDefinitionError,
        SchemaInitError,
    ) as exc:
        raise ExpectationError(f"stored expectations cannot be read: {exc}") from exc
    return schema, data


def _checks_by_place(schema: DataFrameSchema) -> dict[str, list[Check]]:
    """Each column's checks, and the frame-level ones, under a label for messages."""
    places = {"the frame-level checks": list(schema.checks)}
    for name, column in schema.columns.items():
        places[f"column {name!r}"] = list(column.checks)
    return places


def _check_names(schema: DataFrameSchema) -> dict[str, list[str]]:
    return {
        where: [str(c.name) for c in checks] for where, checks in _checks_by_place(schema).items()
    }


def _refuse_unstorable(schema: DataFrameSchema) -> None:
    """Refuse up front what pandera would drop (with a warning) or cannot rebuild."""
    from pandera.api.checks import Check

    if schema.index is not None:
        raise ExpectationError(
            "expectations cannot check an index: feature groups have none; check columns instead"
        )
    if schema.parsers:
        raise ExpectationError("the schema has parsers, which cannot be stored; remove them")
    for name, column in schema.columns.items():
        if column.parsers:
            raise ExpectationError(f"column {name!r} has parsers, which cannot be stored")
    for where, checks in _checks_by_place(schema).items():
        for check in checks:
            registry_name = check.registry_name
            if registry_name is None or not Check.is_builtin_check(registry_name):
                raise ExpectationError(
                    f"{where}: check {check.name!r} is a custom check; {_BUILT_IN_HINT}"
                )
            if check.groupby is not None:
                # Built-in checks do not accept grouped data, and pandera drops some groupings.
                raise ExpectationError(
                    f"{where}: check {check.name!r} uses groupby, which cannot be stored"
                )
            if check.raise_warning:
                raise ExpectationError(
                    f"{where}: check {check.name!r} has raise_warning=True; create the group "
                    "with validation mode 'warn' to store failing data with its report instead"
                )


def _compare_round_trip(original: DataFrameSchema, restored: DataFrameSchema) -> None:
    """Catch anything pandera dropped or changed silently while serializing."""
    before, after = _signature(original), _signature(restored)
    for where in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(where), after.get(where)
        if old == new:
            continue
        if old is None or new is None:
            raise ExpectationError(f"{where} does not survive being stored; {_BUILT_IN_HINT}")
        old_names = [c[0] for c in old["checks"]]
        if old_names != [c[0] for c in new["checks"]]:
            raise ExpectationError(
                f"{where}: only {len(new['checks'])} of its checks {old_names} survive being "
                f"stored; {_BUILT_IN_HINT}"
            )
        for old_check, new_check in zip(old["checks"], new["checks"], strict=True):
            for label, before_value, after_value in zip(
                _CHECK_FIELDS, old_check, new_check, strict=True
            ):
                if before_value != after_value:
                    raise ExpectationError(
                        f"{where}: the {label} of check {old_check[0]!r} change when stored "
                        f"({before_value!r} -> {after_value!r})"
                    )
        key = next(k for k in old if old[k] != new[k])
        raise ExpectationError(f"{where}: {key} changes when stored ({old[key]!r} -> {new[key]!r})")


def _signature(schema: DataFrameSchema) -> dict[str, dict[str, Any]]:
    """What must match after a round trip, per column and for the frame, in JSON terms."""

    def checks(items: Iterable[Check]) -> list[Any]:
        rows = [
            [c.name, c.statistics, _custom_error(c), c.ignore_na, c.groupby, c.groups]
            for c in items
        ]
        return list(_jsonable(rows))

    out: dict[str, dict[str, Any]] = {
        "the frame-level checks": {
            "checks": checks(schema.checks),
            "unique": _jsonable(schema.unique),
            "dtype": str(schema.dtype),
        }
    }
    for name, column in schema.columns.items():
        out[f"column {name!r}"] = {
            "checks": checks(column.checks),
            "dtype": str(column.dtype),
            "nullable": column.nullable,
            "unique": column.unique,
            "required": column.required,
            "regex": column.regex,
        }
    return out


def _custom_error(check: Check) -> str | None:
    """The check's error message if the user gave one; None for the built-in default."""
    from pandera.api.checks import Check

    name = check.registry_name
    try:
        default = getattr(Check, str(name))(**(check.statistics or {})).error
    except (AttributeError, TypeError, ValueError):
        default = None
    return None if check.error == default else str(check.error)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_encode))


def _encode(value: Any) -> Any:
    """JSON for the check arguments the json module cannot write; tagged where not plain JSON."""
    import numpy as np
    import pandas as pd

    if isinstance(value, set | frozenset):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.timedelta64):
        value = pd.Timedelta(value)
    if value is pd.NaT:
        raise TypeError("NaT cannot be a check argument")
    if isinstance(value, dt.datetime):
        return {_TAG: "timestamp", "value": pd.Timestamp(value).isoformat()}
    if isinstance(value, dt.date):
        return {_TAG: "date", "value": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {_TAG: "timedelta", "value": int(pd.Timedelta(value).value)}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serializable")


def _decode(obj: dict[str, Any]) -> Any:
    kind = obj.get(_TAG)
    if kind is None or len(obj) != 2:
        return obj
    import pandas as pd

    if kind == "timestamp":
        return pd.Timestamp(obj["value"])
    if kind == "date":
        return dt.date.fromisoformat(obj["value"])
    if kind == "timedelta":
        return pd.Timedelta(obj["value"], unit="ns")
    raise ValueError(f"unknown stored value kind {kind!r}")


# --- reports ------------------------------------------------------------------------------


@dataclass
class CheckFailure:
    """One check that failed: where, which, on how many rows, and a few failing values.

    ``column`` is None for a frame-level check. A failure of a column as a whole (missing, of
    the wrong type, a check on its set of values) counts every row checked as failed; its
    examples are then the actual type, the check's outcome, or none.
    """

    column: str | None
    check: str
    failed_rows: int
    examples: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form, the inverse of :meth:`from_dict`."""
        return {
            "column": self.column,
            "check": self.check,
            "failed_rows": self.failed_rows,
            "examples": list(self.examples),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckFailure:
        """Rebuild a failure stored with :meth:`to_dict`."""
        return cls(
            column=data["column"],
            check=data["check"],
            failed_rows=int(data["failed_rows"]),
            examples=list(data.get("examples", [])),
        )


@dataclass
class ValidationReport:
    """The outcome of checking one insert against its group's expectations."""

    passed: bool
    rows_checked: int
    failures: list[CheckFailure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form, the inverse of :meth:`from_dict`."""
        return {
            "passed": self.passed,
            "rows_checked": self.rows_checked,
            "failures": [f.to_dict() for f in self.failures],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        """Rebuild a report stored with :meth:`to_dict`."""
        return cls(
            passed=bool(data["passed"]),
            rows_checked=int(data["rows_checked"]),
            failures=[CheckFailure.from_dict(f) for f in data.get("failures", [])],
        )

    def summary(self) -> str:
        """One line per failed check: where, which check, how many rows, a few values."""
        if self.passed:
            return f"all expectations passed on {self.rows_checked} row(s)"
        lines = []
        for f in self.failures:
            where = "frame" if f.column is None else f"column {f.column!r}"
            line = f"{where}: {f.check} failed on {f.failed_rows} of {self.rows_checked} row(s)"
            if f.examples:
                line += "; e.g. " + ", ".join(_short(v) for v in f.examples[:3])
            lines.append(line)
        return "\n".join(lines)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_report(report: ValidationReport, mode: str) -> None:
    """Raise DataValidationError for a failed report in mode "strict"; accept it in "warn"."""
    if mode not in VALIDATION_MODES:
        raise ExpectationError(
            f"unknown validation mode {mode!r}; use one of: {', '.join(VALIDATION_MODES)}"
        )
    if report.passed or mode == "warn":
        return
    raise DataValidationError(
        f"{len(report.failures)} expectation(s) failed on {report.rows_checked} row(s); "
        f"nothing was written:\n{report.summary()}",
        report,
    )


# --- validating ---------------------------------------------------------------------------


def whole_batch_checks(schema: DataFrameSchema, primary_key: Iterable[str]) -> list[str]:
    """The expectations of ``schema`` that judge rows of different primary keys together
    (``unique`` over columns that do not hold the whole primary key, ``unique_values_eq``):
    what checking the rows of one key partition at a time cannot decide."""
    key = set(primary_key)
    found = [
        f"{where}: check {check.name!r}"
        for where, checks in _checks_by_place(schema).items()
        for check in checks
        if check.registry_name not in _ROW_CHECKS
    ]
    found += [
        f"column {name!r}: unique"
        for name, column in schema.columns.items()
        if column.unique and not key <= {name}
    ]
    unique = [schema.unique] if isinstance(schema.unique, str) else schema.unique or []
    if unique and not key <= set(unique):
        found.append(f"the frame-level checks: unique={list(unique)!r}")
    return found


def validate(table: pa.Table, schema: DataFrameSchema) -> ValidationReport:
    """Check ``table`` against the expectations ``schema`` and report every failure."""
    import pandera.pandas as pdv
    from pandera.config import ValidationDepth, config_context
    from pandera.errors import SchemaErrors

    rows = table.num_rows
    failures: list[CheckFailure] = []
    columns: dict[Any, pdv.Column] = {}
    naive_datetimes: set[str] = set()
    typed: set[str] = set()
    for name, column in schema.columns.items():
        declared = column.dtype if column.dtype is not None else schema.dtype
        properties = {**column.properties, "dtype": None, "coerce": False, "parsers": None}
        matched = _matching_columns(name, column.regex, table.column_names)
        typed.update(matched)
        for actual in matched if declared is not None else []:
            failure = _dtype_failure(actual, declared, table.schema.field(actual).type, rows)
            if failure is not None:
                failures.append(failure)
                if not column.regex:
                    # The value checks would only fail again, with TypeErrors, on every row.
                    properties["checks"] = []
            elif _is_naive_datetime(declared):
                naive_datetimes.add(actual)
        columns[name] = pdv.Column(**properties)
    if schema.dtype is not None:
        for actual in sorted(set(table.column_names) - typed):
            failure = _dtype_failure(actual, schema.dtype, table.schema.field(actual).type, rows)
            if failure is not None:
                failures.append(failure)

    check_schema = pdv.DataFrameSchema(
        columns=columns,
        checks=schema.checks,
        unique=schema.unique,
        report_duplicates=schema.report_duplicates,
        name=schema.name,
    )
    whole_frame = bool(schema.checks) or any(c.regex for c in schema.columns.values())
    needed = [
        n
        for n in table.column_names
        if whole_frame or n in schema.columns or n in (schema.unique or [])
    ]
    frame = _to_pandas(table.select(needed), naive_datetimes)
    integer_columns = {n for n in needed if pa.types.is_integer(table.schema.field(n).type)}
    # Expectations are a data-quality gate: PANDERA_VALIDATION_* variables must not skip them.
    with config_context(validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            check_schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            failures.extend(_failures(exc.failure_cases, rows, integer_columns))
    return ValidationReport(passed=not failures, rows_checked=rows, failures=failures)


def _matching_columns(name: Any, regex: bool, present: list[str]) -> list[str]:
    if regex:
        return [c for c in present if re.match(str(name), c)]  # pandera's str.match rule
    return [name] if name in present else []


def _dtype_failure(
    column: str, declared: Any, actual: pa.DataType, rows: int
) -> CheckFailure | None:
    expected_kind = _declared_kind(declared)
    if expected_kind is None:
        # Not one of the kinds fti stores: let pandera judge the pandas column.
        import pandas as pd
        from pandera.engines import pandas_engine

        try:
            pandas_dtype = pd.Series([], dtype=actual.to_pandas_dtype()).dtype
        except (NotImplementedError, TypeError):
            pandas_dtype = pd.Series([], dtype=object).dtype
        if declared.check(pandas_engine.Engine.dtype(pandas_dtype)):
            return None
    elif expected_kind == _arrow_kind(actual):
        return None
    return CheckFailure(column, f"dtype('{declared}')", rows, [str(actual)])


def _declared_kind(declared: Any) -> str | None:
    from pandera import dtypes

    if dtypes.is_bool(declared):
        return "boolean"
    if dtypes.is_int(declared):
        return "integer"
    if dtypes.is_float(declared):
        return "float"
    if dtypes.is_string(declared):
        return "string"
    if dtypes.is_datetime(declared):
        return "timestamp"
    if dtypes.is_timedelta(declared):
        return "duration"
    if str(declared) == "date":
        return "date"
    return None


def _arrow_kind(arrow_type: pa.DataType) -> str | None:
    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_duration(t):
        return "duration"
    if pa.types.is_date(t):
        return "date"
    return None


def _is_naive_datetime(declared: Any) -> bool:
    from pandera import dtypes

    return bool(dtypes.is_datetime(declared)) and getattr(declared, "tz", None) is None


def _to_pandas(table: pa.Table, naive_datetimes: set[str]) -> pd.DataFrame:
    """The table as pandas, every timestamp as tz-aware UTC (naive UTC where declared naive)."""
    arrays = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        t = column.type
        if pa.types.is_timestamp(t):
            # Arrow keeps instants in UTC, so this cast only relabels; naive counts as UTC.
            tz = None if name in naive_datetimes else "UTC"
            arrays.append(column.cast(pa.timestamp(t.unit, tz=tz)))
        else:
            arrays.append(column)
    frame: pd.DataFrame = pa.Table.from_arrays(arrays, names=table.column_names).to_pandas(
        ignore_metadata=True
    )
    return frame


def _failures(cases: pd.DataFrame, rows: int, integer_columns: set[str]) -> list[CheckFailure]:
    """Group pandera's failure cases into one CheckFailure per (column, check)."""
    import pandas as pd

    out: list[CheckFailure] = []
    # pandera reports a duplicate key of several columns (``unique=[...]``) cell by cell:
    # put the cells of a row back together into one example.
    duplicate = cases["check"] == "multiple_fields_uniqueness"
    if duplicate.any():
        cells = cases[duplicate]
        keys: dict[Any, dict[str, Any]] = {}
        for index, column, value in zip(
            cells["index"].iloc[:5000],
            cells["column"].iloc[:5000],
            cells["failure_case"].iloc[:5000],
            strict=True,
        ):
            keys.setdefault(index, {})[str(column)] = value
        examples = _examples(pd.Series(list(keys.values()), dtype=object), as_int=False)
        out.append(
            CheckFailure(
                None, "multiple_fields_uniqueness", int(cells["index"].nunique()), examples
            )
        )
        cases = cases[~duplicate]
    groups = ["schema_context", "column", "check"]
    for (context, column, check), group in cases.groupby(groups, sort=False, dropna=False):
        name: str | None = None if _missing(column) else str(column)
        values = group["failure_case"]
        if check == "column_in_dataframe":
            name, values = str(values.iloc[0]), values.iloc[:0]
        elif context == "DataFrameSchema":
            # pandera labels frame-level element failures with its own helper column name.
            name = None
        index = group["index"].dropna()
        failed = int(index.nunique()) if len(index) else rows
        as_int = name in integer_columns
        out.append(CheckFailure(name, str(check), failed, _examples(values, as_int)))
    return out


def _examples(values: pd.Series, as_int: bool) -> list[Any]:
    import pandas as pd

    try:
        candidates: Iterable[Any] = pd.unique(values)  # in order of first failure
    except TypeError:  # unhashable failure cases (rows of a frame-level check)
        candidates = values.iloc[:1000]
    seen: dict[str, Any] = {}
    for value in candidates:
        example = _json_value(value)
        if as_int and isinstance(example, float) and example.is_integer():
            # Arrow ints with nulls reach pandas as floats; show them as the ints they were.
            example = int(example)
        seen.setdefault(json.dumps(example, sort_keys=True), example)
        if len(seen) == MAX_EXAMPLES:
            break
    return list(seen.values())


def _missing(value: Any) -> bool:
    import numpy as np
    import pandas as pd

    if value is None:
        return True
    return not isinstance(value, list | tuple | dict | np.ndarray) and bool(pd.isna(value))


def _json_value(value: Any) -> Any:
    """A JSON-friendly copy of a failing value: plain Python, ISO strings for times."""
    import numpy as np
    import pandas as pd

    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_value(v) for v in value]
    if _missing(value):
        return None
    if isinstance(value, np.datetime64 | np.timedelta64):
        value = pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return pd.Timedelta(value).isoformat()
    return str(value)
