"""fti: feature, training and inference pipelines sharing a feature store and a model registry.

>>> import fti
>>> project = fti.connect()                       # doctest: +SKIP
>>> fs = project.feature_store                     # doctest: +SKIP
"""

from fti import transforms
from fti.errors import (
    AlreadyExistsError,
    ArtifactIntegrityError,
    ConfigError,
    DataValidationError,
    ExpectationError,
    FtiError,
    InvalidArgumentError,
    InvalidNameError,
    KeyNotFoundError,
    MissingDependencyError,
    NaiveTimestampWarning,
    NotFoundError,
    PromotionError,
    QueryError,
    SchemaError,
    StoreError,
    TransformationError,
)
from fti.feature_store.feature_group import FeatureGroup
from fti.feature_store.feature_store import FeatureStore
from fti.feature_store.feature_view import FeatureView, TrainingDataset
from fti.feature_store.filters import col
from fti.feature_store.ingest import Commit
from fti.feature_store.on_demand import on_demand
from fti.feature_store.query import Query
from fti.feature_store.transformations import transformation
from fti.model_registry import Model, ModelRegistry
from fti.project import Project, connect
from fti.types import Feature

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "ArtifactIntegrityError",
    "Commit",
    "ConfigError",
    "DataValidationError",
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
    "Project",
    "PromotionError",
    "Query",
    "QueryError",
    "SchemaError",
    "StoreError",
    "TrainingDataset",
    "TransformationError",
    "__version__",
    "col",
    "connect",
    "on_demand",
    "transformation",
    "transforms",
]
