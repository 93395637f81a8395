"""The online serving plan of a feature view: ordered look-ups, chained keys, transformations.

Compiled once per view (and training dataset version): for each group of the query, which
key values come from the caller's entry and which from an earlier group's row (flights row ->
its origin -> weather row), one batched read per group, then the ttl rule and the same
transformations as training. Online, "as of" means now (``fti.clock``): a joined row older
than its ttl is missing, as in ``get_batch_data(spine=keys at now)``.

A group that gives only labels is not read: labels are not known when serving. Each entry
is checked (a mapping of the keys the plan reads, plus request parameters of on-demand
features), and each lookup says which features of each entry had no row or an expired one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fti import clock
from fti.errors import FtiError, InvalidArgumentError, KeyNotFoundError, QueryError, SchemaError
from fti.feature_store.filters import evaluate
from fti.feature_store.on_demand import OnDemandFeature
from fti.feature_store.online_codec import (
    INT_RANGES,
    key_encoder,
    rows_to_table,
    stored_micros,
    timestamp_micros,
    value_decoder,
)
from fti.feature_store.query import left_key_source
from fti.types import ARROW_TYPES, Feature

if TYPE_CHECKING:
    from fti.feature_store.feature_view import FeatureView
    from fti.feature_store.query import Step
    from fti.stores.online import OnlineStore

RETURN_TYPES = ("list", "dict", "pandas", "numpy")


@dataclass(frozen=True)
class _Lookup:
    """How one group of the view is read online."""

    index: int
    table: str
    store: OnlineStore
    encode: Callable[[Sequence[Any]], str]
    decode: Callable[[str], list[Any]]
    names: tuple[str, ...]
    # (group the value comes from, None for the entry; its position in that group's row; the
    # key's name in the entry)
    key_sources: tuple[tuple[int | None, int, str], ...]
    event_index: int | None
    event_type: str
    ttl_micros: int | None
    inner: bool
    outputs: tuple[tuple[str, int], ...]
    on_demand: tuple[tuple[int, OnDemandFeature], ...]

    @property
    def features(self) -> tuple[str, ...]:
        """The view's features this group's row gives."""
        return tuple(name for name, _ in self.outputs)


@dataclass(slots=True)
class OnlineValues:
    """The untransformed feature values of a batch of entries, and what each entry lacked."""

    values: list[dict[str, Any]]
    """One mapping per entry that did not fail, in the entries' order, in feature order."""
    missing: list[tuple[str, ...]]
    """Per entry: features null because their group has no online row for it (or its key
    is null, as when the row giving it is missing)."""
    expired: list[tuple[str, ...]]
    """Per entry: features null because their row is older than the join's ttl at now."""
    failed: dict[int, FtiError] = field(default_factory=dict)
    """The entries that failed, by position (only when failures are collected per entry)."""


_NOTHING: tuple[str, ...] = ()


class ServingPlan:
    """Reads feature vectors of one view from the online store."""

    def __init__(self, view: FeatureView, state: Mapping[str, Any]) -> None:
        self.view = view
        self.state = dict(state)
        steps = view.query.steps
        self.feature_names = view.feature_names
        self._types = {c.name: c.type for c in view.query.outputs}
        positions = _positions(steps)
        outputs_by_step, key_sources, used = _step_plan(view, positions)
        _check_online(view, steps, used, outputs_by_step)
        # The values each group's row must give as Python dates and times: its outputs, the
        # keys of later groups and the inputs of its on-demand features.
        needed: list[set[int]] = [set() for _ in steps]
        for i in used:
            for source, position, _ in key_sources[i]:
                if source is not None:
                    needed[source].add(position)
        self._lookups: list[_Lookup] = []
        for i in used:
            step = steps[i]
            group = step.group
            features = group.features or []
            names = tuple(f.name for f in features)
            outputs = tuple(
                (name, positions[i][source]) for name, source in outputs_by_step.get(i, [])
            )
            needed[i].update(p for _, p in outputs)
            # Only the on-demand features the view reads (or a later key) are recomputed.
            on_demand = tuple(
                (positions[i][o.name], o)
                for o in group.on_demand_features
                if positions[i][o.name] in needed[i]
            )
            needed[i].update(positions[i][c] for _, o in on_demand for c in o.inputs)
            event = group.event_time
            self._lookups.append(
                _Lookup(
                    index=i,
                    table=group._online_table,
                    store=group._online,
                    encode=key_encoder(group.key_features),
                    decode=value_decoder(features, needed[i]),
                    names=names,
                    key_sources=tuple(key_sources[i]),
                    event_index=names.index(event) if event else None,
                    event_type=features[names.index(event)].type if event else "",
                    ttl_micros=None
                    if step.ttl is None or i == 0
                    else int(step.ttl.total_seconds() * 1_000_000),
                    inner=step.join_type == "inner",
                    outputs=outputs,
                    on_demand=on_demand,
                )
            )
        self._where = view.query.where
        self._transforms = view.transformations
        self._steps = len(steps)
        self.entry_keys = tuple(k for _, _, k in self._lookups[0].key_sources)
        """The keys every entry gives: the root's primary key."""
        self.optional_keys = tuple(
            dict.fromkeys(
                k
                for lookup in self._lookups[1:]
                for _, _, k in lookup.key_sources
                if k not in self.entry_keys
            )
        )
        """Keys of joined groups an entry may give instead of the row that gives them."""
        self.request_names = tuple(
            dict.fromkeys(
                p
                for lookup in self._lookups
                for _, o in lookup.on_demand
                for p in o.request_parameters
            )
        )
        """The request parameters of the on-demand features the view reads."""
        self._allowed = frozenset(self.entry_keys + self.optional_keys + self.request_names)
        self._arrow_types = {name: ARROW_TYPES[self._types[name]] for name in self.feature_names}

    def vectors(
        self,
        entries: list[Mapping[str, Any]],
        passed_features: Sequence[Mapping[str, Any]] | None,
        request_parameters: Sequence[Mapping[str, Any]] | None,
        return_type: str,
        allow_missing: bool,
        *,
        single: bool = False,
    ) -> Any:
        """Feature vectors of ``entries`` in the view's feature order."""
        if return_type not in RETURN_TYPES:
            raise InvalidArgumentError(
                f"return_type must be one of {', '.join(RETURN_TYPES)}, not {return_type!r}"
            )
        values = self._values(entries, passed_features, request_parameters, allow_missing)[0]
        return self.finish(values, return_type, single=single)

    def lookup(
        self,
        entries: list[Mapping[str, Any]],
        passed_features: Sequence[Mapping[str, Any]] | None,
        request_parameters: Sequence[Mapping[str, Any]] | None,
        allow_missing: bool,
        *,
        per_entry: bool = False,
    ) -> OnlineValues:
        """The untransformed feature values of each entry (online reads, ttl, on-demand).

        An entry gives the root's key (and may give a joined group's key, or the request
        parameters of on-demand features). With ``per_entry``, an entry that fails (a bad
        key, no online row) is reported in ``failed`` and the others are still served;
        otherwise the first failure is raised.
        """
        result, gaps, excluded, failed = self._values(
            entries, passed_features, request_parameters, allow_missing, per_entry
        )
        count = len(entries)
        missing = [_NOTHING] * count
        expired = [_NOTHING] * count
        for n in gaps.keys() | {n for n in range(count) if excluded[n]}:
            if n in failed:
                continue
            late = [f for lookup, old in gaps.get(n, ()) if old for f in lookup.features]
            if excluded[n]:
                absent = [f for f in self.feature_names if f not in late]
            else:
                absent = [f for lookup, old in gaps[n] if not old for f in lookup.features]
            if passed_features is not None:
                absent = [f for f in absent if f not in passed_features[n]]
                late = [f for f in late if f not in passed_features[n]]
            missing[n], expired[n] = tuple(absent), tuple(late)
        return OnlineValues(result, missing, expired, failed)

    def _values(
        self,
        entries: list[Mapping[str, Any]],
        passed_features: Sequence[Mapping[str, Any]] | None,
        request_parameters: Sequence[Mapping[str, Any]] | None,
        allow_missing: bool,
        per_entry: bool = False,
    ) -> tuple[
        list[dict[str, Any]], dict[int, list[tuple[_Lookup, bool]]], list[bool], dict[int, FtiError]
    ]:
        """The values of the entries that did not fail, the lookups that found no row (or an
        expired one) for each entry, the entries excluded (no root row, an inner join or the
        filter), and the entries that failed."""
        count = len(entries)
        if passed_features is not None and len(passed_features) != count:
            raise InvalidArgumentError("passed_features needs one mapping per entry")
        if request_parameters is not None and len(request_parameters) != count:
            raise InvalidArgumentError("request_parameters needs one mapping per entry")
        failed: dict[int, FtiError] = {}
        # The common case (plain dict entries of known keys, no request parameters) is
        # checked inline: this path is most of a single vector's cost.
        checked = request_parameters is None and not self.request_names
        if checked:
            allowed = self._allowed
            for entry in entries:
                if type(entry) is not dict or not allowed.issuperset(entry):
                    checked = False
                    break
        params = None
        if not checked:
            params = self._check_entries(entries, request_parameters, failed, per_entry)
        now = _now_micros()
        fetched: list[list[list[Any] | None]] = [[]] * self._steps
        excluded = [False] * count
        # entry -> the lookups that found no row for it, and whether the row had expired
        gaps: dict[int, list[tuple[_Lookup, bool]]] = {}
        for lookup in self._lookups:
            encode = lookup.encode
            keys: list[str | None] = []
            for n, entry in enumerate(entries):
                key = None
                if not failed or n not in failed:
                    try:
                        values = []
                        for origin, position, name in lookup.key_sources:
                            if name in entry:
                                values.append(entry[name])
                            elif origin is None:
                                raise self._lacks(entry, name)
                            else:
                                row = fetched[origin][n]
                                values.append(None if row is None else row[position])
                        if not any(v is None for v in values):
                            key = encode(values)
                    except FtiError as exc:
                        if not per_entry:
                            raise
                        failed[n] = exc
                keys.append(key)
            wanted = sorted({k for k in keys if k is not None})
            stored = dict(zip(wanted, lookup.store.read(lookup.table, wanted), strict=True))
            rows: list[list[Any] | None] = []
            for n, key in enumerate(keys):
                row = None
                expired = False
                raw = None if key is None else stored.get(key)
                if raw is not None:
                    row = lookup.decode(raw)
                    if lookup.ttl_micros is not None and lookup.event_index is not None:
                        event = row[lookup.event_index]
                        if isinstance(event, int):  # not decoded: its stored form
                            event = stored_micros(event, lookup.event_type)
                        else:
                            event = _micros(event)
                        if event < now - lookup.ttl_micros:
                            row = None
                            expired = True
                if row is None:
                    if not failed or n not in failed:
                        gaps.setdefault(n, []).append((lookup, expired))
                        if lookup.index == 0 or lookup.inner:
                            excluded[n] = True
                elif lookup.on_demand:
                    try:
                        self._compute_on_demand(lookup, row, {} if params is None else params[n])
                    except FtiError as exc:
                        if not per_entry:
                            raise
                        failed[n] = exc
                rows.append(row)
            fetched[lookup.index] = rows
        result = []
        for n, entry in enumerate(entries):
            if failed and n in failed:
                continue
            values_by_name: dict[str, Any] = {}
            for lookup in self._lookups:
                row = fetched[lookup.index][n]
                for name, position in lookup.outputs:
                    values_by_name[name] = None if row is None else row[position]
            if not excluded[n] and self._where is not None:
                excluded[n] = not evaluate(self._where, values_by_name)
            try:
                if excluded[n]:
                    if not allow_missing:
                        raise KeyNotFoundError(
                            f"no online row for {dict(entry)!r} in {self.view.query.root.name}"
                            " (or a required join or the view's filter excludes it); "
                            "pass allow_missing=True to get nulls"
                        )
                    values_by_name = dict.fromkeys(values_by_name)
                vector = {name: values_by_name[name] for name in self.feature_names}
                if passed_features is not None:
                    vector.update(self._passed(passed_features[n]))
            except FtiError as exc:
                if not per_entry:
                    raise
                failed[n] = exc
                continue
            result.append(vector)
        return result, gaps, excluded, failed

    def finish(
        self, values: list[dict[str, Any]], return_type: str, *, single: bool = False
    ) -> Any:
        """Apply the transformations to looked-up values and shape them as ``return_type``."""
        if return_type in ("pandas", "numpy"):
            frame = self.frame(values)
            if return_type == "pandas":
                return frame
            array = frame.to_numpy()
            return array[0] if single else array
        rows = [self._transforms.apply_row(row, self.state, self._types) for row in values]
        if return_type == "dict":
            return rows[0] if single else rows
        lists = [list(r.values()) for r in rows]
        return lists[0] if single else lists

    def _check_entries(
        self,
        entries: list[Mapping[str, Any]],
        request_parameters: Sequence[Mapping[str, Any]] | None,
        failed: dict[int, FtiError],
        per_entry: bool,
    ) -> list[dict[str, Any]] | None:
        """Check each entry's keys; the request parameters of each (None if none are read)."""
        allowed = self._allowed
        names = self.request_names
        params: list[dict[str, Any]] | None = [] if names else None
        for n, entry in enumerate(entries):
            values: dict[str, Any] = {}
            try:
                if type(entry) is not dict and not isinstance(entry, Mapping):
                    raise InvalidArgumentError(
                        f"an entry must be a mapping of key names to values "
                        f"({', '.join(self.entry_keys)}), not {entry!r}"
                    )
                if not allowed.issuperset(entry):
                    unknown = [str(k) for k in entry if k not in allowed]
                    raise InvalidArgumentError(
                        f"entry {dict(entry)!r} has unknown key(s) {', '.join(unknown)}; "
                        f"{self._expected()}"
                    )
                given = None if request_parameters is None else request_parameters[n]
                if given is not None:
                    if not isinstance(given, Mapping):
                        raise InvalidArgumentError(
                            f"request parameters must be a mapping, not {given!r}"
                        )
                    unknown = [str(k) for k in given if k not in names]
                    if unknown:
                        raise InvalidArgumentError(
                            f"unknown request parameter(s) {', '.join(unknown)}; the view's "
                            f"on-demand features read: {', '.join(names) or 'none'}"
                        )
                if params is not None:
                    values = {k: entry[k] for k in names if k in entry}
                    if given:
                        values.update(given)
            except FtiError as exc:
                if not per_entry:
                    raise
                failed[n] = exc
            if params is not None:
                params.append(values)
        return params

    def _expected(self) -> str:
        text = f"an entry gives {', '.join(self.entry_keys)}"
        if self.optional_keys:
            text += f"; it may give {', '.join(self.optional_keys)} (keys of joined groups)"
        if self.request_names:
            text += f"; request parameters: {', '.join(self.request_names)}"
        return text

    def _lacks(self, entry: Mapping[str, Any], name: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"entry {dict(entry)!r} lacks the key {name!r} of {self.view.query.root.name}; "
            f"{self._expected()}"
        )

    def _passed(self, passed: Mapping[str, Any]) -> dict[str, Any]:
        """Passed feature values, checked against the features' types."""
        if not isinstance(passed, Mapping):
            raise InvalidArgumentError(f"passed features must be a mapping, not {passed!r}")
        checked = {}
        for name, value in passed.items():
            arrow_type = self._arrow_types.get(name)
            if arrow_type is None:
                raise SchemaError(
                    f"passed feature {name!r} is not in the view; its features: "
                    f"{', '.join(self.feature_names)}"
                )
            checked[name] = _passed_value(name, self._types[name], arrow_type, value)
        return checked

    @staticmethod
    def _compute_on_demand(lookup: _Lookup, row: list[Any], params: Mapping[str, Any]) -> None:
        """Recompute the group's on-demand features from the row and the request."""
        for position, odf in lookup.on_demand:
            absent = [p for p in odf.request_parameters if p not in params]
            if absent:
                raise SchemaError(
                    f"on-demand feature {odf.name!r} needs request parameter(s) "
                    f"{', '.join(absent)}: give them in the entry or in request_parameters"
                )
            values = {c: row[lookup.names.index(c)] for c in odf.inputs} | dict(params)
            row[position] = odf.compute_row(values)

    def frame(self, values: list[dict[str, Any]]) -> pd.DataFrame:
        """Looked-up values as the transformed frame ``get_batch_data`` would give."""
        features = [Feature(name, self._types[name]) for name in self.feature_names]
        raw = rows_to_table([list(v.values()) for v in values], features).to_pandas()
        return self._transforms.apply(raw, self.state)


def online_steps(view: FeatureView) -> list[int]:
    """The steps of ``view``'s query that serving reads online, in order."""
    return _step_plan(view, _positions(view.query.steps))[2]


def _positions(steps: Sequence[Step]) -> list[dict[str, int]]:
    """For each step, the position of each column in its group's stored rows."""
    return [{f.name: n for n, f in enumerate(step.group.features or [])} for step in steps]


def _step_plan(
    view: FeatureView, positions: Sequence[Mapping[str, int]]
) -> tuple[dict[int, list[tuple[str, str]]], list[list[tuple[int | None, int, str]]], list[int]]:
    """Per step: the feature outputs (name, source column), where each primary-key value comes
    from (an earlier step and position, or the entry), and the steps read online."""
    steps = view.query.steps
    labels = set(view.labels)
    outputs_by_step: dict[int, list[tuple[str, str]]] = {}
    label_steps: set[int] = set()
    for c in view.query.outputs:
        if c.name in labels:
            label_steps.add(c.step)
        else:
            outputs_by_step.setdefault(c.step, []).append((c.name, c.source))
    key_sources: list[list[tuple[int | None, int, str]]] = []
    for i, step in enumerate(steps):
        if i == 0:
            key_sources.append([(None, -1, k) for k in step.group.primary_key])
            continue
        sources: list[tuple[int | None, int, str]] = []
        by_right = dict(zip(step.right_on, step.left_on, strict=True))
        for key in step.group.primary_key:
            left = by_right[key]
            origin, column = left_key_source(steps, i, left)
            sources.append((origin, positions[origin][column], left))
        key_sources.append(sources)
    used = _used_steps(steps, outputs_by_step, label_steps, key_sources)
    return outputs_by_step, key_sources, used


def _used_steps(
    steps: Sequence[Step],
    outputs_by_step: Mapping[int, list[tuple[str, str]]],
    label_steps: Collection[int],
    key_sources: Sequence[Sequence[tuple[int | None, int, str]]],
) -> list[int]:
    """The steps read online, in order: all but those giving only labels (unless a later
    step's key comes from them)."""
    used = {0}
    for i in range(len(steps) - 1, 0, -1):
        labels_only = i in label_steps and i not in outputs_by_step
        if i in used or not labels_only:
            used.add(i)
            used.update(origin for origin, _, _ in key_sources[i] if origin is not None)
    return sorted(used)


def _check_online(
    view: FeatureView,
    steps: Sequence[Step],
    used: Sequence[int],
    outputs_by_step: Mapping[int, list[tuple[str, str]]],
) -> None:
    """A group read online must be online-enabled: say which one is not, and why it is read."""
    for i in used:
        group = steps[i].group
        if group.online_enabled:
            continue
        gives = [name for name, _ in outputs_by_step.get(i, [])]
        if gives:
            why = f"it gives {', '.join(gives)}"
        else:
            why = "it is the root of the query" if i == 0 else "a later join reads its keys"
        raise QueryError(
            f"feature view {view.name!r} v{view.version} cannot be served online: feature group "
            f"{group.name!r} is not online-enabled, and {why}; create the group with "
            "online_enabled=True or leave its features out of the view"
        )


_TIME_TYPES = {"timestamp": (dt.datetime, np.datetime64), "date": (dt.date, np.datetime64)}


def _passed_value(name: str, type_name: str, arrow_type: pa.DataType, value: Any) -> Any:
    """A passed feature value as the feature's type holds it; SchemaError if it cannot be."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value) and type_name in INT_RANGES:
        return None  # NaN is how pandas holds a missing int (ADR 0004)
    if isinstance(value, str) and type_name in ("timestamp", "date"):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise SchemaError(
                f"passed feature {name!r} must be a {type_name}, got {value!r}"
            ) from exc
        return parsed.date() if type_name == "date" else parsed
    problem = ""
    if type_name in _TIME_TYPES and not isinstance(value, _TIME_TYPES[type_name]):
        problem = "give a date or time, or its ISO 8601 text"
    elif type_name in INT_RANGES:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            problem = "not an integer"
        elif isinstance(value, int | float):
            low, high = INT_RANGES[type_name]
            if not low <= value <= high:
                problem = "outside its range"
    if not problem:
        try:
            pa.array([value], arrow_type)
            return value
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            problem = str(exc)
    raise SchemaError(f"passed feature {name!r} must be a {type_name}, got {value!r}: {problem}")


def _now_micros() -> int:
    return timestamp_micros(clock.now())


def _micros(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return timestamp_micros(value)
    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days * 86_400_000_000
    return int(np.int64(value))
