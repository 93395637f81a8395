"""Model-dependent transformations for feature views: ``fti.transforms.standard_scaler``..."""

from fti.feature_store.transformations import (
    Transformation,
    label_encoder,
    min_max_scaler,
    one_hot_encoder,
    robust_scaler,
    standard_scaler,
    transformation,
)

__all__ = [
    "Transformation",
    "label_encoder",
    "min_max_scaler",
    "one_hot_encoder",
    "robust_scaler",
    "standard_scaler",
    "transformation",
]
