"""Benchmark of the "Monitoring" issue (§4): feature drift of a 1M-row window against a 1M-row
reference, 20 numeric + 5 string features, some of them shifted.

Contenders, all on the same data:

fti
    ``fti.monitoring.drift.compute_drift`` of all 25 features (PSI, KS statistic and p-value,
    mean and null-rate shift; Jensen-Shannon distance and null rates of the strings), from pandas
    DataFrames and from pyarrow Tables, and of the 20 numeric features alone.
scipy floor
    A plain loop of ``scipy.stats.ks_2samp(x, y, method="asymp")`` over the 20 numeric features
    (nulls dropped first, as ks_2samp wants): the least any KS-based drift check must do.
Evidently
    Evidently's data drift report, ``Report([DataDriftPreset()]).run(...)`` (its default tests:
    normed Wasserstein distance for numeric columns at this size, Jensen-Shannon for
    categorical), and the same preset with ``num_method="ks"``. Timed from ``Dataset.from_pandas``
    to the finished run, in an interpreter of its own (below).

Targets: fti faster than Evidently's report by >= 5x and within 2x of the scipy floor; the KS
statistics agree with scipy's to 1e-9 (the maximum absolute difference is printed). Timings are
medians over ``--repeats`` (Evidently: ``--evidently-repeats``) after a warm-up, the in-process
contenders taken round-robin so that a noisy period hits them alike; the machine's load average
is recorded beside them.

Evidently 0.7 does not import with pandas 3 (it imports a pandas internal that pandas 3 removed),
so it runs in a separate venv with pandas 2, given by ``--evidently-python`` (default: this
interpreter if it can import evidently, else ``/tmp/evvenv/bin/python`` if it exists; without one
the Evidently rows are skipped). Make one with::

    python -m venv /tmp/evvenv
    /tmp/evvenv/bin/pip install 'evidently>=0.7.23,<0.8' 'pandas>=2.2,<3' pyarrow

The data go to it as Parquet files, so it reads the same values (strings as pandas 2 objects,
booleans as 0/1 integers: Evidently's numeric tests fail on bool columns).

Run from the repository root::

    .venv/bin/python benchmarks/drift.py                  # 1M rows; about 20 minutes
    .venv/bin/python benchmarks/drift.py --quick          # 100k rows, 1 repeat, smoke run:
                                                          # written to results/drift_quick.json
    .venv/bin/python benchmarks/drift.py --no-evidently

Results are printed as tables and written to ``benchmarks/results/drift.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "drift.json"
DEFAULT_EVIDENTLY_VENV = Path("/tmp/evvenv/bin/python")
RESULT_MARK = "@@RESULT@@ "
P_VALUE_TESTS = {"ks", "chisquare", "z", "t_test", "mannw", "anderson", "fisher_exact", "g_test"}
"""Evidently's tests whose score is a p-value (the rest are distances)."""

EVIDENTLY_TARGET_RATIO = 5.0  # fti at least this many times faster than Evidently's report
FLOOR_TARGET_RATIO = 2.0  # fti at most this many times slower than the ks_2samp loop
KS_TOLERANCE = 1e-9

NUMERIC = [f"n{i:02d}" for i in range(20)]
STRINGS = [f"s{i}" for i in range(5)]
SHIFTED = {"n05", "n06", "n09", "n11", "n14", "n15", "n17", "n19", "s1", "s3"}
"""The features whose current distribution differs from the reference's (some barely: n19 moves
its mean by 0.02 std, which no default threshold should call drift)."""


# Data ------------------------------------------------------------------------------------


def make_frame(rows: int, seed: int, *, current: bool) -> pd.DataFrame:
    """The reference (``current=False``) or the current window: 20 numeric + 5 string columns."""
    rng = np.random.default_rng(seed)
    shift = 1.0 if current else 0.0

    def normal(loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
        return rng.normal(loc, scale, rows)

    def with_nulls(values: np.ndarray, share: float) -> np.ndarray:
        values = values.astype(np.float64)
        values[rng.random(rows) < share] = np.nan
        return values

    mixture = normal()
    if current:  # a new mode: a tenth of the rows move to around 4
        moved = rng.random(rows) < 0.1
        mixture[moved] = rng.normal(4.0, 0.5, int(moved.sum()))
    numeric = {
        "n00": normal(),
        "n01": normal(10.0, 3.0),
        "n02": normal(-5.0, 0.1),
        "n03": normal(),
        "n04": normal(1e6, 1e4),
        "n05": normal(0.5 * shift),
        "n06": normal(0.0, 1.0 + 0.5 * shift),
        "n07": rng.lognormal(0.0, 1.0, rows),
        "n08": rng.uniform(0.0, 100.0, rows),
        "n09": rng.exponential(1.0 + 0.3 * shift, rows),
        "n10": rng.poisson(3.0, rows),
        "n11": rng.poisson(3.0 + shift, rows),
        "n12": rng.integers(0, 1_000, rows),
        "n13": rng.random(rows) < 0.3,
        "n14": rng.random(rows) < 0.3 + 0.15 * shift,
        "n15": with_nulls(normal(), 0.02 + 0.18 * shift),
        "n16": normal().astype(np.float32),
        "n17": mixture,
        "n18": rng.integers(0, 10**12, rows),
        "n19": normal(0.02 * shift),
    }
    colors = np.array(["red", "green", "blue", "yellow", "black"])
    cities = np.array([f"city_{i:02d}" for i in range(50)])
    zipf = 1.0 / np.arange(1, 51)
    users = np.array([f"user_{i:04d}" for i in range(1_200)])
    kinds = np.array([f"kind_{i:02d}" for i in range(20)] + [None], dtype=object)
    kind_p = np.append(np.full(20, 0.95 / 20), 0.05)
    colors_p = [0.35, 0.25, 0.2, 0.1, 0.1] if current else [0.2] * 5
    strings = {
        "s0": colors[rng.integers(0, 5, rows)],
        "s1": rng.choice(colors, rows, p=colors_p),
        "s2": rng.choice(cities, rows, p=zipf / zipf.sum()),
        # 1,000 users in the reference; the current window adds 200 unseen ones.
        "s3": users[rng.integers(0, 1_200 if current else 1_000, rows)],
        "s4": rng.choice(kinds, rows, p=kind_p),
    }
    frame = pd.DataFrame(numeric)
    for name, values in strings.items():
        frame[name] = pd.array(values, dtype="str")
    return frame


# Contenders ------------------------------------------------------------------------------


def scipy_floor(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """KS statistic per numeric feature by a plain ks_2samp loop."""
    from scipy.stats import ks_2samp

    statistics_: dict[str, float] = {}
    for name in NUMERIC:
        x = reference[name].to_numpy(dtype=np.float64, na_value=np.nan)
        y = current[name].to_numpy(dtype=np.float64, na_value=np.nan)
        result = ks_2samp(x[~np.isnan(x)], y[~np.isnan(y)], method="asymp")
        statistics_[name] = float(result.statistic)
        statistics_[name + ":p"] = float(result.pvalue)
    return statistics_


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


# Evidently, in its own interpreter ----------------------------------------------------------


def evidently_worker(folder: Path, repeats: int, methods: list[str]) -> None:
    """Runs inside the Evidently venv: times the data drift report on the Parquet files."""
    import warnings

    warnings.filterwarnings("ignore")
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=STRINGS)

    def run(ref: pd.DataFrame, cur: pd.DataFrame, method: str) -> Any:
        preset = DataDriftPreset() if method == "default" else DataDriftPreset(num_method=method)
        return Report([preset]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )

    out: dict[str, Any] = {"version": evidently.__version__, "pandas": pd.__version__}
    for method in methods:
        run(reference.iloc[:5_000], current.iloc[:5_000], method)  # warm-up: imports, caches
        seconds = []
        snapshot = None
        for _ in range(repeats):
            start = time.perf_counter()
            snapshot = run(reference, current, method)
            seconds.append(time.perf_counter() - start)
        drifted = []
        for metric in snapshot.dict()["metrics"] if snapshot is not None else []:
            config = metric.get("config", {})
            if config.get("type") == "evidently:metric_v2:ValueDrift":
                # A p-value drifts below its threshold, a distance at or above it.
                score, threshold = metric["value"], config["threshold"]
                if score < threshold if config["method"] in P_VALUE_TESTS else score >= threshold:
                    drifted.append(config["column"])
        out[method] = {"seconds": seconds, "drifted": sorted(drifted)}
    print(RESULT_MARK + json.dumps(out), flush=True)


def find_evidently_python(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    probe = subprocess.run(
        [sys.executable, "-c", "import evidently"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return sys.executable
    if DEFAULT_EVIDENTLY_VENV.exists():
        return str(DEFAULT_EVIDENTLY_VENV)
    return None


def run_evidently(
    python: str, reference: pd.DataFrame, current: pd.DataFrame, repeats: int, methods: list[str]
) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="fti-drift-bench-"))
    try:
        for frame, name in ((reference, "reference"), (current, "current")):
            # Evidently's numeric tests fail on bool columns (numpy cannot subtract booleans).
            bools = frame.select_dtypes("bool").columns
            frame.astype(dict.fromkeys(bools, "int8")).to_parquet(folder / f"{name}.parquet")
        command = [
            python,
            str(Path(__file__).resolve()),
            "--evidently-worker",
            str(folder),
            "--repeats",
            str(repeats),
            "--evidently-methods",
            ",".join(methods),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            if line.startswith(RESULT_MARK):
                result: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
                return result
        raise RuntimeError(f"the Evidently worker failed:\n{done.stderr[-3000:]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Main ------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    import pyarrow
    import scipy

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pyarrow.__version__,
        "scipy": scipy.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each window")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the fti and scipy runs")
    parser.add_argument("--evidently-repeats", type=int, default=3, help="repeats of each preset")
    parser.add_argument("--quick", action="store_true", help="100k rows, 1 repeat")
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--evidently-python", help="an interpreter that can import evidently")
    parser.add_argument("--evidently-methods", default="default,ks")
    parser.add_argument("--evidently-worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    methods = args.evidently_methods.split(",")
    if args.evidently_worker:
        evidently_worker(Path(args.evidently_worker), args.repeats, methods)
        return
    if args.quick:
        args.rows, args.repeats, args.evidently_repeats = 100_000, 1, 1
        if args.out == RESULTS:  # a smoke run does not overwrite the measured figures
            args.out = RESULTS.with_name("drift_quick.json")

    import pyarrow as pa
    from rich.console import Console
    from rich.table import Table

    from fti.monitoring.drift import compute_drift

    console = Console()
    console.print(f"[bold]Drift benchmark[/]: {args.rows:,} rows x 25 features per window")
    reference = make_frame(args.rows, seed=1, current=False)
    current = make_frame(args.rows, seed=2, current=True)
    reference_table = pa.Table.from_pandas(reference, preserve_index=False)
    current_table = pa.Table.from_pandas(current, preserve_index=False)

    contenders: dict[str, tuple[str, Callable[[], Any]]] = {
        "fti": (
            "fti compute_drift, 25 features, pandas",
            lambda: compute_drift(reference, current),
        ),
        "fti_arrow": (
            "fti compute_drift, 25 features, Arrow",
            lambda: compute_drift(reference_table, current_table),
        ),
        "fti_numeric": (
            "fti compute_drift, 20 numeric only",
            lambda: compute_drift(reference, current, features=NUMERIC),
        ),
        "scipy_floor": (
            "scipy ks_2samp loop, 20 numeric",
            lambda: scipy_floor(reference, current),
        ),
    }
    small_ref, small_cur = reference.iloc[:5_000], current.iloc[:5_000]
    compute_drift(small_ref, small_cur)  # warm-up: imports scipy.stats, fills caches
    scipy_floor(small_ref, small_cur)

    # Other work on the machine slows every contender; the load average says how busy it was.
    load = {"start": os.getloadavg()[0]}
    seconds: dict[str, list[float]] = {key: [] for key in contenders}
    values: dict[str, Any] = {}
    for repeat in range(args.repeats):
        for key, (_, function) in contenders.items():
            elapsed, values[key] = timed(function)
            seconds[key].append(elapsed)
            console.print(f"  repeat {repeat + 1}/{args.repeats} {key}: {elapsed:.3f} s")

    evidently: dict[str, Any] | None = None
    evidently_note = ""
    python = None if args.no_evidently else find_evidently_python(args.evidently_python)
    if python is None:
        evidently_note = "skipped: no interpreter with evidently (see the module docstring)"
    else:
        console.print(f"  Evidently ({python}), {args.evidently_repeats} repeat(s) per preset...")
        load["before_evidently"] = os.getloadavg()[0]
        evidently = run_evidently(python, reference, current, args.evidently_repeats, methods)
        evidently_note = (
            f"evidently {evidently['version']} with pandas {evidently['pandas']}, via {python}"
        )
        for method in methods:
            seconds[f"evidently_{method}"] = evidently[method]["seconds"]

    # Agreement of the KS statistics and p-values with scipy's.
    drift = values["fti"]
    floor = values["scipy_floor"]
    ks_diff = max(abs(drift[n].metrics["ks_statistic"] - floor[n]) for n in NUMERIC)
    p_diff = max(abs(drift[n].metrics["ks_pvalue"] - floor[n + ":p"]) for n in NUMERIC)
    arrow_same = all(
        values["fti_arrow"][n].to_dict() == drift[n].to_dict() for n in NUMERIC + STRINGS
    )

    load["end"] = os.getloadavg()[0]
    medians = {key: statistics.median(times) for key, times in seconds.items()}
    fti_s = medians["fti"]
    floor_ratio = fti_s / medians["scipy_floor"]
    evidently_ratios = {
        method: medians[f"evidently_{method}"] / fti_s for method in methods if evidently
    }
    targets = {
        "floor_within_2x": floor_ratio <= FLOOR_TARGET_RATIO,
        "ks_agrees_1e-9": ks_diff <= KS_TOLERANCE,
    }
    if evidently:
        targets["evidently_5x"] = evidently_ratios.get("default", 0.0) >= EVIDENTLY_TARGET_RATIO

    labels = {key: label for key, (label, _) in contenders.items()}
    for method in methods:
        labels[f"evidently_{method}"] = (
            "Evidently DataDriftPreset()"
            if method == "default"
            else f'Evidently DataDriftPreset(num_method="{method}")'
        )
    table = Table(
        title=f"Drift, {args.rows:,} + {args.rows:,} rows, median of {args.repeats} "
        f"(Evidently: of {args.evidently_repeats})"
    )
    for column in ("contender", "median s", "min s", "x fti time"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for key, median in medians.items():
        table.add_row(
            labels[key], f"{median:.3f}", f"{min(seconds[key]):.3f}", f"{median / fti_s:.2f}"
        )
    console.print(table)

    drifted = sorted(name for name, result in drift.items() if result.drifted)
    checks = Table(title="Checks")
    checks.add_column("check")
    checks.add_column("value", justify="right")
    checks.add_column("target", justify="right")
    checks.add_column("met")
    checks.add_row(
        "fti / scipy floor", f"{floor_ratio:.2f}x", f"<= {FLOOR_TARGET_RATIO:g}x",
        str(targets["floor_within_2x"]),
    )  # fmt: skip
    for method, ratio in evidently_ratios.items():
        checks.add_row(
            f"Evidently ({method}) / fti",
            f"{ratio:.1f}x",
            f">= {EVIDENTLY_TARGET_RATIO:g}x" if method == "default" else "",
            str(targets["evidently_5x"]) if method == "default" else "",
        )
    checks.add_row(
        "max |KS stat - scipy|", f"{ks_diff:.1e}", f"<= {KS_TOLERANCE:g}",
        str(targets["ks_agrees_1e-9"]),
    )  # fmt: skip
    checks.add_row("max |KS p-value - scipy|", f"{p_diff:.1e}", "", "")
    checks.add_row("Arrow input = pandas input", str(arrow_same), "", "")
    console.print(checks)
    console.print(f"fti drifted: {', '.join(drifted)}")
    console.print(f"shifted in the data: {', '.join(sorted(SHIFTED))}")
    if evidently:
        for method in methods:
            console.print(
                f"Evidently ({method}) drifted: {', '.join(evidently[method]['drifted'])}"
            )
    console.print(f"Evidently: {evidently_note}")
    console.print("1-min load average: " + ", ".join(f"{k} {v:.1f}" for k, v in load.items()))

    report = {
        "benchmark": "drift",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "rows_per_window": args.rows,
        "features": {"numeric": len(NUMERIC), "string": len(STRINGS)},
        "repeats": args.repeats,
        "evidently_repeats": args.evidently_repeats if evidently else 0,
        "load_average_1min": load,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), **versions()},
        "evidently": evidently_note,
        "contenders": {
            key: {"label": labels[key], "seconds": seconds[key], "median_s": medians[key]}
            for key in medians
        },
        "ratios": {
            "fti_over_scipy_floor": floor_ratio,
            **{f"evidently_{m}_over_fti": r for m, r in evidently_ratios.items()},
        },
        "ks_statistic_max_abs_diff": ks_diff,
        "ks_pvalue_max_abs_diff": p_diff,
        "arrow_input_equals_pandas_input": arrow_same,
        "targets_met": targets,
        "fti_drifted": drifted,
        "shifted_in_data": sorted(SHIFTED),
        "evidently_drifted": {m: evidently[m]["drifted"] for m in methods} if evidently else None,
        "fti_metrics": {name: result.to_dict()["metrics"] for name, result in drift.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    console.print(f"written {args.out}")


if __name__ == "__main__":
    main()
