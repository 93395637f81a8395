"""Pipelines that run on their own: declared pipelines, run records, the scheduler, triggers,
champion/challenger, and the hand-off to an orchestrator (Dagster).

    @fti.pipeline(kind="feature", schedule="0 * * * *")
    def hourly_features(project, scheduled_time): ...

``fti run NAME`` runs one and records it; ``fti scheduler`` runs them when due.
"""

from fti.pipelines.declare import Pipeline, load_pipelines, pipeline
from fti.pipelines.recorder import RunTimeout, run_pipeline
from fti.pipelines.runs import Output, Run, Runs

__all__ = [
    "Output",
    "Pipeline",
    "Run",
    "RunTimeout",
    "Runs",
    "load_pipelines",
    "pipeline",
    "run_pipeline",
]
