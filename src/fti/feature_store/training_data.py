"""Training datasets: point-in-time data pinned to Delta versions, split, and reproducible.

A training dataset records the Delta version of every group it read, its time range or
spine, its split rule, the transformation state fitted on its training split and a content
digest. Its rows (untransformed, with the split of each row) are materialized as Parquet, so
reading it again returns exactly the same values, also after later inserts or upserts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fti.errors import InvalidArgumentError

SPLIT_COLUMN = "__fti_split"
TRAIN, VALIDATION, TEST = "train", "validation", "test"


@dataclass(frozen=True)
class SplitRule:
    """How rows are assigned to train / validation / test."""

    kind: str = "none"
    validation_size: float | None = None
    test_size: float | None = None
    seed: int | None = None
    validation_start: dt.datetime | None = None
    test_start: dt.datetime | None = None
    train_end: dt.datetime | None = None

    @property
    def parts(self) -> list[str]:
        """The split names this rule produces, in order."""
        if self.kind == "none":
            return [TRAIN]
        with_validation = self.validation_size is not None or self.validation_start is not None
        return [TRAIN, VALIDATION, TEST] if with_validation else [TRAIN, TEST]

    def assign(self, times: pa.ChunkedArray | None, rows: int) -> pa.Array:
        """The split of each row (None for rows that fall in no part, e.g. a time gap)."""
        if self.kind == "none":
            return pa.repeat(pa.scalar(TRAIN), rows)
        if self.kind == "random":
            return self._random(rows)
        if times is None:
            raise InvalidArgumentError("a time split needs a root group with an event time")
        return self._by_time(times)

    def _random(self, rows: int) -> pa.Array:
        validation = self.validation_size or 0.0
        test = self.test_size or 0.0
        order = np.random.default_rng(self.seed).permutation(rows)
        n_test = round(rows * test)
        n_validation = round(rows * validation)
        parts = [TRAIN, TEST, VALIDATION]
        codes = np.zeros(rows, dtype=np.int8)
        codes[order[:n_test]] = parts.index(TEST)
        codes[order[n_test : n_test + n_validation]] = parts.index(VALIDATION)
        return pa.DictionaryArray.from_arrays(codes, parts).cast(pa.string())

    def _by_time(self, times: pa.ChunkedArray) -> pa.Array:
        if pa.types.is_date(times.type):
            times = times.cast(pa.timestamp("us", tz="UTC"))
        labels = pa.nulls(len(times), pa.string())
        train_end = self.train_end or self.validation_start or self.test_start
        conditions: list[tuple[str, Any]] = []
        if train_end is not None:
            conditions.append((TRAIN, pc.less(times, _scalar(train_end))))
        if self.validation_start is not None:
            upper = self.test_start
            valid = pc.greater_equal(times, _scalar(self.validation_start))
            if upper is not None:
                valid = pc.and_(valid, pc.less(times, _scalar(upper)))
            conditions.append((VALIDATION, valid))
        if self.test_start is not None:
            conditions.append((TEST, pc.greater_equal(times, _scalar(self.test_start))))
        for name, mask in conditions:
            labels = pc.if_else(mask, name, labels)
        return labels.combine_chunks() if isinstance(labels, pa.ChunkedArray) else labels

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "kind": self.kind,
            "validation_size": self.validation_size,
            "test_size": self.test_size,
            "seed": self.seed,
            "validation_start": _iso(self.validation_start),
            "test_start": _iso(self.test_start),
            "train_end": _iso(self.train_end),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SplitRule:
        """Rebuild a rule stored with :meth:`to_dict`."""
        return cls(
            kind=data["kind"],
            validation_size=data.get("validation_size"),
            test_size=data.get("test_size"),
            seed=data.get("seed"),
            validation_start=_parse(data.get("validation_start")),
            test_start=_parse(data.get("test_start")),
            train_end=_parse(data.get("train_end")),
        )


def train_test_rule(
    test_size: float | None,
    train_end: dt.datetime | dt.date | str | None,
    test_start: dt.datetime | dt.date | str | None,
    seed: int | None,
) -> SplitRule:
    """The rule of ``train_test_split``: random with ``test_size``, or by time."""
    timed = test_start is not None or train_end is not None
    if test_size is None and not timed:
        raise InvalidArgumentError(
            "train_test_split needs test_size= (a share of the rows, split at random) or "
            "test_start= (a time: later rows are the test set)"
        )
    if test_size is not None and timed:
        raise InvalidArgumentError("give test_size= or test_start=/train_end=, not both")
    if timed:
        return time_rule(test_start or train_end, train_end=train_end)
    return random_rule(test_size, None, seed)


def train_validation_test_rule(
    validation_size: float | None,
    test_size: float | None,
    validation_start: dt.datetime | dt.date | str | None,
    test_start: dt.datetime | dt.date | str | None,
    train_end: dt.datetime | dt.date | str | None,
    seed: int | None,
) -> SplitRule:
    """The rule of ``train_validation_test_split``: random with both sizes, or by time."""
    sizes = (validation_size, test_size)
    starts = (validation_start, test_start)
    random = any(v is not None for v in sizes)
    timed = any(v is not None for v in (*starts, train_end))
    if random and timed:
        raise InvalidArgumentError(
            "give validation_size= and test_size=, or validation_start= and test_start=, "
            "not both kinds"
        )
    if random and None not in sizes:
        return random_rule(test_size, validation_size, seed)
    if timed and None not in starts:
        return time_rule(test_start, validation_start, train_end)
    raise InvalidArgumentError(
        "train_validation_test_split needs validation_size= and test_size= (shares of the rows, "
        "split at random) or validation_start= and test_start= (times), so that no part is empty"
    )


def random_rule(
    test_size: float | None, validation_size: float | None, seed: int | None
) -> SplitRule:
    """A seeded random split; sizes are fractions of the rows."""
    for name, size in (("test_size", test_size), ("validation_size", validation_size)):
        if size is not None and not 0 < size < 1:
            raise InvalidArgumentError(f"{name} must be between 0 and 1, got {size!r}")
    if (test_size or 0) + (validation_size or 0) >= 1:
        raise InvalidArgumentError("test_size + validation_size must leave rows for training")
    return SplitRule("random", validation_size, test_size, seed)


def time_rule(
    test_start: dt.datetime | dt.date | str | None,
    validation_start: dt.datetime | dt.date | str | None = None,
    train_end: dt.datetime | dt.date | str | None = None,
) -> SplitRule:
    """A split on the root's event time: train < validation_start <= validation < test_start."""
    test = to_utc(test_start)
    validation = to_utc(validation_start)
    end = to_utc(train_end)
    if test is None:
        raise InvalidArgumentError("a time split needs test_start")
    bounds = [b for b in (end, validation, test) if b is not None]
    if bounds != sorted(bounds):
        raise InvalidArgumentError("train_end <= validation_start <= test_start must hold")
    return SplitRule("time", validation_start=validation, test_start=test, train_end=end)


def time_range(
    start_time: dt.datetime | dt.date | str | None, end_time: dt.datetime | dt.date | str | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``[start_time, end_time)`` in UTC; InvalidArgumentError when the start is after the end."""
    start, end = to_utc(start_time), to_utc(end_time)
    if start is not None and end is not None and start > end:
        raise InvalidArgumentError(
            f"start_time {start.isoformat()} is after end_time {end.isoformat()}"
        )
    return start, end


def to_utc(value: dt.datetime | dt.date | str | None) -> dt.datetime | None:
    """A UTC datetime; naive values and dates are taken as UTC (dates at midnight)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = pd.Timestamp(value).to_pydatetime()
        except ValueError as exc:
            raise InvalidArgumentError(f"{value!r} is not a date or time") from exc
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        if not isinstance(value, dt.date):
            raise InvalidArgumentError(f"{value!r} is not a date or time")
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def digest(table: pa.Table) -> str:
    """A content digest of ``table``: column names, types and every value, in row order."""
    h = hashlib.sha256()
    h.update(str(table.schema.remove_metadata()).encode())
    for column in table.columns:
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            series = pd.Series([repr(v) for v in column.to_pylist()], dtype=object)
        else:
            series = column.to_pandas()
        h.update(pd.util.hash_pandas_object(series, index=False).to_numpy().tobytes())
    return h.hexdigest()


def split_rows(table: pa.Table, part: str) -> pa.Table:
    """The rows of one split part."""
    return table.filter(pc.equal(table.column(SPLIT_COLUMN), part))


def label_frame(table: pa.Table, labels: Sequence[str]) -> Any:
    """y: a Series for one label, a DataFrame for several, None without labels."""
    if not labels:
        return None
    frame = table.select(list(labels)).to_pandas()
    return frame[labels[0]] if len(labels) == 1 else frame


def _scalar(value: dt.datetime) -> pa.Scalar:
    return pa.scalar(value, pa.timestamp("us", tz="UTC"))


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)
