"""Point-in-time joins: a Query compiled to one DuckDB statement over pinned Delta versions.

The semantics are written once, here, over Arrow datasets that any offline backend returns:
every group is read at a pinned Delta version, joined with ``ASOF LEFT JOIN`` on its keys and
``root time >= group event time``; a ttl turns matches older than ``root time - ttl`` into
nulls; a spine replaces the root's rows and the root itself is then joined as of the spine.

A spine may also carry labels (their values replace the query's, or add labels the query does
not have) and request parameters: the on-demand features that take them are then recomputed
from each joined row and the spine's values, as online serving computes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fti import duckdb_database
from fti.errors import NotFoundError, QueryError, SchemaError
from fti.feature_store.on_demand import OnDemandFeature, check_on_demand_parity
from fti.feature_store.query import Query, Step, left_key_source
from fti.stores.offline.base import DataFile, OfflineStore
from fti.types import Feature, arrow_schema, coerce, require_not_null, to_arrow

SPINE_ROW = "__fti_spine_row"
SPINE_TIME = "__fti_spine_time"
ORDER = "__fti_order_"
"""Prefix of the columns ``Plan.sql(..., ordered=True)`` adds: the values rows are sorted by."""
# Columns a run with recomputed on-demand features carries until the recomputation is done.
_HELPER = "__fti_"
# Rows of each run on which a recomputed on-demand feature is also computed one row at a time,
# as serving does: a row-dependent function differs on almost any row, and each one-row call
# costs ~1 ms (200 rows took a 200,000-row training dataset from 0.63 s to 1.0 s).
_PARITY_ROWS = 20

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


@dataclass(frozen=True)
class Recompute:
    """An on-demand feature of the query recomputed from a spine's request parameters."""

    step: int
    output: str
    feature: OnDemandFeature

    @property
    def matched(self) -> str:
        """The helper column telling whether the step found a row (within its ttl)."""
        return f"{_HELPER}matched_{self.step}"

    def input(self, column: str) -> str:
        """The helper column holding input ``column`` of the step's row."""
        return f"{_HELPER}input_{self.step}_{column}"


@dataclass(frozen=True)
class Spine:
    """A checked spine: its typed rows plus the row number and time, and its columns' roles."""

    table: pa.Table
    labels: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    recomputes: tuple[Recompute, ...] = ()

    @property
    def given(self) -> pa.Table:
        """The spine as given (typed), without the row number and time rebuilt from it."""
        return self.table.drop_columns([SPINE_ROW, SPINE_TIME])


@dataclass
class Plan:
    """A query bound to pinned versions, ready to run."""

    query: Query
    versions: Versions
    extra_columns: list[str] = field(default_factory=list)

    def sql(
        self, spine: Spine | None = None, time_range: bool = False, ordered: bool = False
    ) -> str:
        """The SQL statement (tables ``g0``, ``g1``... are the pinned groups).

        With a ``spine`` (registered as the table ``spine``), the root's keys and event time
        and the labels it carries come from the spine. ``ordered`` adds the values of the
        ORDER BY as the last columns (:meth:`order_columns`), for results run in parts.
        """
        steps = self.query.steps
        root = steps[0]
        root_time = root.group.event_time
        if spine is not None:
            time = _as_ts(f"s.{_q(SPINE_TIME)}")
        elif root_time is not None:
            time = _as_ts(f"t0.{_q(root_time)}", _type(root, root_time))
        else:
            time = "TIMESTAMPTZ 'infinity'"
        columns = {}
        root_from_spine = set(root.group.upsert_keys) if spine is not None else set()
        labels_from_spine = set(spine.labels) if spine is not None else set()
        for c in self.query.outputs:
            if c.step == 0 and c.source in root_from_spine:
                columns[c.name] = f"s.{_q(c.source)}"
            elif c.name in labels_from_spine:
                columns[c.name] = f"s.{_q(c.name)}"
            else:
                columns[c.name] = self._column_sql(c.step, c.source, time)
        for name in self.extra_columns:
            columns[name] = f"s.{_q(name)}" if spine is not None else f"t0.{_q(name)}"
        if spine is not None:
            columns.update(self._spine_columns(spine, columns, time))
        order = (
            [f"s.{_q(SPINE_ROW)}"]
            if spine is not None
            else [f"t0.{_q(k)}" for k in root.group.upsert_keys]
        )
        if ordered:
            columns.update(zip(self.order_columns(spine), order, strict=True))
        select = ",\n  ".join(f"{expr} AS {_q(name)}" for name, expr in columns.items())
        lines = [f"SELECT\n  {select}"]
        if spine is not None:
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
                use_spine = spine is not None and source == 0 and column in root.group.primary_key
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
        lines.append("ORDER BY " + ", ".join(order))
        return "\n".join(lines)

    def _spine_columns(self, spine: Spine, outputs: Mapping[str, str], time: str) -> dict[str, str]:
        """Labels only the spine has, then what recomputing on-demand features needs."""
        columns = {label: f"s.{_q(label)}" for label in spine.labels if label not in outputs}
        for r in spine.recomputes:
            for column in r.feature.inputs:
                columns[r.input(column)] = f"t{r.step}.{_q(column)}"
            if r.step == 0:
                key = self.query.root.primary_key[0]
                columns[r.matched] = f"t0.{_q(key)} IS NOT NULL"
            else:
                columns[r.matched] = f"COALESCE({self._match_sql(r.step, time)}, FALSE)"
        for name in {p for r in spine.recomputes for p in r.feature.request_parameters}:
            columns[_parameter(name)] = f"s.{_q(name)}"
        return columns

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
        spine: Spine | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> pa.Table:
        """Execute on the pinned versions; ``spine`` comes from :func:`prepare_spine`."""
        ranged = start_time is not None or end_time is not None
        with duckdb_database.cursor() as con:
            con.execute("SET TimeZone = 'UTC'")
            for i, read in enumerate(self.reads(spine, start_time, end_time)):
                register_read(con, f"g{i}", read, self.query.steps[i].group._offline)
            if spine is not None:
                con.register("spine", spine.table)
            result = execute(con, self.sql(spine, ranged), self.parameters(start_time, end_time))
        return self.finish(result, spine)

    def reads(
        self,
        spine: Spine | None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> list[GroupRead]:
        """What a run reads of each step's group (``g0``, ``g1``...)."""
        table = None if spine is None else spine.table
        needed = needed_columns(self.query, () if spine is None else spine.recomputes)
        lower, upper = _time_bounds(table, _utc(start_time), _utc(end_time))
        reads = []
        for i, step in enumerate(self.query.steps):
            # Only rows that can match are read: bounded memory for a bounded range.
            low = lower if i == 0 and spine is None else _minus(lower, step.ttl, i)
            reads.append(_group_read(step, self.versions[group_key(step)], needed[i], low, upper))
        return reads

    @staticmethod
    def parameters(
        start_time: dt.datetime | None = None, end_time: dt.datetime | None = None
    ) -> dict[str, Any]:
        """The statement's parameters for a run over [start_time, end_time)."""
        if start_time is None and end_time is None:
            return {}
        return {
            "start_time": _utc(start_time) or dt.datetime(1, 1, 2, tzinfo=dt.UTC),
            "end_time": _utc(end_time) or dt.datetime(9999, 12, 30, tzinfo=dt.UTC),
        }

    def order_columns(self, spine: Spine | None) -> list[str]:
        """The columns ``sql(..., ordered=True)`` adds: the statement's ORDER BY values."""
        count = 1 if spine is not None else len(self.query.root.upsert_keys)
        return [f"{ORDER}{k}" for k in range(count)]

    @staticmethod
    def finish(result: pa.Table, spine: Spine | None) -> pa.Table:
        """The statement's result with the on-demand features a spine recomputes."""
        if spine is not None and spine.recomputes:
            return _recompute(result, spine.recomputes)
        return result


@dataclass(frozen=True)
class GroupRead:
    """What a run reads of one group: the pinned files whose rows can match, the columns,
    and the bounds of the event time that rows of files straddling them are filtered to."""

    name: str
    """The group and version, for messages."""
    table: str
    """The offline table."""
    columns: list[str]
    files: list[DataFile]
    empty: pa.Table
    """No rows, the columns' types: what is read when no file can match."""
    event: str | None = None
    """The event-time column when it is a timestamp (then the bounds apply)."""
    lower: dt.datetime | None = None
    upper: dt.datetime | None = None


def execute(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any]) -> pa.Table:
    """Run a statement of :meth:`Plan.sql`; QueryError when DuckDB refuses it."""
    try:
        return con.sql(sql, params=dict(params) or None).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(f"the query failed in DuckDB: {exc}") from exc


def plan(query: Query, versions: Versions, extra_columns: Sequence[str] = ()) -> Plan:
    """Bind ``query`` to ``versions``; ``extra_columns`` are root columns added at the end."""
    missing = [group_key(s) for s in query.steps if group_key(s) not in versions]
    if missing:
        raise QueryError(f"no pinned version for {', '.join(missing)}")
    present = {c.name for c in query.outputs}
    extra = [c for c in extra_columns if c not in present]
    return Plan(query, dict(versions), extra)


def prepare_spine(query: Query, spine: Any, labels: Sequence[str] = ()) -> Spine:
    """Check and type a spine: the root's primary key and event time, then optionally labels
    (any of ``labels``) and request parameters of the on-demand features of the query's groups.

    A label of the query gets its column's type; a label only the spine has, and a request
    parameter, keep the type they have in the spine.
    """
    root = query.root
    if root.event_time is None:
        raise QueryError(f"a spine needs a root group with an event time; {root.name} has none")
    table = to_arrow(spine)
    wanted = [*root.primary_key, root.event_time]
    present = [c for c in labels if c in table.column_names and c not in wanted]
    rest = [c for c in table.column_names if c not in wanted and c not in present]
    parameters: list[str] = []
    recomputes: tuple[Recompute, ...] = ()
    if rest:  # a spine of keys, time and labels costs nothing more
        on_demand = [(i, o) for i, s in enumerate(query.steps) for o in s.group.on_demand_features]
        known = list(dict.fromkeys(p for _, o in on_demand for p in o.request_parameters))
        unknown = [c for c in rest if c not in known]
        if unknown:
            raise SchemaError(
                f"spine column(s) {', '.join(unknown)} are not what a spine may carry: the "
                f"root's keys and event time ({', '.join(wanted)}), labels "
                f"({', '.join(labels) or 'none'}) and request parameters of on-demand features "
                f"({', '.join(known) or 'none'})"
            )
        parameters = rest
        recomputes = _recomputes(query, on_demand, parameters)
    outputs = {c.name: c.type for c in query.outputs}
    by_name = {f.name: f for f in root.features or []}
    typed = [by_name[c] for c in wanted] + [Feature(c, outputs[c]) for c in present if c in outputs]
    checked = coerce(table.select([f.name for f in typed if f.name in table.column_names]), typed)
    for name in [c for c in present if c not in outputs] + parameters:
        checked = checked.append_column(table.schema.field(name), table.column(name))
    require_not_null(checked, wanted, "spine key/time")
    time = checked.column(root.event_time)
    if pa.types.is_date(time.type):
        time = time.cast(pa.timestamp("us", tz="UTC"))
    checked = checked.append_column(SPINE_TIME, time).append_column(
        SPINE_ROW, pa.array(np.arange(checked.num_rows, dtype=np.int64))
    )
    return Spine(checked, tuple(present), tuple(parameters), recomputes)


def _recomputes(
    query: Query, on_demand: Sequence[tuple[int, OnDemandFeature]], parameters: Sequence[str]
) -> tuple[Recompute, ...]:
    """The selected on-demand features whose request parameters the spine carries."""
    carried = set(parameters)
    outputs = {(c.step, c.source): c.name for c in query.outputs}
    recomputes = []
    for step, feature in on_demand:
        output = outputs.get((step, feature.name))
        given = [p for p in feature.request_parameters if p in carried]
        if output is None or not given:
            continue
        absent = [p for p in feature.request_parameters if p not in carried]
        if absent:
            raise SchemaError(
                f"the spine carries request parameter(s) {', '.join(given)} of on-demand feature "
                f"{feature.name!r} but not {', '.join(absent)}: it needs all of them"
            )
        recomputes.append(Recompute(step, output, feature))
    where = query.where
    filtered = set() if where is None else where.columns() & {r.output for r in recomputes}
    if filtered:
        raise QueryError(
            f"the view's filter reads {', '.join(sorted(filtered))}, which the spine's request "
            "parameters recompute; filter on stored columns, or leave the parameters out"
        )
    return tuple(recomputes)


def _parameter(name: str) -> str:
    """The helper column carrying request parameter ``name`` through the statement."""
    return f"{_HELPER}parameter_{name}"


def _recompute(table: pa.Table, recomputes: Sequence[Recompute]) -> pa.Table:
    """``table`` with each recomputed on-demand feature, and without the helper columns.

    A feature is computed for the rows whose step found a row (online, a missing row gives no
    value either), from the same inputs and request values serving uses.
    """
    helpers: set[str] = set()
    for r in recomputes:
        feature = r.feature
        matched = pc.fill_null(table.column(r.matched), False).to_numpy()
        rows = np.flatnonzero(matched)
        inputs = {c: table.column(r.input(c)) for c in feature.inputs}
        request = {p: table.column(_parameter(p)) for p in feature.request_parameters}
        helpers |= {r.matched, *map(r.input, feature.inputs), *map(_parameter, request)}
        position = table.column_names.index(r.output)
        field = table.schema.field(position)
        values = pa.array([], field.type)
        if len(rows):
            frame = pa.table(inputs | request).take(rows).to_pandas()
            # Vectorized, so it must give what the one-row online path gives: checked here.
            check_on_demand_parity(feature, frame.head(_PARITY_ROWS))
            values = pa.Array.from_pandas(feature.compute(frame), type=field.type)
        index = np.full(table.num_rows, -1, dtype=np.int64)
        index[rows] = np.arange(len(rows))
        table = table.set_column(position, field, values.take(pa.array(index, mask=index < 0)))
    return table.drop_columns(sorted(helpers))


def needed_columns(query: Query, recomputes: Sequence[Recompute] = ()) -> list[list[str]]:
    """For each step, the columns the statement reads: selected, keys and event time, and the
    inputs of on-demand features recomputed from a spine."""
    steps = query.steps
    needed = [
        set(step.columns) | set(step.right_on) | set(step.group.upsert_keys) for step in steps
    ]
    for i, step in enumerate(steps[1:], start=1):
        for left in step.left_on:
            source, column = left_key_source(steps, i, left)
            needed[source].add(column)
    for r in recomputes:
        needed[r.step].update(r.feature.inputs)
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


def _group_read(
    step: Step,
    version: int | None,
    columns: list[str],
    lower: dt.datetime | None = None,
    upper: dt.datetime | None = None,
) -> GroupRead:
    """The files of a group at a pinned version whose rows can lie in [lower, upper]."""
    event = step.group.event_time
    timed = event is not None and _type(step, event) == "timestamp"
    offline, table = step.group._offline, step.group._offline_table
    files = [] if version is None else offline.files(table, version, event if timed else None)
    # Files whose time range lies outside [lower, upper] are not read at all.
    kept = [f for f in files if _may_overlap(f, lower, upper)]
    empty = arrow_schema(step.group.features or []).empty_table().select(columns)
    name = f"{step.group.name} v{step.group.version} at commit {version}"
    return GroupRead(name, table, columns, kept, empty, event if timed else None, lower, upper)


def register_read(
    con: duckdb.DuckDBPyConnection, name: str, read: GroupRead, offline: OfflineStore
) -> None:
    """Make the rows of ``read`` the relation ``name`` of ``con``.

    DuckDB reads the Parquet files of the pinned Delta version itself: a registered pyarrow
    Dataset was re-scanned on the probe side of each ASOF join (ADR 0005), and copying the
    rows into an Arrow table first doubled the memory. Rows outside [lower, upper] of the
    event time cannot match and are filtered in the scan. Files on object storage are read
    from local copies, made once (ADR 0007).
    """
    if not read.files:
        con.register(name, read.empty)
        return
    event, lower, upper = read.event, read.lower, read.upper
    local = offline.local_paths(read.table, read.files)
    pairs = list(zip(read.files, local, strict=True))
    # Rows are filtered only in files that straddle a bound (filtering every row cost ~10 %).
    inside = [p for f, p in pairs if event is None or _inside(f, lower, upper)]
    straddling = [p for f, p in pairs if event is not None and not _inside(f, lower, upper)]
    selected = [_q(c) for c in read.columns]
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
            f"files of {read.name} are gone (a vacuum removes the files of old commits): {exc}"
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
