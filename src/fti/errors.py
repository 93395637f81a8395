"""The fti error tree. Every error a user can cause is an :class:`FtiError`.

::

    FtiError                      code            http
    ├── ConfigError               config_error     500
    ├── MissingDependencyError    missing_dependency 500
    ├── InvalidNameError          invalid_name     422
    ├── InvalidArgumentError      invalid_argument 422
    ├── NotFoundError             not_found        404
    │   └── KeyNotFoundError      key_not_found    404
    ├── AlreadyExistsError        already_exists   409
    ├── SchemaError               schema_error     422
    ├── DataValidationError       validation_failed 422
    ├── ExpectationError          invalid_expectation 422
    ├── QueryError                query_error      422
    ├── TransformationError       transformation_error 422
    ├── PromotionError            promotion_refused 409
    ├── ArtifactIntegrityError    artifact_integrity 409
    ├── StoreError                store_error      503
    ├── EngineError               engine_error     503
    ├── UnauthenticatedError      unauthenticated  401
    └── PermissionDeniedError     permission_denied 403

Each class carries a stable ``code`` and the HTTP status the server answers with, so one
handler maps them and a REST client can raise the same class again.

Warnings (``UserWarning`` subclasses, not errors)::

    NaiveTimestampWarning         an insert took time-zone-naive timestamps as UTC
"""

from __future__ import annotations

from typing import Any, ClassVar


class FtiError(Exception):
    """Base class of every error fti raises on purpose."""

    code: ClassVar[str] = "fti_error"
    http_status: ClassVar[int] = 500


class ConfigError(FtiError):
    """A setting, fti.toml entry or backend URL is invalid."""

    code = "config_error"


class MissingDependencyError(FtiError):
    """An optional dependency is needed; the message names the extra to install."""

    code = "missing_dependency"

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module!r} is not installed; it is needed here. Install it with: "
            f"pip install 'fti[{extra}]'"
        )
        self.module = module
        self.extra = extra


class InvalidNameError(FtiError):
    """A project, group, view, model or feature name breaks the naming rule."""

    code = "invalid_name"
    http_status = 422


class InvalidArgumentError(FtiError, ValueError):
    """An argument has a value the function does not accept (e.g. an unknown return_type)."""

    code = "invalid_argument"
    http_status = 422


class NotFoundError(FtiError):
    """The named object (group, view, model, version, commit...) does not exist."""

    code = "not_found"
    http_status = 404


class KeyNotFoundError(NotFoundError):
    """An entity key has no row in the online store."""

    code = "key_not_found"


class AlreadyExistsError(FtiError):
    """An object with this name and version exists already."""

    code = "already_exists"
    http_status = 409


class SchemaError(FtiError):
    """Input data does not fit a schema: missing, unknown or lossy columns, null keys."""

    code = "schema_error"
    http_status = 422


class DataValidationError(FtiError):
    """Input data failed the group's expectations; ``report`` says which rows and checks."""

    code = "validation_failed"
    http_status = 422

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


class ExpectationError(FtiError):
    """Expectations cannot be stored with a group (e.g. a custom, unserializable check), or
    cannot be checked where asked (a check of the whole batch on the ray engine)."""

    code = "invalid_expectation"
    http_status = 422


class QueryError(FtiError):
    """A query or join cannot be built as asked."""

    code = "query_error"
    http_status = 422


class TransformationError(FtiError):
    """A transformation is invalid or gives different results online and offline."""

    code = "transformation_error"
    http_status = 422


class PromotionError(FtiError):
    """A model version cannot take an alias; ``problems`` lists each reason."""

    code = "promotion_refused"
    http_status = 409

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ArtifactIntegrityError(FtiError):
    """A stored artifact file is missing or does not match its manifest.

    409 over HTTP: what is stored conflicts with what was saved, which asking again does not
    mend (a 5xx would tell clients to retry); the version is saved again or deleted.
    """

    code = "artifact_integrity"
    http_status = 409


class StoreError(FtiError):
    """A backend store failed or is unreachable."""

    code = "store_error"
    http_status = 503


class EngineError(FtiError):
    """A distributed engine could not run a job: its cluster is unreachable, or a worker or
    node was lost and the engine's retries did not recover it. Nothing was written."""

    code = "engine_error"
    http_status = 503


class UnauthenticatedError(FtiError):
    """No valid API key (missing, unknown, expired or revoked)."""

    code = "unauthenticated"
    http_status = 401


class PermissionDeniedError(FtiError):
    """A valid key without the role, project or write access the call needs."""

    code = "permission_denied"
    http_status = 403


class NaiveTimestampWarning(UserWarning):
    """Inserted timestamps had no time zone; fti took them as UTC (the message names the
    columns). Give them a zone to say so, e.g. pandas ``.dt.tz_localize("UTC")``."""
