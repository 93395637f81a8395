"""Project: opens the stores and hands them to the services; no logic of its own.

Stores and services are opened on first use: a command that lists models needs the metadata
store only, and never loads Delta Lake, DuckDB or pandas.
"""

from __future__ import annotations

from functools import cached_property, partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from fti.errors import ConfigError, NotFoundError
from fti.names import check_project_name
from fti.settings import Settings
from fti.stores.metadata import MetadataStore, open_metadata_store
from fti.stores.metadata.remote import RemoteMetadataStore
from fti.stores.server_client import ServerClient

if TYPE_CHECKING:
    from fti.engines import Engine
    from fti.feature_store.feature_store import FeatureStore
    from fti.model_registry.registry import ModelRegistry
    from fti.monitoring.monitors import Monitoring
    from fti.stores.artifacts import ArtifactStore
    from fti.stores.offline import OfflineStore
    from fti.stores.online import OnlineStore


class Project:
    """One namespace of feature groups, views and models inside an fti home."""

    def __init__(self, name: str, settings: Settings, *, create: bool = True) -> None:
        self.name = check_project_name(name)
        self.settings = settings
        self.metadata_store: MetadataStore = _open_metadata(settings, name, create)
        self._engines: dict[str, Engine] = {}

    @cached_property
    def offline_store(self) -> OfflineStore:
        """The offline store (Delta tables)."""
        if self.settings.url:
            from fti.stores.offline.remote import RemoteOfflineStore

            settings = self.settings
            return RemoteOfflineStore(self._server, settings.cache_path, settings.cache_size_limit)
        from fti.stores.offline import open_offline_store

        settings = self.settings
        return open_offline_store(
            settings.offline_url,
            home=settings.home,
            cache_dir=settings.cache_path,
            max_cache_bytes=settings.cache_size_limit,
            allow_unsafe_s3_commits=settings.unsafe_s3_commits_allowed,
        )

    def engine(self, name: str | None = None) -> Engine:
        """The engine ``name`` (``"local"``, ``"ray"``; the settings' ``engine`` when None),
        opened once; Ray is imported only here, for the ray engine."""
        from fti.settings import ENGINES

        name = name or self.settings.engine
        if name not in ENGINES:
            raise ConfigError(f"engine {name!r} is not one of {', '.join(ENGINES)}")
        if name == "ray" and self.settings.url:
            # Ray's workers read the offline store's files themselves; a server's store is not
            # theirs to open, and a default local path would be the wrong table.
            raise ConfigError(
                "the ray engine reads the offline store from its workers, which a project "
                f"opened through fti server ({self.settings.url}) does not give them: use "
                "the local engine here, or open the project with the store URLs "
                "(FTI_OFFLINE_URL, FTI_METADATA_URL...) on the cluster"
            )
        if name not in self._engines:
            if name == "ray":
                from fti.engines.ray import RayEngine
                from fti.stores.offline import open_offline_store

                settings = self.settings
                # Workers open the same offline store; its files are copied to their caches.
                opener = partial(
                    open_offline_store,
                    settings.offline_url,
                    home=settings.home,
                    cache_dir=settings.cache_path,
                    max_cache_bytes=settings.cache_size_limit,
                    allow_unsafe_s3_commits=settings.unsafe_s3_commits_allowed,
                )
                self._engines[name] = RayEngine(opener, settings.ray_address, settings.partitions)
            else:
                from fti.engines import LocalEngine

                self._engines[name] = LocalEngine()
        return self._engines[name]

    @cached_property
    def online_store(self) -> OnlineStore:
        """The online store (latest row per key)."""
        if self.settings.url:
            from fti.stores.online.remote import RemoteOnlineStore

            return RemoteOnlineStore(self._server)
        from fti.stores.online import open_online_store

        return open_online_store(self.settings.online_url)

    @cached_property
    def artifact_store(self) -> ArtifactStore:
        """The artifact store (model files)."""
        if self.settings.url:
            from fti.stores.artifacts.remote import RemoteArtifactStore

            return RemoteArtifactStore(self._server)
        from fti.stores.artifacts import open_artifact_store

        return open_artifact_store(self.settings.artifacts_url)

    @property
    def _server(self) -> ServerClient:
        """The connections to the fti server of ``settings.url``."""
        store = self.metadata_store
        assert isinstance(store, RemoteMetadataStore)
        return store.client

    @cached_property
    def feature_store(self) -> FeatureStore:
        """Feature groups and feature views."""
        from fti.feature_store.feature_store import FeatureStore
        from fti.feature_store.ingest import InsertLimits
        from fti.feature_store.maintenance import MaintenancePolicy
        from fti.monitoring.monitors import Monitoring

        store = FeatureStore(
            self.name,
            self.offline_store,
            self.online_store,
            self.metadata_store,
            limits=InsertLimits(self.settings.event_time_horizon, self.settings.value_size_limit),
            maintenance=MaintenancePolicy(
                self.settings.retention_period, self.settings.maintenance_every
            ),
            engines=self.engine,
        )
        # fv.models() and fv.create_monitor() reach services above the feature store through
        # these hooks, so that feature_store never imports model_registry or monitoring.
        store._models_of_view = self.model_registry.models_of_view
        store._monitoring = Monitoring(self.name, store, self.metadata_store)
        return store

    @cached_property
    def model_registry(self) -> ModelRegistry:
        """Models, their versions, aliases and lineage."""
        from fti.model_registry.registry import ModelRegistry

        return ModelRegistry(
            self.name, self.metadata_store, self.artifact_store, lambda: self.feature_store
        )

    @property
    def monitoring(self) -> Monitoring:
        """Feature and model monitors."""
        monitoring: Monitoring = self.feature_store._monitoring
        return monitoring

    def close(self) -> None:
        """Release the stores' connections."""
        if "online_store" in self.__dict__:
            self.online_store.close()
        self.metadata_store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.settings.url:
            return f"Project(name={self.name!r}, url={self.settings.url!r})"
        return f"Project(name={self.name!r}, home={str(self.settings.home)!r})"


def connect(
    home: str | Path | None = None,
    project: str | None = None,
    *,
    online_url: str | None = None,
    metadata_url: str | None = None,
    offline_url: str | None = None,
    artifacts_url: str | None = None,
    max_event_time_ahead: str | None = None,
    max_value_bytes: str | None = None,
    time_travel_retention: str | None = None,
    offline_maintenance_interval: str | None = None,
    cache_dir: str | None = None,
    max_cache_bytes: str | None = None,
    allow_unsafe_s3_commits: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    engine: str | None = None,
    ray_address: str | None = None,
    ray_partitions: str | None = None,
    create: bool = True,
) -> Project:
    """Open a project. Home: ``home``, else ``$FTI_HOME``, else ``./.fti``.

    Through an fti server: ``connect("http://host:8080", api_key=...)`` (or ``url=``, or
    ``$FTI_URL`` and ``$FTI_API_KEY``) returns the same project, its stores reached through
    the server with the key's rights; the store URLs are then the server's business.

    The project is ``project``, else ``$FTI_PROJECT``, else ``project`` in ``<home>/fti.toml``,
    else ``"default"``. Store URLs come from the arguments, ``FTI_*_URL`` variables or
    ``<home>/fti.toml``; without any, embedded stores under the home folder are used. The
    limits of inserted data (``max_event_time_ahead``, default ``"1d"``; ``max_value_bytes``,
    default ``"1MiB"``) come from the same sources, as do the local cache of files on object
    storage (``cache_dir``, default ``<home>/cache``; ``max_cache_bytes``, default ``"10GiB"``)
    and ``allow_unsafe_s3_commits`` (default ``"false"``).
    Maintenance of the offline tables keeps every version of ``time_travel_retention``
    (default ``"7d"``) and runs after every ``offline_maintenance_interval``-th commit of a
    group (default ``"20"``; ``"0"``: only ``fti maintenance``).
    With ``create=False`` nothing is created: NotFoundError when the home or the project does
    not exist (the message lists the projects there are; through a server, those the key may
    use).
    """
    if isinstance(home, str) and home.startswith(("http://", "https://")):
        home, url = None, url or home
    settings = Settings.load(
        home,
        project=project,
        online_url=online_url,
        metadata_url=metadata_url,
        offline_url=offline_url,
        artifacts_url=artifacts_url,
        max_event_time_ahead=max_event_time_ahead,
        max_value_bytes=max_value_bytes,
        time_travel_retention=time_travel_retention,
        offline_maintenance_interval=offline_maintenance_interval,
        cache_dir=cache_dir,
        max_cache_bytes=max_cache_bytes,
        allow_unsafe_s3_commits=allow_unsafe_s3_commits,
        url=url,
        api_key=api_key,
        engine=engine,
        ray_address=ray_address,
        ray_partitions=ray_partitions,
    )
    return Project(settings.project, settings, create=create)


def _open_metadata(settings: Settings, project: str, create: bool) -> MetadataStore:
    """The metadata store; unless ``create``, only when it and the project exist already."""
    if settings.url:
        # Projects are made on the server by an admin: with ``create``, one the key may not
        # use is refused there on first use (403); without, here, as one that does not exist.
        remote = RemoteMetadataStore(ServerClient(settings.url, settings.api_key or None))
        if not create:
            _require_project(remote, project, f"on {settings.url} (or your key may not use it)")
        return remote
    if create:
        return open_metadata_store(settings.metadata_url)
    how = "run `fti demo`, or fti.connect() and create a feature group in Python"
    try:
        store = open_metadata_store(settings.metadata_url, create=False)
    except NotFoundError as exc:
        raise NotFoundError(f"no fti project here: {exc} (home {settings.home}); {how}") from exc
    _require_project(store, project, f"in {settings.home}")
    return store


def _require_project(store: MetadataStore, project: str, where: str) -> None:
    """NotFoundError listing the projects ``store`` shows, unless ``project`` is one of them
    (the store is closed then)."""
    try:
        projects = store.projects()
    except BaseException:
        store.close()
        raise
    if project not in projects:
        store.close()
        there = f"projects there: {', '.join(projects)}" if projects else "it has no projects yet"
        raise NotFoundError(
            f"project {project!r} does not exist {where}; {there} "
            "(choose one with --project or FTI_PROJECT)"
        )
