"""fti: feature, training and inference pipelines sharing a feature store and a model registry.

>>> import fti
>>> project = fti.connect()                       # doctest: +SKIP
>>> fs = project.feature_store                     # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fti.errors import (
    AlreadyExistsError,
    ArtifactIntegrityError,
    ConfigError,
    DataValidationError,
    EngineError,
    ExpectationError,
    FtiError,
    InvalidArgumentError,
    InvalidNameError,
    KeyNotFoundError,
    MissingDependencyError,
    NaiveTimestampWarning,
    NotFoundError,
    PermissionDeniedError,
    PromotionError,
    QueryError,
    SchemaError,
    StoreError,
    TransformationError,
    UnauthenticatedError,
)

if TYPE_CHECKING:
    from fti import transforms
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.feature_store import FeatureStore
    from fti.feature_store.feature_view import FeatureView, TrainingDataset
    from fti.feature_store.filters import col
    from fti.feature_store.ingest import Commit
    from fti.feature_store.on_demand import on_demand
    from fti.feature_store.query import Query
    from fti.feature_store.transformations import transformation
    from fti.model_registry import Model, ModelRegistry
    from fti.pipelines.declare import pipeline
    from fti.project import Project, connect
    from fti.types import Feature

# Imported on first use (PEP 562), so that `import fti` and the CLI start fast: a command that
# lists models never loads pandas, Arrow, DuckDB or Delta Lake.
_LAZY = {
    "transforms": "fti.transforms",
    "FeatureGroup": "fti.feature_store.feature_group",
    "FeatureStore": "fti.feature_store.feature_store",
    "FeatureView": "fti.feature_store.feature_view",
    "TrainingDataset": "fti.feature_store.feature_view",
    "col": "fti.feature_store.filters",
    "Commit": "fti.feature_store.ingest",
    "on_demand": "fti.feature_store.on_demand",
    "Query": "fti.feature_store.query",
    "transformation": "fti.feature_store.transformations",
    "Model": "fti.model_registry",
    "ModelRegistry": "fti.model_registry",
    "pipeline": "fti.pipelines.declare",
    "Project": "fti.project",
    "connect": "fti.project",
    "Feature": "fti.types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fti' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if module == f"fti.{name}" else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "ArtifactIntegrityError",
    "Commit",
    "ConfigError",
    "DataValidationError",
    "EngineError",
    "ExpectationError",
    "Feature",
    "FeatureGroup",
    "FeatureStore",
    "FeatureView",
    "FtiError",
    "InvalidArgumentError",
    "InvalidNameError",
    "KeyNotFoundError",
    "MissingDependencyError",
    "Model",
    "ModelRegistry",
    "NaiveTimestampWarning",
    "NotFoundError",
    "PermissionDeniedError",
    "Project",
    "PromotionError",
    "Query",
    "QueryError",
    "SchemaError",
    "StoreError",
    "TrainingDataset",
    "TransformationError",
    "UnauthenticatedError",
    "__version__",
    "col",
    "connect",
    "on_demand",
    "pipeline",
    "transformation",
    "transforms",
]
