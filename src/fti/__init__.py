"""fti: feature, training and inference pipelines sharing a feature store and a model registry.

>>> import fti
>>> project = fti.connect()                       # doctest: +SKIP
>>> fs = project.feature_store                     # doctest: +SKIP
"""

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
    NotFoundError,
    PromotionError,
    QueryError,
    SchemaError,
    StoreError,
    TransformationError,
)
from fti.feature_store.feature_group import FeatureGroup
from fti.feature_store.feature_store import FeatureStore
from fti.feature_store.ingest import Commit
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
    "FtiError",
    "InvalidArgumentError",
    "InvalidNameError",
    "KeyNotFoundError",
    "MissingDependencyError",
    "NotFoundError",
    "Project",
    "PromotionError",
    "QueryError",
    "SchemaError",
    "StoreError",
    "TransformationError",
    "__version__",
    "connect",
]
