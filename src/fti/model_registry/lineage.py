"""Lineage: exactly which data a model version was trained on.

A feature view version, one of its training datasets, and for each feature group the view
reads, the Delta commit the training dataset pinned. With it, the training data can be read
back as it was (``model.training_data()``), also after later inserts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fti.feature_store.feature_view import FeatureView, TrainingDataset


@dataclass(frozen=True)
class GroupRead:
    """One feature group of the view and the Delta commit the training data read."""

    name: str
    version: int
    commit: int | None
    """The Delta version read; None when the group had no data yet."""


@dataclass(frozen=True)
class Lineage:
    """Where a model version's training data came from."""

    feature_view: str
    feature_view_version: int
    training_dataset_version: int
    groups: tuple[GroupRead, ...]
    training_dataset_digest: str = ""
    """Content digest of the training dataset's rows when the model was registered."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "feature_view": self.feature_view,
            "feature_view_version": self.feature_view_version,
            "training_dataset_version": self.training_dataset_version,
            "training_dataset_digest": self.training_dataset_digest,
            "groups": [
                {"name": g.name, "version": g.version, "commit": g.commit} for g in self.groups
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        """Rebuild a lineage stored with :meth:`to_dict`."""
        return cls(
            feature_view=str(data["feature_view"]),
            feature_view_version=int(data["feature_view_version"]),
            training_dataset_version=int(data["training_dataset_version"]),
            groups=tuple(
                GroupRead(str(g["name"]), int(g["version"]), g.get("commit"))
                for g in data.get("groups", [])
            ),
            training_dataset_digest=str(data.get("training_dataset_digest", "")),
        )


def from_view(view: FeatureView, dataset: TrainingDataset) -> Lineage:
    """The lineage of a model trained on ``dataset`` of ``view``."""
    groups = []
    for step in view.query.steps:
        group = step.group
        commit = dataset.versions.get(f"{group.name}_v{group.version}")
        groups.append(GroupRead(group.name, group.version, commit))
    return Lineage(
        feature_view=view.name,
        feature_view_version=view.version,
        training_dataset_version=dataset.version,
        groups=tuple(groups),
        training_dataset_digest=dataset.digest,
    )
