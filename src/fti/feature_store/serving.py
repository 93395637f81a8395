"""The online serving plan of a feature view: ordered look-ups, chained keys, transformations.

Compiled once per view (and training dataset version): for each group of the query, which
key values come from the caller's entry and which from an earlier group's row (flights row ->
its origin -> weather row), one batched read per group, then the ttl rule and the same
transformations as training. Online, "as of" means now: a joined row older than its ttl is
missing, as in ``get_batch_data(spine=keys at now)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fti import clock
from fti.errors import InvalidArgumentError, KeyNotFoundError, SchemaError
from fti.feature_store.filters import evaluate
from fti.feature_store.on_demand import OnDemandFeature
from fti.feature_store.online_codec import (
    key_encoder,
    rows_to_table,
    stored_micros,
    timestamp_micros,
    value_decoder,
)
from fti.feature_store.query import left_key_source
from fti.types import Feature

if TYPE_CHECKING:
    from fti.feature_store.feature_view import FeatureView
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


class ServingPlan:
    """Reads feature vectors of one view from the online store."""

    def __init__(self, view: FeatureView, state: Mapping[str, Any]) -> None:
        self.view = view
        self.state = dict(state)
        steps = view.query.steps
        labels = set(view.labels)
        self.feature_names = view.feature_names
        outputs_by_step: dict[int, list[tuple[str, str]]] = {}
        for c in view.query.outputs:
            if c.name not in labels:
                outputs_by_step.setdefault(c.step, []).append((c.name, c.source))
        self._types = {c.name: c.type for c in view.query.outputs}
        positions = [{f.name: n for n, f in enumerate(step.group.features or [])} for step in steps]
        # The values each group's row must give as Python dates and times: its outputs, the
        # keys of later groups and the inputs of its on-demand features.
        needed: list[set[int]] = [set() for _ in steps]
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
                needed[origin].add(positions[origin][column])
            key_sources.append(sources)
        self._lookups: list[_Lookup] = []
        for i, step in enumerate(steps):
            group = step.group
            features = group.features or []
            names = tuple(f.name for f in features)
            outputs = tuple(
                (name, positions[i][source]) for name, source in outputs_by_step.get(i, [])
            )
            on_demand = tuple((positions[i][o.name], o) for o in group.on_demand_features)
            needed[i].update(p for _, p in outputs)
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
        values = self.lookup(entries, passed_features, request_parameters, allow_missing)
        return self.finish(values, return_type, single=single)

    def lookup(
        self,
        entries: list[Mapping[str, Any]],
        passed_features: Sequence[Mapping[str, Any]] | None,
        request_parameters: Sequence[Mapping[str, Any]] | None,
        allow_missing: bool,
    ) -> list[dict[str, Any]]:
        """The untransformed feature values of each entry (online reads, ttl, on-demand)."""
        if passed_features is not None and len(passed_features) != len(entries):
            raise InvalidArgumentError("passed_features needs one mapping per entry")
        if request_parameters is not None and len(request_parameters) != len(entries):
            raise InvalidArgumentError("request_parameters needs one mapping per entry")
        values = self._lookup(entries, allow_missing, request_parameters)
        if passed_features is not None:
            for row, passed in zip(values, passed_features, strict=True):
                unknown = [k for k in passed if k not in row]
                if unknown:
                    raise SchemaError(f"passed feature(s) {', '.join(unknown)} are not in the view")
                row.update(passed)
        return values

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

    def _lookup(
        self,
        entries: list[Mapping[str, Any]],
        allow_missing: bool,
        request_parameters: Sequence[Mapping[str, Any]] | None,
    ) -> list[dict[str, Any]]:
        now = _now_micros()
        fetched: list[list[list[Any] | None]] = []
        missing: list[bool] = [False] * len(entries)
        for lookup in self._lookups:
            keys: list[str | None] = []
            for n, entry in enumerate(entries):
                values = []
                for origin, position, name in lookup.key_sources:
                    if name in entry:
                        values.append(entry[name])
                        continue
                    if origin is None:
                        raise KeyNotFoundError(
                            f"entry {dict(entry)!r} lacks the key {name!r} of "
                            f"{self.view.query.steps[lookup.index].group.name}"
                        )
                    row = fetched[origin][n]
                    values.append(None if row is None else row[position])
                keys.append(None if any(v is None for v in values) else lookup.encode(values))
            wanted = sorted({k for k in keys if k is not None})
            stored = dict(zip(wanted, lookup.store.read(lookup.table, wanted), strict=True))
            rows: list[list[Any] | None] = []
            for n, key in enumerate(keys):
                raw = None if key is None else stored.get(key)
                row = None if raw is None else lookup.decode(raw)
                if (
                    row is not None
                    and lookup.ttl_micros is not None
                    and lookup.event_index is not None
                ):
                    event = row[lookup.event_index]
                    if isinstance(event, int):  # not decoded: its stored form
                        event = stored_micros(event, lookup.event_type)
                    else:
                        event = _micros(event)
                    if event < now - lookup.ttl_micros:
                        row = None
                if row is None and (lookup.index == 0 or lookup.inner):
                    missing[n] = True
                if row is not None and lookup.on_demand:
                    params = {} if request_parameters is None else request_parameters[n]
                    self._compute_on_demand(lookup, row, params)
                rows.append(row)
            fetched.append(rows)
        result = []
        for n, entry in enumerate(entries):
            values_by_name: dict[str, Any] = {}
            for lookup in self._lookups:
                row = fetched[lookup.index][n]
                for name, position in lookup.outputs:
                    values_by_name[name] = None if row is None else row[position]
            if not missing[n] and self._where is not None:
                missing[n] = not evaluate(self._where, values_by_name)
            if missing[n] and not allow_missing:
                raise KeyNotFoundError(
                    f"no online row for {dict(entry)!r} in {self.view.query.root.name}"
                    " (or a required join or the view's filter excludes it); "
                    "pass allow_missing=True to get nulls"
                )
            if missing[n]:
                values_by_name = dict.fromkeys(values_by_name)
            result.append({name: values_by_name[name] for name in self.feature_names})
        return result

    @staticmethod
    def _compute_on_demand(lookup: _Lookup, row: list[Any], params: Mapping[str, Any]) -> None:
        """Recompute the group's on-demand features from the row and the request."""
        for position, odf in lookup.on_demand:
            absent = [p for p in odf.request_parameters if p not in params]
            if absent:
                raise SchemaError(
                    f"on-demand feature {odf.name!r} needs request parameter(s) "
                    f"{', '.join(absent)}: pass request_parameters={{...}}"
                )
            values = {c: row[lookup.names.index(c)] for c in odf.inputs} | dict(params)
            row[position] = odf.compute_row(values)

    def frame(self, values: list[dict[str, Any]]) -> pd.DataFrame:
        """Looked-up values as the transformed frame ``get_batch_data`` would give."""
        features = [Feature(name, self._types[name]) for name in self.feature_names]
        raw = rows_to_table([list(v.values()) for v in values], features).to_pandas()
        return self._transforms.apply(raw, self.state)


def _now_micros() -> int:
    return timestamp_micros(clock.now())


def _micros(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return timestamp_micros(value)
    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days * 86_400_000_000
    return int(np.int64(value))
