"""Point-in-time correctness against a brute-force as-of join written with plain loops."""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fti
from fti.feature_store import point_in_time

T0 = dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def brute_force(
    left: Sequence[dict[str, Any]],
    time_of: str,
    joins: Sequence[tuple[list[dict[str, Any]], str, str | None, int | None, str]],
) -> list[dict[str, Any]]:
    """For each left row, each join's right row with the greatest event time <= left time."""
    out = []
    for row in left:
        result = dict(row)
        for rows, key, event, ttl, column in joins:
            best = None
            for candidate in rows:
                if candidate[key] != row[key]:
                    continue
                if event is None:
                    best = candidate
                    continue
                if candidate[event] > row[time_of]:
                    continue
                if best is None or candidate[event] > best[event]:
                    best = candidate
            too_old = best is not None and ttl is not None and event is not None
            if too_old and best[event] < row[time_of] - dt.timedelta(minutes=ttl):
                best = None
            result[column] = None if best is None else best[column]
        out.append(result)
    return out


batch = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 12), st.floats(-100, 100, allow_nan=False)),
    min_size=0,
    max_size=12,
)


def frame(rows: list[tuple[int, int, float]], value: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"k": [r[0] for r in rows], "t": [at(r[1]) for r in rows], value: [r[2] for r in rows]}
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    roots=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 14), st.integers(0, 3)), max_size=15
    ),
    a_batches=st.lists(batch, min_size=1, max_size=3),
    b_rows=batch,
    static=st.dictionaries(st.integers(0, 3), st.integers(-5, 5), max_size=3),
    ttl=st.one_of(st.none(), st.integers(1, 6)),
    spine=st.lists(st.tuples(st.integers(0, 6), st.integers(-2, 16)), max_size=10),
    window=st.tuples(st.integers(-1, 15), st.integers(0, 16)),
)
def test_query_matches_brute_force(
    roots: list[tuple[int, int, int]],
    a_batches: list[list[tuple[int, int, float]]],
    b_rows: list[tuple[int, int, float]],
    static: dict[int, int],
    ttl: int | None,
    spine: list[tuple[int, int]],
    window: tuple[int, int],
) -> None:
    with tempfile.TemporaryDirectory() as home, fti.connect(home, "pit") as project:
        fs = project.feature_store
        options = {"online_enabled": False, "statistics": False}
        root = fs.create_feature_group(
            "root",
            primary_key=["id"],
            event_time="ts",
            features=[
                fti.Feature("id", "int64"),
                fti.Feature("ts", "timestamp"),
                fti.Feature("k", "int64"),
            ],
            **options,
        )
        a = fs.create_feature_group(
            "a",
            primary_key=["k"],
            event_time="t",
            features=[
                fti.Feature("k", "int64"),
                fti.Feature("t", "timestamp"),
                fti.Feature("va", "float64"),
            ],
            **options,
        )
        b = fs.create_feature_group(
            "b",
            primary_key=["k"],
            event_time="t",
            features=[
                fti.Feature("k", "int64"),
                fti.Feature("t", "timestamp"),
                fti.Feature("vb", "float64"),
            ],
            **options,
        )
        c = fs.create_feature_group(
            "c",
            primary_key=["k"],
            features=[fti.Feature("k", "int64"), fti.Feature("vc", "int64")],
            **options,
        )
        root.insert(
            pd.DataFrame(
                {
                    "id": [r[0] for r in roots],
                    "ts": [at(r[1]) for r in roots],
                    "k": [r[2] for r in roots],
                }
            )
        )
        for rows in a_batches:  # later batches upsert earlier ones
            a.insert(frame(rows, "va"))
        b.insert(frame(b_rows, "vb"))
        c.insert(pd.DataFrame({"k": list(static), "vc": list(static.values())}))

        query = (
            root.select_all()
            .join(a.select(["va"]), on=["k"])
            .join(
                b.select(["vb"]), on=["k"], ttl=None if ttl is None else dt.timedelta(minutes=ttl)
            )
            .join(c.select(["vc"]))
        )
        stored = {g.name: g.read().to_dict("records") for g in (root, a, b, c)}
        joins = [
            (stored["a"], "k", "t", None, "va"),
            (stored["b"], "k", "t", ttl, "vb"),
            (stored["c"], "k", None, None, "vc"),
        ]
        expected = brute_force(stored["root"], "ts", joins)
        got = query.read().to_dict("records")
        assert _normalize(got) == _normalize(expected, order=("id", "ts"))

        # A spine: every group, the root included, joined as of the spine's time, in order.
        spine_frame = pd.DataFrame({"id": [s[0] for s in spine], "ts": [at(s[1]) for s in spine]})
        plan = point_in_time.plan(query, point_in_time.latest_versions(query))
        result = plan.run(spine=point_in_time.prepare_spine(query, spine_frame)).to_pylist()
        root_joined = brute_force(
            [{"id": s[0], "ts": at(s[1]), "k": None} for s in spine],
            "ts",
            [([r | {"rt": r["ts"]} for r in stored["root"]], "id", "rt", None, "k")],
        )
        expected_spine = brute_force(root_joined, "ts", joins)
        assert _normalize(result, order=None) == _normalize(expected_spine, order=None)


def _normalize(
    rows: list[dict[str, Any]], order: tuple[str, ...] | None = None
) -> list[tuple[Any, ...]]:
    def clean(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
            return None
        if isinstance(v, pd.Timestamp):
            return v.to_pydatetime()
        return v

    keys = ["id", "ts", "k", "va", "vb", "vc"]
    normalized = [tuple(clean(r.get(k)) for k in keys) for r in rows]
    if order is not None:
        normalized.sort(key=lambda r: (r[0], r[1]))
    return normalized


@pytest.fixture
def groups(fs: fti.FeatureStore) -> dict[str, fti.FeatureGroup]:
    root = fs.create_feature_group("flights", primary_key=["fid"], event_time="p")
    root.insert(
        pd.DataFrame(
            {
                "fid": [1, 2, 3],
                "p": [at(10), at(10), at(20)],
                "origin": ["EWR", "JFK", "EWR"],
                "late": [True, False, True],
            }
        )
    )
    weather = fs.create_feature_group("weather", primary_key=["origin"], event_time="t")
    weather.insert(
        pd.DataFrame(
            {"origin": ["EWR", "EWR", "JFK"], "t": [at(0), at(10), at(11)], "temp": [1.0, 2.0, 3.0]}
        )
    )
    return {"flights": root, "weather": weather}


def test_equal_timestamps_are_included(groups: dict[str, fti.FeatureGroup]) -> None:
    q = groups["flights"].select(["fid", "origin"]).join(groups["weather"].select(["temp"]))
    out = q.read().set_index("fid")["temp"]
    assert out[1] == 2.0  # weather at exactly p counts
    assert math.isnan(out[2])  # JFK weather only after p
    assert out[3] == 2.0


def test_ttl_marks_old_rows_missing(groups: dict[str, fti.FeatureGroup]) -> None:
    q = (
        groups["flights"]
        .select(["fid"])
        .join(groups["weather"].select(["temp"]), on=["origin"], ttl="5min")
    )
    out = q.read().set_index("fid")["temp"]
    assert out[1] == 2.0 and math.isnan(out[3])


def test_inner_join_drops_unmatched_roots(groups: dict[str, fti.FeatureGroup]) -> None:
    q = (
        groups["flights"]
        .select(["fid"])
        .join(groups["weather"].select(["temp"]), join_type="inner")
    )
    assert sorted(q.read()["fid"]) == [1, 3]


def test_filters(groups: dict[str, fti.FeatureGroup]) -> None:
    q = groups["flights"].select(["fid", "origin"]).join(groups["weather"].select(["temp"]))
    assert sorted(q.filter(fti.col("temp") > 1.5).read()["fid"]) == [1, 3]
    assert sorted(
        q.filter(fti.col("origin").isin(["JFK"]) | (fti.col("fid") == 3)).read()["fid"]
    ) == [2, 3]
    assert sorted(q.filter((fti.col("fid") >= 2) & (fti.col("origin") != "EWR")).read()["fid"]) == [
        2
    ]
    assert "WHERE" in q.filter(fti.col("fid") <= 1).to_sql()


def test_join_must_cover_the_primary_key(fs: fti.FeatureStore) -> None:
    root = fs.create_feature_group(
        "r",
        primary_key=["id"],
        features=[fti.Feature("id", "int64"), fti.Feature("carrier", "string")],
    )
    right = fs.create_feature_group(
        "delays",
        primary_key=["carrier", "origin"],
        features=[
            fti.Feature("carrier", "string"),
            fti.Feature("origin", "string"),
            fti.Feature("x", "float64"),
        ],
    )
    with pytest.raises(fti.QueryError, match="'origin'"):
        root.select_all().join(right.select(["x"]), on=["carrier"])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda f, w: f.select_all().join(w.select(["temp"])).join(w.select(["temp"])), "clashes"),
        (lambda f, w: f.select(["nope"]), "no column"),
        (lambda f, w: f.select_all().join(w.select(["temp"]), join_type="outer"), "join_type"),
        (lambda f, w: f.select_all().join(w.select(["temp"]), ttl="soon"), "ttl"),
        (lambda f, w: f.select_all().filter(fti.col("zzz") > 1), "unknown column"),
        (
            lambda f, w: f.select_all().join(
                w.select(["temp"]), left_on=["late"], right_on=["origin"]
            ),
            "types",
        ),
    ],
    ids=["clash", "unknown_column", "join_type", "bad_ttl", "filter_column", "key_types"],
)
def test_bad_queries_are_refused(
    groups: dict[str, fti.FeatureGroup], make: Any, match: str
) -> None:
    with pytest.raises(fti.QueryError, match=match):
        make(groups["flights"], groups["weather"])


def test_prefix_resolves_clashes(groups: dict[str, fti.FeatureGroup]) -> None:
    q = groups["flights"].select_all().join(groups["weather"].select_all(), prefix="w_")
    assert [c.name for c in q.outputs] == [
        "fid",
        "p",
        "origin",
        "late",
        "w_origin",
        "w_t",
        "w_temp",
    ]
    assert len(q.read()) == 3


def test_chained_keys_come_from_an_earlier_group(fs: fti.FeatureStore) -> None:
    orders = fs.create_feature_group("orders", primary_key=["oid"], event_time="t")
    orders.insert(pd.DataFrame({"oid": [1], "t": [at(5)], "customer": ["c1"]}))
    customers = fs.create_feature_group("customers", primary_key=["customer"])
    customers.insert(pd.DataFrame({"customer": ["c1"], "city": ["paris"]}))
    cities = fs.create_feature_group("cities", primary_key=["city"], event_time="t")
    cities.insert(
        pd.DataFrame({"city": ["paris", "paris"], "t": [at(1), at(9)], "rain": [0.5, 9.0]})
    )
    q = orders.select_all().join(customers.select(["city"])).join(cities.select(["rain"]))
    assert q.read()["rain"].tolist() == [0.5]


def test_select_except_keeps_the_other_columns_in_order(
    groups: dict[str, fti.FeatureGroup],
) -> None:
    q = groups["flights"].select_except(["late"])
    assert [c.name for c in q.outputs] == ["fid", "p", "origin"]
    with pytest.raises(fti.QueryError, match="nope"):
        groups["flights"].select_except(["nope"])


def test_files_are_skipped_by_their_logged_time_range_despite_its_millisecond_precision(
    fs: fti.FeatureStore,
) -> None:
    # The Delta log keeps file statistics in milliseconds, cut down: the first file's maximum is
    # logged as T0 + 1 ms although a row lies at T0 + 1.999 ms. With a ttl of 1 ms, a spine at
    # T0 + 2.5 ms can only match rows from T0 + 1.5 ms on, so that file must still be read.
    micros = dt.timedelta(microseconds=1)
    root = fs.create_feature_group("trips", primary_key=["id"], event_time="ts")
    root.insert(pd.DataFrame({"id": [1], "ts": [T0], "k": [7]}))
    sensor = fs.create_feature_group("sensor", primary_key=["k"], event_time="t")
    sensor.insert(pd.DataFrame({"k": [7, 7], "t": [T0, T0 + 1999 * micros], "v": [1.0, 2.0]}))
    sensor.insert(pd.DataFrame({"k": [7], "t": [T0 + dt.timedelta(hours=1)], "v": [3.0]}))
    query = root.select(["k"]).join(sensor.select(["v"]), on=["k"], ttl=1000 * micros)
    spine = pd.DataFrame({"id": [1], "ts": [T0 + 2500 * micros]})
    view = fs.create_feature_view("readings", query=query)
    assert view.get_batch_data(spine=spine)["v"].tolist() == [2.0]


def test_runs_in_threads_at_once_read_their_own_groups(fs: fti.FeatureStore) -> None:
    # Each run registers its pinned groups under the same names (g0, g1) in one process-wide
    # DuckDB database; they must stay apart.
    views = []
    for n in range(4):
        group = fs.create_feature_group(f"g{n}", primary_key=["id"], event_time="ts")
        group.insert(pd.DataFrame({"id": range(200), "ts": [T0] * 200, "v": [float(n)] * 200}))
        views.append(fs.create_feature_view(f"v{n}", query=group.select(["v"])))
    spine = pd.DataFrame({"id": range(200), "ts": [at(1)] * 200})

    def values(n: int) -> set[float]:
        return set(views[n].get_batch_data(spine=spine)["v"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(5):
            assert list(pool.map(values, range(4))) == [{0.0}, {1.0}, {2.0}, {3.0}]


@fti.on_demand(type="float64", inputs=["k"], request_parameters=["bump"])
def k_plus(df: pd.DataFrame) -> pd.Series:
    return df["k"].fillna(0) + df["bump"]


@fti.on_demand(type="float64", inputs=["va"], request_parameters=["factor"])
def va_times(df: pd.DataFrame) -> pd.Series:
    return df["va"].fillna(0.0) * df["factor"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    roots=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 14), st.integers(0, 3)), max_size=10
    ),
    a_rows=batch,
    b_rows=batch,
    ttl=st.one_of(st.none(), st.integers(1, 6)),
    spine=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.integers(-2, 16),
            st.integers(-3, 3),
            st.floats(-2, 2, allow_nan=False),
            st.one_of(st.none(), st.floats(-9, 9, allow_nan=False)),
            st.booleans(),
        ),
        max_size=10,
    ),
    override=st.booleans(),
)
def test_spine_request_parameters_and_labels_match_brute_force(
    roots: list[tuple[int, int, int]],
    a_rows: list[tuple[int, int, float]],
    b_rows: list[tuple[int, int, float]],
    ttl: int | None,
    spine: list[tuple[int, int, int, float, float | None, bool]],
    override: bool,
) -> None:
    """On-demand features recomputed from the spine's request parameters on the row each join
    found (none: null), labels of a joined group replaced by the spine's, a spine-only label."""
    with tempfile.TemporaryDirectory() as home, fti.connect(home, "pit") as project:
        fs = project.feature_store
        options = {"online_enabled": False, "statistics": False}
        keyed = fti.Feature("k", "int64")
        root = fs.create_feature_group(
            "root",
            primary_key=["id"],
            event_time="ts",
            features=[fti.Feature("id", "int64"), fti.Feature("ts", "timestamp"), keyed],
            on_demand_features=[k_plus],
            **options,
        )
        a = fs.create_feature_group(
            "a",
            primary_key=["k"],
            event_time="t",
            features=[keyed, fti.Feature("t", "timestamp"), fti.Feature("va", "float64")],
            on_demand_features=[va_times],
            **options,
        )
        b = fs.create_feature_group(
            "b",
            primary_key=["k"],
            event_time="t",
            features=[keyed, fti.Feature("t", "timestamp"), fti.Feature("vb", "float64")],
            **options,
        )
        root.insert(
            pd.DataFrame(
                {
                    "id": pd.Series([r[0] for r in roots], dtype="int64"),
                    "ts": pd.Series([at(r[1]) for r in roots], dtype="datetime64[us, UTC]"),
                    "k": pd.Series([r[2] for r in roots], dtype="int64"),
                }
            )
        )
        a.insert(frame(a_rows, "va"))  # without "factor": va_times is stored as null
        b.insert(frame(b_rows, "vb"))
        minutes = None if ttl is None else dt.timedelta(minutes=ttl)
        query = (
            root.select(["k", "k_plus"])
            .join(a.select(["va", "va_times"]), on=["k"], ttl=minutes)
            .join(b.select(["vb"]), on=["k"])
        )
        columns: dict[str, list[Any]] = {
            "id": [s[0] for s in spine],
            "ts": [at(s[1]) for s in spine],
            "bump": [s[2] for s in spine],
            "factor": [s[3] for s in spine],
            "outcome": [s[5] for s in spine],
        }
        if override:
            columns["vb"] = [s[4] for s in spine]
        types = {"bump": pa.int64(), "factor": pa.float64(), "outcome": pa.bool_()}
        schema = pa.schema(
            [("id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC"))]
            + list(types.items())
            + ([("vb", pa.float64())] if override else [])
        )
        spine_table = pa.table(columns, schema=schema)
        prepared = point_in_time.prepare_spine(query, spine_table, ["vb", "outcome"])
        plan = point_in_time.plan(query, point_in_time.latest_versions(query))
        result = plan.run(spine=prepared)

        stored = {g.name: g.read().to_dict("records") for g in (root, a, b)}
        root_joined = brute_force(
            [{"id": s[0], "ts": at(s[1]), "k": None} for s in spine],
            "ts",
            [([r | {"rt": r["ts"]} for r in stored["root"]], "id", "rt", None, "k")],
        )
        joins = [(stored["a"], "k", "t", ttl, "va"), (stored["b"], "k", "t", None, "vb")]
        joined = brute_force(root_joined, "ts", joins)
        expected = []
        for row, (_, _, bump, factor, label, outcome) in zip(joined, spine, strict=True):
            expected.append(
                {
                    "k": row["k"],
                    "k_plus": None if row["k"] is None else row["k"] + bump,
                    "va": row["va"],
                    "va_times": None if row["va"] is None else row["va"] * factor,
                    "vb": label if override else row["vb"],
                    "outcome": outcome,
                }
            )
        assert result.column_names == ["k", "k_plus", "va", "va_times", "vb", "outcome"]
        got = result.to_pylist()
        assert len(got) == len(expected)
        for have, want in zip(got, expected, strict=True):
            assert have.keys() == want.keys()
            for name, value in want.items():
                if isinstance(value, float):
                    assert have[name] == pytest.approx(value, rel=1e-12)
                else:
                    assert have[name] == value
