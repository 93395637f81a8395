"""Declared pipelines: ``@fti.pipeline`` on a function, and finding them in a module.

A pipeline is a function of the project and its parameters (and of ``scheduled_time`` when it
names it) with what the scheduler needs to run it: its kind, a cron schedule, what to do with
schedules missed while no scheduler ran, retries, a timeout and triggers.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fti.errors import ConfigError, InvalidArgumentError, NotFoundError
from fti.names import check_name

if TYPE_CHECKING:
    from fti.pipelines.triggers import Trigger
    from fti.project import Project

KINDS = ("feature", "training", "inference", "monitoring")
MISFIRES = ("skip", "catch_up")
SCHEDULED_TIME = "scheduled_time"


@dataclass(frozen=True)
class Pipeline:
    """A declared pipeline: call it like its function, or run it with :func:`run_pipeline`."""

    name: str
    kind: str
    function: Callable[..., Any] = field(repr=False)
    schedule: str | None = None
    """A cron expression (five fields, UTC): when the scheduler runs it."""
    params: dict[str, Any] = field(default_factory=dict)
    """Parameters and their defaults; a run may override them."""
    misfire: str = "skip"
    """After downtime: ``skip`` runs only the latest missed schedule, ``catch_up`` every one."""
    retries: int = 0
    """How many times a failed or timed-out run is tried again."""
    retry_delay: dt.timedelta = dt.timedelta(seconds=30)
    """The wait before the first retry; each next one waits twice as long."""
    timeout: dt.timedelta | None = None
    """A run still going after this is interrupted and recorded ``timed_out``."""
    triggers: tuple[Trigger, ...] = ()
    """Conditions that start a run between schedules (a monitor's alert, new labels)."""
    cooldown: dt.timedelta | None = None
    """After a triggered run, triggers are not checked again until this much time has passed
    (a retrain per degraded week would otherwise follow every week of a lasting change)."""
    description: str = ""

    def __call__(self, project: Project, **params: Any) -> Any:
        """Run the function directly, with no run record (for tests and notebooks)."""
        return self.function(project, **self.arguments(params))

    def arguments(
        self, given: Mapping[str, Any], scheduled_time: dt.datetime | None = None
    ) -> dict[str, Any]:
        """The keyword arguments of a call: the defaults, then ``given`` (known names only)."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise InvalidArgumentError(
                f"pipeline {self.name!r} has no parameter {', '.join(map(repr, unknown))} "
                f"(its parameters: {known})"
            )
        arguments = {**self.params, **given}
        if self._takes_scheduled_time:
            arguments[SCHEDULED_TIME] = scheduled_time or dt.datetime.now(dt.UTC)
        return arguments

    @property
    def _takes_scheduled_time(self) -> bool:
        return SCHEDULED_TIME in inspect.signature(self.function).parameters


def pipeline(
    kind: str,
    schedule: str | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    misfire: str = "skip",
    retries: int = 0,
    retry_delay: str | dt.timedelta = "30s",
    timeout: str | dt.timedelta | None = None,
    triggers: Sequence[Trigger] = (),
    cooldown: str | dt.timedelta | None = None,
) -> Callable[[Callable[..., Any]], Pipeline]:
    """Declare a pipeline: ``@fti.pipeline(kind="feature", schedule="0 * * * *")``.

    The function receives the project, then each parameter of ``params`` by keyword (defaults
    overridden by a run's), and ``scheduled_time`` (a UTC datetime) when it has a parameter of
    that name. ``kind`` is ``feature``, ``training``, ``inference`` or ``monitoring``;
    ``schedule`` a five-field cron expression in UTC; ``misfire`` ``skip`` or ``catch_up``;
    ``retry_delay``, ``timeout`` and ``cooldown`` (the least time between two triggered runs)
    durations such as ``"30s"`` or ``"1h"``. Its name is the function's unless ``name`` is
    given.
    """
    from fti.settings import parse_duration

    if kind not in KINDS:
        raise InvalidArgumentError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if schedule is not None:
        check_schedule(schedule)
    if misfire not in MISFIRES:
        raise InvalidArgumentError(f"misfire must be 'skip' or 'catch_up', not {misfire!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidArgumentError(f"retries must be a whole number >= 0, not {retries!r}")
    values = dict(params or {})
    for key, value in values.items():
        check_name(key, "parameter name")
        _check_json(value, f"parameter {key!r}")

    def duration(value: str | dt.timedelta, what: str) -> dt.timedelta:
        try:
            parsed = value if isinstance(value, dt.timedelta) else parse_duration(value, what)
        except ConfigError as exc:
            raise InvalidArgumentError(str(exc)) from exc
        if parsed <= dt.timedelta(0):
            raise InvalidArgumentError(f"{what} must be a positive duration, not {value!r}")
        return parsed

    def declare(function: Callable[..., Any]) -> Pipeline:
        if not callable(function):
            raise InvalidArgumentError(f"@fti.pipeline decorates a function, not {function!r}")
        declared = Pipeline(
            name=check_name(name or function.__name__, "pipeline name"),
            kind=kind,
            function=function,
            schedule=schedule,
            params=values,
            misfire=misfire,
            retries=retries,
            retry_delay=duration(retry_delay, "retry_delay"),
            timeout=None if timeout is None else duration(timeout, "timeout"),
            triggers=tuple(triggers),
            cooldown=None if cooldown is None else duration(cooldown, "cooldown"),
            description=inspect.getdoc(function) or "",
        )
        _check_signature(declared)
        return declared

    return declare


def check_schedule(schedule: str) -> str:
    """A valid five-field cron expression, or InvalidArgumentError."""
    from croniter import croniter

    if not isinstance(schedule, str) or len(schedule.split()) != 5:
        raise InvalidArgumentError(
            f"schedule {schedule!r} is not a cron expression of five fields "
            "(minute hour day-of-month month day-of-week), such as '0 * * * *'"
        )
    if not croniter.is_valid(schedule):
        raise InvalidArgumentError(f"schedule {schedule!r} is not a valid cron expression")
    return schedule


def _check_signature(declared: Pipeline) -> None:
    parameters = inspect.signature(declared.function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    missing = [p for p in declared.params if p not in parameters]
    if missing:
        raise InvalidArgumentError(
            f"pipeline {declared.name!r}: its function takes no parameter "
            f"{', '.join(map(repr, missing))} declared in params"
        )
    positional = [
        p
        for p in parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if not positional or any(
        p.name not in declared.params and p.name != SCHEDULED_TIME for p in positional[1:]
    ):
        raise InvalidArgumentError(
            f"pipeline {declared.name!r}: its function must take the project first, then only "
            f"its params and {SCHEDULED_TIME!r}"
        )


def _check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{what} must be a JSON value, not {value!r}") from exc


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``["k=v", ...]`` from a command line: each value is read as JSON (numbers, true, null,
    lists), else kept as text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--param takes KEY=VALUE, not {pair!r}")
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params


def load_pipelines(source: str) -> dict[str, Pipeline]:
    """The pipelines declared in ``source``, in declaration order: a file path (``x/y.py``)
    or a module name (``package.module``)."""
    if not source:
        raise ConfigError(
            "no pipelines module: set `pipelines` in fti.toml (or FTI_PIPELINES), or pass "
            "--pipelines with a file path or a module name"
        )
    module = _import(source)
    found: dict[str, Pipeline] = {}
    for value in vars(module).values():
        if isinstance(value, Pipeline):
            if value.name in found and found[value.name] is not value:
                raise ConfigError(f"{source} declares two pipelines named {value.name!r}")
            found[value.name] = value
    if not found:
        raise ConfigError(f"{source} declares no pipeline (decorate functions with @fti.pipeline)")
    return found


def find(pipelines: Mapping[str, Pipeline], name: str) -> Pipeline:
    """One pipeline by name; NotFoundError naming the declared ones."""
    if name not in pipelines:
        raise NotFoundError(f"no pipeline {name!r}; declared: {', '.join(pipelines)}")
    return pipelines[name]


def _import(source: str) -> Any:
    path = Path(source)
    if source.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"pipelines module {source} does not exist")
        resolved = path.resolve()
        for loaded in list(sys.modules.values()):
            # A module imported already (e.g. by the demo) is reused, not run a second time.
            file = getattr(loaded, "__file__", None)
            if file is not None and Path(file).resolve() == resolved:
                return loaded
        module_name = f"fti_pipelines_{abs(hash(str(resolved)))}"
        spec = importlib.util.spec_from_file_location(module_name, resolved)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        return module
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"cannot import pipelines module {source!r}: {exc}") from exc
