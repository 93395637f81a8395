"""The batch inference pipeline of the flights demo: score one day's flights.

    python examples/flights/batch_inference.py --day 2013-11-02

Reads the day's flights from the feature store (the root group), predicts with the model that
holds the alias ``production`` (its lineage gives the feature view and the fitted state), and
writes the predictions group ``flight_delays_predictions``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

import training_pipeline

import fti
from fti.inference.batch import batch_predict

console = Console()


def day_spine(project: fti.Project, day: dt.date) -> pd.DataFrame:
    """The flights scheduled on a local day: their keys and prediction times."""
    flights = project.feature_store.get_feature_group("flights")
    rows = flights.read(return_type="pyarrow")
    # Filtered in Arrow: pandas reads a date32 column as Python objects, not dates.
    on_day = rows.filter(pc.equal(rows.column("local_date"), pa.scalar(day, pa.date32())))
    return on_day.select(["flight_id", "prediction_time"]).to_pandas()


def predict_day(
    project: fti.Project, day: dt.date, spine: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Predictions of the production model for the flights of ``day``."""
    model = project.model_registry.get_model(
        training_pipeline.MODEL_NAME, alias=training_pipeline.ALIAS
    )
    spine = day_spine(project, day) if spine is None else spine
    if spine.empty:
        return pd.DataFrame()
    return batch_predict(model, spine=spine)


def daily_roc_auc(predictions: pd.DataFrame, labels: pd.DataFrame) -> float | None:
    """ROC AUC of a day's predictions once the labels (is_delayed) have arrived."""
    joined = predictions.merge(labels[["flight_id", "is_delayed"]], on="flight_id")
    if joined["is_delayed"].nunique() < 2:
        return None
    return float(roc_auc_score(joined["is_delayed"].astype(int), joined["score"]))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: score the flights of one day."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--home", help="fti home (default: $FTI_HOME or ./.fti)")
    parser.add_argument("--project", default="flights")
    args = parser.parse_args(argv)
    with fti.connect(args.home, args.project) as project:
        predictions = predict_day(project, args.day)
    console.print(f"{len(predictions):,} flights of {args.day} scored")


if __name__ == "__main__":
    main()
