"""ModelRegistry: models of a project, their versions, artifacts, aliases and lineage.

A model version is a metadata entity of kind ``model`` (its number allocated atomically by the
metadata store, so concurrent saves of one name get 1..N) and a tree in the artifact store at
``<project>/models/<name>/<version>`` sealed by a manifest whose digest the entity keeps.

A save serializes the object first (bad objects write nothing), then allocates the version in
state ``saving`` (recording its process), stores the files and marks it ``ready``; a failure
removes both. A deleted version keeps its entity in state ``deleted`` so its number is never
given out again.

A process killed mid-save leaves a version in ``saving`` and a staging folder. Such a version
is *stuck* when its process is gone from this host or it began more than :data:`STUCK_AFTER`
ago: the next save of the model, or :meth:`ModelRegistry.cleanup`, marks it ``failed`` (the
number stays taken) and removes staging folders of dead processes or older than
:data:`STAGING_MAX_AGE`.

On object storage a save writes its files one by one (no atomic rename there), so a killed save
can also leave files under its key, and a save that failed because the store became
unreachable cannot remove its own: such a version is marked ``failed`` rather than forgotten.
The same cleanups remove the files of every ``failed`` version, and record
``files_removed`` once no writer can add more (its process is gone, it gave up itself, or it
began more than :data:`STAGING_MAX_AGE` ago), so later cleanups skip it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from fti.errors import InvalidArgumentError, NotFoundError, PromotionError, StoreError
from fti.model_registry import checks, flavors, promotion
from fti.model_registry import lineage as lineages
from fti.model_registry import signature as signatures
from fti.model_registry.aliases import Aliases
from fti.model_registry.model import Model
from fti.names import check_name, check_version
from fti.stores.artifacts import ArtifactStore, Owner, RemovedTree
from fti.stores.metadata.base import Entity, MetadataStore

if TYPE_CHECKING:
    from fti.feature_store.feature_store import FeatureStore
    from fti.feature_store.feature_view import FeatureView

KIND = "model"
SAVING, READY, DELETED, FAILED = "saving", "ready", "deleted", "failed"
DIRECTIONS = ("max", "min")
STUCK_AFTER = timedelta(hours=1)
"""A save still ``saving`` after this long is stuck, whether or not its process runs."""
STAGING_MAX_AGE = timedelta(days=1)
"""Staging folders older than this are removed, whoever wrote them."""


@dataclass(frozen=True)
class UnfinishedVersion:
    """A model version whose save did not finish: ``failed``, or ``saving`` (``stuck`` when
    its process is gone or it began more than :data:`STUCK_AFTER` ago)."""

    name: str
    version: int
    state: str
    started: datetime
    stuck: bool
    note: str
    """Why it failed or is stuck, or which process is saving it."""


@dataclass(frozen=True)
class Cleanup:
    """What :meth:`ModelRegistry.cleanup` did."""

    failed: list[UnfinishedVersion]
    """Stuck versions marked ``failed`` (as they were before)."""
    removed: list[RemovedTree]
    """Staging folders removed, and files left by failed versions."""


class ModelRegistry:
    """The models of one project, over the project's metadata and artifact stores."""

    def __init__(
        self,
        project: str,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        feature_store: Callable[[], FeatureStore],
    ) -> None:
        self.project = project
        self._metadata = metadata
        self._artifacts = artifacts
        # Asked for only when a model's view is needed (lineage, promotion): listing models
        # must not load the feature store's libraries.
        self._get_feature_store = feature_store
        self._aliases = Aliases(project, metadata)

    @property
    def _feature_store(self) -> FeatureStore:
        return self._get_feature_store()

    def __repr__(self) -> str:
        return f"ModelRegistry(project={self.project!r})"

    # Creating and finding ----------------------------------------------------------------

    def create_model(
        self,
        name: str,
        framework: str | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        description: str = "",
        feature_view: FeatureView | None = None,
        training_dataset_version: int | None = None,
        input_example: Any = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Model:
        """A model to save: ``model.save(obj_or_path)`` stores it as the next version.

        With ``feature_view``, the lineage (view version, training dataset version, the Delta
        commit of each group) and the signature come from the view and its training dataset
        (the latest when ``training_dataset_version`` is None). ``framework`` is detected from
        the saved object when None.
        """
        check_name(name, "model name")
        body: dict[str, Any] = {
            "framework": flavors.check_framework(framework),
            "metrics": checks.check_metrics(metrics),
            "params": checks.check_params(params),
            "description": _text(description, "description"),
            "tags": checks.check_tags(tags),
            "lineage": None,
            "signature": None,
            "input_example": None,
        }
        signature = None
        if feature_view is not None:
            view, dataset = self._view_and_dataset(feature_view, training_dataset_version)
            body["lineage"] = lineages.from_view(view, dataset).to_dict()
            signature = signatures.from_view(view, dataset.transformation_state)
        elif training_dataset_version is not None:
            raise InvalidArgumentError("training_dataset_version needs feature_view= as well")
        if input_example is not None:
            frame = signatures.example_frame(input_example)
            body["input_example"] = signatures.example_to_json(frame)
            signature = signature or signatures.from_example(frame)
        body["signature"] = None if signature is None else signature.to_dict()
        return Model(self, name, body, None)

    def get_model(self, name: str, version: int | None = None, alias: str | None = None) -> Model:
        """A version by number (whatever its state), by alias, or the latest saved one.

        NotFoundError when there is none (or the numbered version was deleted).
        """
        check_name(name, "model name")
        if version is not None and alias is not None:
            raise InvalidArgumentError("pass version= or alias=, not both")
        if alias is not None:
            version = self._aliases.version(name, check_name(alias, "alias"))
        if version is not None:
            entity = self._metadata.get(KIND, self.project, name, check_version(version))
            if entity.body.get("state") == DELETED:
                raise NotFoundError(f"model {name!r} version {version} was deleted")
            return self._model(entity)
        entity = self._metadata.get(KIND, self.project, name)
        if entity.body.get("state") != READY:
            ready = self._ready(name)
            if not ready:
                raise NotFoundError(f"model {name!r} has no saved version in {self.project!r}")
            entity = ready[-1]
        return self._model(entity)

    def get_models(self, name: str) -> list[Model]:
        """Every saved version of ``name``, oldest first (empty when there is none)."""
        check_name(name, "model name")
        return [self._model(e) for e in self._ready(name)]

    def list_models(self) -> list[Model]:
        """The latest saved version of every model, by name."""
        latest: dict[str, Entity] = {}
        for entity in self._ready(None):
            latest[entity.name] = entity
        return [self._model(e) for _, e in sorted(latest.items())]

    def get_best_model(self, name: str, metric: str, direction: str = "max") -> Model:
        """The saved version of ``name`` with the highest (``max``) or lowest ``metric``."""
        if direction not in DIRECTIONS:
            raise InvalidArgumentError(f"direction must be 'max' or 'min', not {direction!r}")
        check_name(name, "model name")
        scored = [e for e in self._ready(name) if metric in (e.body.get("metrics") or {})]
        if not scored:
            raise NotFoundError(f"no saved version of model {name!r} has the metric {metric!r}")
        sign = 1.0 if direction == "max" else -1.0
        best = max(scored, key=lambda e: (sign * float(e.body["metrics"][metric]), -e.version))
        return self._model(best)

    def aliases(self, name: str) -> dict[str, int]:
        """``{alias: version}`` of model ``name`` now."""
        return self._aliases.current(check_name(name, "model name"))

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        """Every alias event of model ``name``, oldest first: alias, version (None: removed),
        forced, by, at."""
        return self._aliases.history(check_name(name, "model name"))

    def rollback(self, name: str, alias: str, force: bool = False) -> Model:
        """Point ``alias`` of model ``name`` back at the version it held before the current
        one (after the promotion checks, unless ``force``); returns that version."""
        check_name(name, "model name")
        version = self._aliases.previous(name, check_name(alias, "alias"))
        model = self.get_model(name, version)
        model.set_alias(alias, force=force)
        return model

    def models_of_view(self, view: str, version: int) -> list[Model]:
        """Saved model versions trained from feature view ``view`` version ``version``."""
        found = []
        for entity in self._ready(None):
            lineage = entity.body.get("lineage") or {}
            if (lineage.get("feature_view"), lineage.get("feature_view_version")) == (
                view,
                version,
            ):
                found.append(self._model(entity))
        return found

    def unfinished(self, name: str | None = None) -> list[UnfinishedVersion]:
        """Versions of ``name`` (or of every model) whose save failed or has not finished."""
        if name is not None:
            check_name(name, "model name")
        now = datetime.now(UTC)
        found = []
        for entity in self._metadata.list(KIND, self.project, name):
            state = entity.body.get("state")
            if state == FAILED:
                note = str(entity.body.get("failure") or "the save did not finish")
                found.append(_unfinished(entity, stuck=False, note=note))
            elif state == SAVING:
                reason = _stuck_reason(entity, now)
                owner = _owner(entity)
                note = reason or f"in progress ({owner or 'process unknown'})"
                found.append(_unfinished(entity, stuck=reason is not None, note=note))
        return found

    def cleanup(self) -> Cleanup:
        """Mark stuck saves of every model ``failed``, remove staging folders left by dead
        processes or older than :data:`STAGING_MAX_AGE` and the files of failed versions;
        returns what was done."""
        return self._clean(None)

    # Used by Model -----------------------------------------------------------------------

    def _save(self, name: str, spec: Mapping[str, Any], obj: Any, unsafe_pickle: bool) -> Entity:
        # What killed saves left behind goes first, so that it cannot pile up.
        self._clean(name)
        framework = spec.get("framework")
        staged: Path | None = None
        source: Path | None = None
        if isinstance(obj, str | os.PathLike):
            source = Path(obj)
            if not source.exists():
                raise NotFoundError(f"{source} does not exist: nothing to save")
            flavor = flavors.get_flavor(framework or "files")
            _check_unsafe(flavor, unsafe_pickle)
            if flavor.name != "files" and not source.is_file():
                raise InvalidArgumentError(
                    f"framework={flavor.name!r} saves one model file; {source} is a folder "
                    "(save it without a framework to keep the files as they are)"
                )
            meta: dict[str, Any] = {} if flavor.name == "files" else {"file": source.name}
        else:
            flavor = flavors.get_flavor(framework) if framework else flavors.detect(obj)
            _check_unsafe(flavor, unsafe_pickle)
            staged = self._artifacts.staging_dir()
            try:
                meta = flavor.save(obj, staged)
            except BaseException:
                self._artifacts.discard(staged)
                raise
        owner = Owner.current()
        body = {
            **spec,
            "framework": flavor.name,
            "flavor": meta,
            "state": SAVING,
            "owner": {"host": owner.host, "pid": owner.pid},
        }
        try:
            entity = self._metadata.create(KIND, self.project, name, None, body)
        except BaseException:
            if staged is not None:
                self._artifacts.discard(staged)
            raise
        key = self._key(name, entity.version)
        abandoned = False
        try:
            if staged is not None:
                manifest = self._artifacts.commit(key, staged)
            else:
                assert source is not None
                manifest = self._artifacts.put(key, source)
            current = self._metadata.get(KIND, self.project, name, entity.version)
            if current.body.get("state") != SAVING:
                abandoned = True
                raise StoreError(
                    f"model {name!r} version {entity.version} was marked "
                    f"{current.body.get('state')} while it was saving (a save taking over "
                    f"{STUCK_AFTER} counts as stuck); save the model again"
                )
            del body["owner"]
            body["state"] = READY
            body["artifact"] = {
                "manifest_sha256": manifest.digest,
                "files": len(manifest.files),
                "bytes": manifest.size,
            }
            return self._metadata.update(KIND, self.project, name, entity.version, body)
        except BaseException as exc:
            try:
                self._artifacts.delete(key)
                removed = True
            except Exception:  # the store is out of reach: its files stay for now
                removed = False
            # An abandoned version was marked failed by a cleanup: it keeps its number.
            if not abandoned:
                with contextlib.suppress(Exception):
                    if removed:
                        self._metadata.delete(KIND, self.project, name, entity.version)
                    else:  # a failed version names the files for the cleanups
                        failure = f"the save failed and left files to remove: {_first(exc)}"
                        self._metadata.update(
                            KIND, self.project, name, entity.version, _gave_up(body, failure)
                        )
            raise

    def _clean(self, name: str | None) -> Cleanup:
        """Mark the stuck ``saving`` versions of ``name`` (or of every model) ``failed``, then
        remove staging folders and the files failed versions may have left."""
        now = datetime.now(UTC)
        failed, pending = [], []
        for entity in self._metadata.list(KIND, self.project, name):
            state = entity.body.get("state")
            reason = _stuck_reason(entity, now) if state == SAVING else None
            if reason is not None:
                body = {**entity.body, "state": FAILED, "failure": reason}
                self._metadata.update(KIND, self.project, entity.name, entity.version, body)
                failed.append(_unfinished(entity, stuck=True, note=reason))
                state = FAILED
            if state == FAILED and not entity.body.get("files_removed"):
                pending.append(entity)
        keys = [self._key(e.name, e.version) for e in pending]
        removed = self._artifacts.cleanup(STAGING_MAX_AGE, keys)
        for entity in pending:
            # A writer that may still run could add files after this removal (a slow save
            # marked failed removes its own when it notices): try again next time.
            if _writer_done(entity, now):
                current = self._metadata.get(KIND, self.project, entity.name, entity.version)
                body = {**current.body, "files_removed": True}
                self._metadata.update(KIND, self.project, entity.name, entity.version, body)
        return Cleanup(failed, removed)

    def _reader(self, model: Model) -> flavors.Reader:
        key, digest = self._stored(model)
        return _VersionFiles(self._artifacts, key, digest)

    def _download(self, model: Model, directory: str | os.PathLike[str] | None) -> Path:
        key, digest = self._stored(model)
        if directory is None:
            target = Path(tempfile.mkdtemp(prefix=f"fti_{model.name}_v{model.version}_"))
        else:
            target = Path(directory)
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise InvalidArgumentError(f"{target} is not an empty folder: download elsewhere")
        return self._artifacts.get(key, target, digest)

    def _set_alias(self, model: Model, alias: str, force: bool) -> list[str]:
        check_name(alias, "alias")
        self._stored(model)
        found = promotion.problems(self._feature_store, model)
        if found and not force:
            listed = "\n".join(f"  - {p}" for p in found)
            raise PromotionError(
                f"model {model.name!r} v{model.version} cannot take alias {alias!r}:\n{listed}\n"
                "fix these, or pass force=True to override (the override is recorded)",
                found,
            )
        assert model.version is not None
        event = self._aliases.move(model.name, alias, model.version, found, bool(found))
        self._metadata.add_record(
            KIND,
            self.project,
            model.name,
            model.version,
            "promotion",
            f"{alias}#{event.version}",
            {k: event.body[k] for k in ("alias", "forced", "problems", "by", "at")},
        )
        return found

    def _delete_alias(self, model: Model, alias: str) -> None:
        check_name(alias, "alias")
        if self._aliases.current(model.name).get(alias) != model.version:
            raise NotFoundError(f"alias {alias!r} does not point to {model!r}")
        self._aliases.remove(model.name, alias)

    def _delete(self, model: Model) -> None:
        key, _ = self._stored(model, state=None)
        for alias, version in self._aliases.current(model.name).items():
            if version == model.version:
                self._aliases.remove(model.name, alias)
        self._artifacts.delete(key)
        assert model.version is not None
        entity = self._metadata.get(KIND, self.project, model.name, model.version)
        body = {**entity.body, "state": DELETED, "artifact": None}
        self._metadata.update(KIND, self.project, model.name, model.version, body)

    # Internals ---------------------------------------------------------------------------

    def _model(self, entity: Entity) -> Model:
        return Model(self, entity.name, entity.body, entity)

    def _ready(self, name: str | None) -> list[Entity]:
        return [
            e for e in self._metadata.list(KIND, self.project, name) if e.body["state"] == READY
        ]

    def _key(self, name: str, version: int) -> str:
        name = check_name(name, "model name")
        return f"{self.project}/models/{name}/{check_version(version, 'model version')}"

    def _stored(self, model: Model, state: str | None = READY) -> tuple[str, str | None]:
        """The artifact key and manifest digest of a saved, ready version."""
        if model.version is None:
            raise InvalidArgumentError(f"{model!r} is not saved yet: call model.save(obj) first")
        if state is not None and model.state != state:
            raise NotFoundError(
                f"model {model.name!r} version {model.version} has no artifacts (it is "
                f"{model.state}: a save in progress, a failed save or a deleted version)"
            )
        digest = (model._body.get("artifact") or {}).get("manifest_sha256")
        return self._key(model.name, model.version), None if digest is None else str(digest)

    def _view_and_dataset(self, view: Any, dataset_version: int | None) -> tuple[Any, Any]:
        from fti.feature_store.feature_view import FeatureView

        if not isinstance(view, FeatureView):
            raise InvalidArgumentError(
                f"feature_view must be a FeatureView (fs.get_feature_view(...)), not {view!r}"
            )
        if view._store.project != self.project:
            raise InvalidArgumentError(
                f"{view!r} belongs to project {view._store.project!r}, not {self.project!r}"
            )
        if dataset_version is not None:
            check_version(dataset_version, "training dataset version")
        return view, view.training_dataset(dataset_version)


class _VersionFiles:
    """The verified files of one stored version, as flavors read them."""

    def __init__(self, artifacts: ArtifactStore, key: str, digest: str | None) -> None:
        self._artifacts, self._key, self._digest = artifacts, key, digest

    def __call__(self, path: str) -> bytes:
        return self._artifacts.read(self._key, path, self._digest)

    def open(self, path: str) -> BinaryIO:
        return self._artifacts.open(self._key, path, self._digest)


def _owner(entity: Entity) -> Owner | None:
    owner = entity.body.get("owner")
    if not isinstance(owner, Mapping):
        return None
    return Owner(str(owner.get("host")), int(owner.get("pid", 0)))


def _stuck_reason(entity: Entity, now: datetime) -> str | None:
    """Why a ``saving`` version is stuck, or None while its save may still be running."""
    owner = _owner(entity)
    if owner is not None and owner.alive() is False:
        return f"its save was interrupted: {owner} is gone"
    if now - entity.created_at > STUCK_AFTER:
        return f"saving since {entity.created_at:%Y-%m-%d %H:%M:%S} UTC, over {STUCK_AFTER}"
    return None


def _writer_done(entity: Entity, now: datetime) -> bool:
    """Whether no process can still be writing the files of a failed version."""
    owner = _owner(entity)
    return owner is None or owner.alive() is False or now - entity.created_at > STAGING_MAX_AGE


def _gave_up(body: Mapping[str, Any], failure: str) -> dict[str, Any]:
    """The body of a version whose own save failed: no process writes it any more."""
    kept = {k: v for k, v in body.items() if k not in ("owner", "artifact")}
    return {**kept, "state": FAILED, "failure": failure}


def _first(exc: BaseException) -> str:
    """The first line of an error, for a note."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _unfinished(entity: Entity, *, stuck: bool, note: str) -> UnfinishedVersion:
    state = str(entity.body.get("state"))
    return UnfinishedVersion(entity.name, entity.version, state, entity.created_at, stuck, note)


def _check_unsafe(flavor: flavors.Flavor, unsafe_pickle: bool) -> None:
    if flavor.unsafe and not unsafe_pickle:
        raise InvalidArgumentError(flavors.unsafe_message("save"))


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, not {value!r}")
    return value
