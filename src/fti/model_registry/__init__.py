"""The model registry: versioned models with lineage, signatures, aliases and safe flavors."""

from fti.model_registry.lineage import GroupRead, Lineage
from fti.model_registry.model import Model
from fti.model_registry.registry import ModelRegistry
from fti.model_registry.signature import Column, Signature

__all__ = ["Column", "GroupRead", "Lineage", "Model", "ModelRegistry", "Signature"]
