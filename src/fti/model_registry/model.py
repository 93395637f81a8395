"""Model: a handle on one version of a registered model (or on a model about to be saved).

The handle reads what was recorded (metrics, params, lineage, signature, input example) and
delegates the work (saving, loading, aliases) to the :class:`ModelRegistry` that made it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from fti import run_outputs
from fti.errors import InvalidArgumentError, NotFoundError
from fti.model_registry import flavors
from fti.model_registry import signature as signatures
from fti.model_registry.checks import check_tag_key, to_json
from fti.model_registry.lineage import Lineage
from fti.model_registry.signature import Signature
from fti.stores.metadata.base import Entity

if TYPE_CHECKING:
    import pandas as pd

    from fti.feature_store.feature_view import FeatureView
    from fti.model_registry.registry import ModelRegistry
    from fti.stores.artifacts.base import FileEntry


class Model:
    """One version of a model: what it was trained on, how good it is, where its files are."""

    def __init__(
        self,
        registry: ModelRegistry,
        name: str,
        body: dict[str, Any],
        entity: Entity | None,
    ) -> None:
        self._registry = registry
        self._name = name
        self._body = dict(body)
        self._entity = entity

    # What was recorded -----------------------------------------------------------------

    @property
    def name(self) -> str:
        """The model's name."""
        return self._name

    @property
    def version(self) -> int | None:
        """The version number; None until :meth:`save`."""
        return None if self._entity is None else self._entity.version

    @property
    def state(self) -> str | None:
        """``ready``, ``saving``, ``failed`` (a save that did not finish), ``deleted``; None
        until :meth:`save`."""
        return self._body.get("state")

    @property
    def created_at(self) -> dt.datetime | None:
        """When the version was saved (UTC)."""
        return None if self._entity is None else self._entity.created_at

    @property
    def framework(self) -> str | None:
        """``sklearn``, ``lightgbm``, ``xgboost``, ``onnx``, ``python`` or ``files``."""
        return self._body.get("framework")

    @property
    def description(self) -> str:
        """Free text describing the model."""
        return str(self._body.get("description", ""))

    @property
    def metrics(self) -> dict[str, float]:
        """The evaluation metrics recorded with the version."""
        return dict(self._body.get("metrics") or {})

    @property
    def params(self) -> dict[str, Any]:
        """Hyper-parameters and other facts about training."""
        return dict(self._body.get("params") or {})

    @property
    def tags(self) -> dict[str, Any]:
        """Tags given to ``create_model`` and set since with :meth:`set_tag`."""
        tags = dict(self._body.get("tags") or {})
        if self.version is not None:
            for record in self._records("tag"):
                tags[record.key] = record.body["value"]
        return tags

    @property
    def lineage(self) -> Lineage | None:
        """Feature view, training dataset and each group's Delta commit; None without a view."""
        data = self._body.get("lineage")
        return None if data is None else Lineage.from_dict(data)

    @property
    def training_dataset_version(self) -> int | None:
        """The training dataset of the lineage, if any."""
        lineage = self.lineage
        return None if lineage is None else lineage.training_dataset_version

    @property
    def signature(self) -> Signature | None:
        """Input columns and types (from the feature view, else the input example), outputs."""
        data = self._body.get("signature")
        return None if data is None else Signature.from_dict(data)

    @property
    def input_example(self) -> pd.DataFrame | None:
        """The first rows of the input example given to ``create_model``."""
        data = self._body.get("input_example")
        return None if data is None else signatures.example_from_json(data)

    @property
    def flavor(self) -> dict[str, Any]:
        """What the framework flavor recorded: file, class, library versions, types to trust."""
        return dict(self._body.get("flavor") or {})

    @property
    def artifact(self) -> dict[str, Any]:
        """Manifest digest, number of files and bytes of the stored version."""
        return dict(self._body.get("artifact") or {})

    @property
    def aliases(self) -> list[str]:
        """The aliases pointing to this version now."""
        if self.version is None:
            return []
        current = self._registry._aliases.current(self.name)
        return [alias for alias, version in current.items() if version == self.version]

    @property
    def promotions(self) -> list[dict[str, Any]]:
        """Every alias given to this version: alias, forced, the problems overridden, by, at."""
        if self.version is None:
            return []
        return [r.body for r in self._records("promotion")]

    # Actions -----------------------------------------------------------------------------

    def save(self, model: Any, *, unsafe_pickle: bool = False) -> Model:
        """Store ``model`` (an object, or a file/folder path) as the next version; returns self.

        Saving again stores another version with the same metadata. ``framework="python"``
        (pickle) needs ``unsafe_pickle=True``.
        """
        recorded = ("state", "flavor", "artifact", "owner", "failure")  # by the save itself
        spec = {k: v for k, v in self._body.items() if k not in recorded}
        entity = self._registry._save(self.name, spec, model, unsafe_pickle)
        self._entity = entity
        self._body = dict(entity.body)
        run_outputs.report("model", name=self.name, version=entity.version)
        return self

    def load(self, *, unsafe_pickle: bool = False, trusted_types: Sequence[str] = ()) -> Any:
        """The model object, from verified files (ArtifactIntegrityError when changed).

        ``trusted_types``: extra type names a scikit-learn (skops) model may contain;
        ``unsafe_pickle`` must be True to load a ``python`` (pickled) model.
        """
        read = self._registry._reader(self)
        flavor = flavors.get_flavor(str(self.framework))
        options = flavors.LoadOptions(bool(unsafe_pickle), tuple(trusted_types))
        return flavor.load(read, self.flavor, options)

    def download(self, directory: str | os.PathLike[str] | None = None) -> Path:
        """Copy the verified files (and MANIFEST.json) into an empty ``directory``
        (a new temporary folder when None); returns it."""
        return self._registry._download(self, directory)

    def files(self) -> dict[str, FileEntry]:
        """The stored files of this version (path -> sha256 and size), from its verified
        manifest."""
        key, digest = self._registry._stored(self)
        return dict(self._registry._artifacts.manifest(key, digest).files)

    def open_file(self, path: str) -> BinaryIO:
        """A stream over one stored file of this version; reading it to the end verifies it."""
        key, digest = self._registry._stored(self)
        return self._registry._artifacts.open(key, path, digest)

    def set_alias(self, alias: str, force: bool = False) -> list[str]:
        """Point ``alias`` at this version after the promotion checks.

        Raises PromotionError listing each problem; ``force=True`` moves the alias anyway and
        records the overridden problems, which are returned.
        """
        return self._registry._set_alias(self, alias, force)

    def delete_alias(self, alias: str) -> None:
        """Remove ``alias`` (it must point to this version)."""
        self._registry._delete_alias(self, alias)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (any JSON value) on this saved version."""
        check_tag_key(key)
        value = to_json(value, f"tag {key!r}")
        entity = self._saved_entity()
        self._registry._metadata.add_record(
            "model", entity.project, self.name, entity.version, "tag", key, {"value": value}
        )

    def delete(self) -> None:
        """Delete this version's files and aliases; its number is not given out again."""
        self._registry._delete(self)
        self._body["state"] = "deleted"

    def feature_view(self) -> FeatureView:
        """The feature view version of the lineage (NotFoundError when there is none)."""
        lineage = self.lineage
        if lineage is None:
            raise NotFoundError(f"{self!r} was registered without a feature view")
        store = self._registry._feature_store
        return store.get_feature_view(lineage.feature_view, lineage.feature_view_version)

    def training_data(self) -> tuple[Any, Any]:
        """X and y of every row (all splits) of the lineage's training dataset, as recorded."""
        lineage = self.lineage
        view = self.feature_view()
        assert lineage is not None
        return view.get_training_data(lineage.training_dataset_version)

    def __repr__(self) -> str:
        version = "unsaved" if self.version is None else f"version={self.version}"
        return f"Model(name={self.name!r}, {version}, framework={self.framework!r})"

    def _saved_entity(self) -> Entity:
        if self._entity is None:
            raise InvalidArgumentError(f"{self!r} is not saved yet: call model.save(obj) first")
        return self._entity

    def _records(self, kind: str) -> list[Any]:
        entity = self._saved_entity()
        return self._registry._metadata.records(
            "model", entity.project, self.name, entity.version, kind
        )
