"""Point-in-time joins: a Query compiled to one DuckDB statement over pinned Delta versions.

The semantics are written once, here, over Arrow datasets that any offline backend returns:
every group is read at a pinned Delta version, joined with ``ASOF LEFT JOIN`` on its keys and
``root time >= group event time``; a ttl turns matches older than ``root time - ttl`` into
nulls; a spine replaces the root's rows and the root itself is then joined as of the spine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fti import duckdb_database
from fti.errors import NotFoundError, QueryError, SchemaError
from fti.feature_store.query import Query, Step, left_key_source
from fti.stores.offline.base import DataFile
from fti.types import arrow_schema, coerce, require_not_null

SPINE_ROW = "__fti_spine_row"
SPINE_TIME = "__fti_spine_time"

Versions = dict[str, int | None]
"""Delta version read for each group, keyed ``<group>_v<version>`` (None: no data yet)."""


def group_key(step: Step) -> str:
    """The key of a step's group in a :data:`Versions` mapping."""
    return f"{step.group.name}_v{step.group.version}"


def latest_versions(query: Query) -> Versions:
    """The latest Delta version of every group of ``query``."""
    return {group_key(s): s.group._offline.version(s.group._offline_table) for s in query.steps}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Plan:
    """A query bound to pinned versions, ready to run."""

    query: Query
    versions: Versions
    extra_columns: list[str] = field(default_factory=list)

    def sql(self, spine_columns: Sequence[str] | None = None, time_range: bool = False) -> str:
        """The SQL statement (tables ``g0``, ``g1``... are the pinned groups).

        With ``spine_columns`` (the columns of a prepared spine table ``spine``), root columns
        the spine carries (keys, event time, labels) come from the spine.
        """
        spine = spine_columns is not None
        from_spine = set(spine_columns or ())
        steps = self.query.steps
        root = steps[0]
        root_time = root.group.event_time
        if spine:
            time = _as_ts(f"s.{_q(SPINE_TIME)}")
        elif root_time is not None:
            time = _as_ts(f"t0.{_q(root_time)}", _type(root, root_time))
        else:
            time = "TIMESTAMPTZ 'infinity'"
        columns = {}
        for c in self.query.outputs:
            if c.step == 0 and c.source in from_spine:
                columns[c.name] = f"s.{_q(c.source)}"
            else:
                columns[c.name] = self._column_sql(c.step, c.source, time)
        for name in self.extra_columns:
            columns[name] = f"s.{_q(name)}" if spine else f"t0.{_q(name)}"
        select = ",\n  ".join(f"{expr} AS {_q(name)}" for name, expr in columns.items())
        lines = [f"SELECT\n  {select}"]
        if spine:
            lines.append("FROM spine AS s")
            keys = " AND ".join(f"s.{_q(k)} = t0.{_q(k)}" for k in root.group.primary_key)
            if root_time is not None:
                root_ts = _as_ts(f"t0.{_q(root_time)}", _type(root, root_time))
                lines.append(f"ASOF LEFT JOIN g0 AS t0 ON {keys} AND {time} >= {root_ts}")
            else:
                lines.append(f"LEFT JOIN g0 AS t0 ON {keys}")
        else:
            lines.append("FROM g0 AS t0")
        conditions: list[str] = []
        for i, step in enumerate(steps[1:], start=1):
            pairs = []
            for left, right in zip(step.left_on, step.right_on, strict=True):
                source, column = left_key_source(steps, i, left)
                use_spine = spine and source == 0 and column in root.group.primary_key
                ref = f"s.{_q(column)}" if use_spine else f"t{source}.{_q(column)}"
                pairs.append(f"{ref} = t{i}.{_q(right)}")
            keys = " AND ".join(pairs)
            if step.as_of:
                event = step.group.event_time
                assert event is not None
                right_ts = _as_ts(f"t{i}.{_q(event)}", _type(step, event))
                lines.append(f"ASOF LEFT JOIN g{i} AS t{i} ON {keys} AND {time} >= {right_ts}")
            else:
                lines.append(f"LEFT JOIN g{i} AS t{i} ON {keys}")
            if step.join_type == "inner":
                conditions.append(self._match_sql(i, time))
        if time_range:
            conditions.append(f"{time} >= $start_time AND {time} < $end_time")
        if self.query.where is not None:
            conditions.append(self.query.where.to_sql(lambda name: columns[name]))
        if conditions:
            lines.append("WHERE " + "\n  AND ".join(conditions))
        if spine:
            lines.append(f"ORDER BY s.{_q(SPINE_ROW)}")
        else:
            order = [f"t0.{_q(k)}" for k in root.group.upsert_keys]
            lines.append("ORDER BY " + ", ".join(order))
        return "\n".join(lines)

    def _column_sql(self, index: int, source: str, time: str) -> str:
        step = self.query.steps[index]
        expr = f"t{index}.{_q(source)}"
        if index > 0 and step.ttl is not None:
            return f"CASE WHEN {self._match_sql(index, time)} THEN {expr} END"
        return expr

    def _match_sql(self, index: int, time: str) -> str:
        """True when join ``index`` found a row (within its ttl)."""
        step = self.query.steps[index]
        present = f"t{index}.{_q(step.right_on[0])} IS NOT NULL"
        if step.ttl is None or step.group.event_time is None:
            return present
        event = _as_ts(f"t{index}.{_q(step.group.event_time)}", _type(step, step.group.event_time))
        seconds = step.ttl.total_seconds()
        return f"({event} >= {time} - INTERVAL ({seconds!r}) SECOND)"

    def run(
        self,
        *,
        spine: pa.Table | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> pa.Table:
        """Execute on the pinned versions; ``spine`` is a table from :func:`prepare_spine`."""
        ranged = start_time is not None or end_time is not None
        with duckdb_database.cursor() as con:
            con.execute("SET TimeZone = 'UTC'")
            needed = needed_columns(self.query)
            lower, upper = _time_bounds(spine, _utc(start_time), _utc(end_time))
            for i, step in enumerate(self.query.steps):
                version = self.versions[group_key(step)]
                # Only rows that can match are read: bounded memory for a bounded range.
                low = lower if i == 0 and spine is None else _minus(lower, step.ttl, i)
                _register_pinned(con, f"g{i}", step, version, needed[i], low, upper)
            if spine is not None:
                con.register("spine", spine)
            params: dict[str, Any] = {}
            if ranged:
                params = {
                    "start_time": _utc(start_time) or dt.datetime(1, 1, 2, tzinfo=dt.UTC),
                    "end_time": _utc(end_time) or dt.datetime(9999, 12, 30, tzinfo=dt.UTC),
                }
            try:
                sql = self.sql(None if spine is None else spine.column_names, ranged)
                result = con.sql(sql, params=params or None).to_arrow_table()
            except duckdb.Error as exc:
                raise QueryError(f"the query failed in DuckDB: {exc}") from exc
        return result


def plan(query: Query, versions: Versions, extra_columns: Sequence[str] = ()) -> Plan:
    """Bind ``query`` to ``versions``; ``extra_columns`` are root columns added at the end."""
    missing = [group_key(s) for s in query.steps if group_key(s) not in versions]
    if missing:
        raise QueryError(f"no pinned version for {', '.join(missing)}")
    present = {c.name for c in query.outputs}
    extra = [c for c in extra_columns if c not in present]
    return Plan(query, dict(versions), extra)


def prepare_spine(query: Query, spine: Any, labels: Sequence[str] = ()) -> pa.Table:
    """Check and type a spine: root primary key, root event time and optionally labels."""
    root = query.root
    if root.event_time is None:
        raise QueryError(f"a spine needs a root group with an event time; {root.name} has none")
    by_name = {f.name: f for f in root.features or []}
    from fti.types import to_arrow

    table = to_arrow(spine)
    wanted = [*root.primary_key, root.event_time]
    present_labels = [label for label in labels if label in table.column_names]
    features = [by_name[c] for c in wanted] + [by_name[c] for c in present_labels]
    unknown = [c for c in table.column_names if c not in {f.name for f in features}]
    if unknown:
        raise SchemaError(
            f"spine column(s) {', '.join(unknown)} are not the root's keys, event time or "
            f"labels ({', '.join(wanted + list(labels))})"
        )
    table = coerce(table, features)
    require_not_null(table, wanted, "spine key/time")
    time = table.column(root.event_time)
    if pa.types.is_date(time.type):
        time = time.cast(pa.timestamp("us", tz="UTC"))
    return table.append_column(SPINE_TIME, time).append_column(
        SPINE_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64))
    )


def needed_columns(query: Query) -> list[list[str]]:
    """For each step, the columns the statement reads: selected, keys and event time."""
    steps = query.steps
    needed = [
        set(step.columns) | set(step.right_on) | set(step.group.upsert_keys) for step in steps
    ]
    for i, step in enumerate(steps[1:], start=1):
        for left in step.left_on:
            source, column = left_key_source(steps, i, left)
            needed[source].add(column)
    return [
        [f.name for f in step.group.features or [] if f.name in columns]
        for step, columns in zip(steps, needed, strict=True)
    ]


def _time_bounds(
    spine: pa.Table | None, start: dt.datetime | None, end: dt.datetime | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The range of root times a run covers: [lower, upper] (upper inclusive)."""
    if spine is not None:
        if spine.num_rows == 0:
            return None, None
        times = spine.column(SPINE_TIME)
        low, high = pc.min(times).as_py(), pc.max(times).as_py()
        return max(low, start) if start else low, min(high, end) if end else high
    return start, end


def _minus(lower: dt.datetime | None, ttl: dt.timedelta | None, index: int) -> dt.datetime | None:
    """The oldest event time a joined group's row can have and still match (with a ttl)."""
    if lower is None or ttl is None or index == 0:
        return None
    return lower - ttl


def _register_pinned(
    con: duckdb.DuckDBPyConnection,
    name: str,
    step: Step,
    version: int | None,
    columns: list[str],
    lower: dt.datetime | None = None,
    upper: dt.datetime | None = None,
) -> None:
    """Make the columns of a group at a pinned version the relation ``name`` of ``con``.

    DuckDB reads the Parquet files of the pinned Delta version itself: a registered pyarrow
    Dataset was re-scanned on the probe side of each ASOF join (ADR 0005), and copying the
    rows into an Arrow table first doubled the memory. Rows outside [lower, upper] of the
    event time cannot match and are filtered in the scan.
    """
    event = step.group.event_time
    timed = event is not None and _type(step, event) == "timestamp"
    offline, table = step.group._offline, step.group._offline_table
    files = [] if version is None else offline.files(table, version, event if timed else None)
    # Files whose time range lies outside [lower, upper] are not read at all, and rows are
    # filtered only in files that straddle a bound (filtering every row cost ~10 %).
    kept = [f for f in files if _may_overlap(f, lower, upper)]
    if not kept:
        con.register(name, arrow_schema(step.group.features or []).empty_table().select(columns))
        return
    inside = [f.path for f in kept if not timed or _inside(f, lower, upper)]
    straddling = [f.path for f in kept if timed and not _inside(f, lower, upper)]
    selected = [_q(c) for c in columns]
    try:
        parts = []
        if inside:
            parts.append(con.read_parquet(inside).select(*selected))
        if straddling:
            assert event is not None
            relation = con.read_parquet(straddling)
            if lower is not None:
                relation = relation.filter(f"{_q(event)} >= TIMESTAMPTZ '{lower.isoformat()}'")
            if upper is not None:
                relation = relation.filter(f"{_q(event)} <= TIMESTAMPTZ '{upper.isoformat()}'")
            parts.append(relation.select(*selected))
        relation = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
        # Registered, not create_view(): a view would live in the shared database's catalog,
        # where another thread's run could replace it; a registration is this cursor's own.
        con.register(name, relation)
    except duckdb.IOException as exc:
        raise NotFoundError(
            f"files of {step.group.name} v{step.group.version} at commit {version} are gone "
            f"(a vacuum removes the files of old commits): {exc}"
        ) from exc


def _may_overlap(file: DataFile, lower: dt.datetime | None, upper: dt.datetime | None) -> bool:
    """False only when the file's known time range misses [lower, upper]."""
    if lower is not None and file.high is not None and file.high < lower:
        return False
    return not (upper is not None and file.low is not None and file.low > upper)


def _inside(file: DataFile, lower: dt.datetime | None, upper: dt.datetime | None) -> bool:
    """True when the file's known time range lies within [lower, upper]."""
    if lower is not None and (file.low is None or file.low < lower):
        return False
    return not (upper is not None and (file.high is None or file.high > upper))


def _type(step: Step, column: str) -> str:
    for f in step.group.features or []:
        if f.name == column:
            return f.type
    raise QueryError(f"{step.group.name} has no column {column!r}")


def _as_ts(expr: str, type_name: str = "timestamp") -> str:
    return f"CAST({expr} AS TIMESTAMPTZ)" if type_name == "date" else expr


def _utc(value: dt.datetime | dt.date | None) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
