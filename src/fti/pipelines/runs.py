"""Run records: every run of a pipeline, what it was asked, how it went, what it produced.

A run is a metadata entity of kind ``pipeline_run`` named after its pipeline, numbered 1, 2...
per pipeline (the store allocates numbers atomically). Its body holds the status, times,
parameters, host, attempt and the exception of a failure; records attached to it hold the
captured log, the heartbeat and each output (a commit, training dataset, model version,
predictions, monitor result or champion/challenger decision). Each commit, training dataset
and model version a run made is also indexed (kind ``run_output``), so the run that made one
is a single look-up: lineage at the run level.
"""

from __future__ import annotations

import builtins
import datetime as dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fti.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from fti.names import check_name
from fti.stores.metadata.base import Entity, MetadataStore

KIND = "pipeline_run"
INDEX_KIND = "run_output"
QUEUED, RUNNING, SUCCEEDED, FAILED, TIMED_OUT, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
)
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, TIMED_OUT, CANCELLED)
FINISHED = (SUCCEEDED, FAILED, TIMED_OUT, CANCELLED)
INDEXED = {"commit": "group", "training_dataset": "view", "model": "name"}
"""Outputs that the run-level lineage finds, and the field naming what they belong to."""
_LOG, _HEARTBEAT, _OUTPUT = "log", "heartbeat", "output"


@dataclass(frozen=True)
class Run:
    """One run of a pipeline, as recorded."""

    pipeline: str
    number: int
    kind: str
    status: str
    """queued, running, succeeded, failed, timed_out or cancelled."""
    trigger: dict[str, Any]
    """What started it: ``{"type": "manual"}``, ``schedule``, ``retry``, ``monitor``,
    ``labels``, ``dagster``, with the details of that trigger."""
    params: dict[str, Any]
    scheduled_time: dt.datetime | None
    queued_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    host: str | None
    pid: int | None
    attempt: int
    error: dict[str, Any] | None
    """``{"type", "message", "traceback"}`` of a run that did not succeed."""
    not_before: dt.datetime | None = None
    """A queued retry waits until then."""

    @property
    def id(self) -> str:
        """``PIPELINE:NUMBER``, as the command line takes it."""
        return f"{self.pipeline}:{self.number}"

    @property
    def duration(self) -> dt.timedelta | None:
        """From start to end (None until both are known)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def to_body(self) -> dict[str, Any]:
        """The JSON body stored in the metadata store."""
        return {
            "kind": self.kind,
            "status": self.status,
            "trigger": self.trigger,
            "params": self.params,
            "scheduled_time": _iso(self.scheduled_time),
            "queued_at": _iso(self.queued_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "duration_seconds": None if self.duration is None else self.duration.total_seconds(),
            "host": self.host,
            "pid": self.pid,
            "attempt": self.attempt,
            "error": self.error,
            "not_before": _iso(self.not_before),
        }

    @classmethod
    def from_entity(cls, entity: Entity) -> Run:
        """The run stored as ``entity``."""
        body = entity.body
        return cls(
            pipeline=entity.name,
            number=entity.version,
            kind=body["kind"],
            status=body["status"],
            trigger=dict(body.get("trigger") or {}),
            params=dict(body.get("params") or {}),
            scheduled_time=_time(body.get("scheduled_time")),
            queued_at=_time(body.get("queued_at")) or entity.created_at,
            started_at=_time(body.get("started_at")),
            ended_at=_time(body.get("ended_at")),
            host=body.get("host"),
            pid=body.get("pid"),
            attempt=int(body.get("attempt", 1)),
            error=body.get("error"),
            not_before=_time(body.get("not_before")),
        )


@dataclass(frozen=True)
class Output:
    """One thing a run produced: ``kind`` (commit, training_dataset, model, predictions,
    monitor, decision) and its fields."""

    kind: str
    fields: dict[str, Any]
    at: dt.datetime

    def describe(self) -> str:
        """The output in a line, e.g. ``commit 12 of flights v1 (1,234 rows)``."""
        f = self.fields
        if self.kind == "commit":
            return (
                f"commit {f['commit']} of {f['group']} v{f['group_version']} ({f['rows']:,} rows)"
            )
        if self.kind == "training_dataset":
            return (
                f"training dataset {f['version']} of {f['view']} v{f['view_version']} "
                f"({f['rows']:,} rows)"
            )
        if self.kind == "model":
            return f"model {f['name']} v{f['version']}"
        if self.kind == "predictions":
            commits = ", ".join(map(str, f.get("commits", []))) or "-"
            return (
                f"{f['rows']:,} predictions of {f['model']} v{f['model_version']} in "
                f"{f['group']} (commit {commits})"
            )
        if self.kind == "monitor":
            crossed = f": {'; '.join(f['crossed'])}" if f.get("crossed") else ""
            return f"monitor {f['monitor']} window to {f['window_end']}: {f['status']}{crossed}"
        if self.kind == "decision":
            return str(f.get("summary", f))
        return f"{self.kind} {f}"


class Runs:
    """The run records of one project."""

    def __init__(self, project: str, metadata: MetadataStore) -> None:
        self._project = project
        self._metadata = metadata

    def __repr__(self) -> str:
        return f"Runs(project={self._project!r})"

    def create(
        self,
        pipeline: str,
        kind: str,
        *,
        status: str,
        params: Mapping[str, Any],
        trigger: Mapping[str, Any],
        scheduled_time: dt.datetime | None,
        attempt: int = 1,
        not_before: dt.datetime | None = None,
    ) -> Run:
        """Record a new run (``queued``, or ``running`` on this host and process)."""
        now = dt.datetime.now(dt.UTC)
        running = status == RUNNING
        run = Run(
            pipeline=pipeline,
            number=0,
            kind=kind,
            status=status,
            trigger=dict(trigger),
            params=dict(params),
            scheduled_time=scheduled_time,
            queued_at=now,
            started_at=now if running else None,
            ended_at=None,
            host=host_name() if running else None,
            pid=os.getpid() if running else None,
            attempt=attempt,
            error=None,
            not_before=not_before,
        )
        entity = self._metadata.create(KIND, self._project, pipeline, None, run.to_body())
        return Run.from_entity(entity)

    def save(self, run: Run) -> Run:
        """Store ``run``'s new state (status, times, error)."""
        self._metadata.update(KIND, self._project, run.pipeline, run.number, run.to_body())
        return run

    def get(self, ref: str) -> Run:
        """A run by ``PIPELINE:NUMBER``, or the latest run of ``PIPELINE``."""
        pipeline, number = parse_ref(ref)
        try:
            entity = self._metadata.get(KIND, self._project, pipeline, number)
        except NotFoundError as exc:
            which = "has no runs" if number is None else f"has no run {number}"
            raise NotFoundError(
                f"pipeline {pipeline!r} {which} in project {self._project!r}"
            ) from exc
        return Run.from_entity(entity)

    def list(
        self, pipeline: str | None = None, *, status: str | None = None, limit: int | None = None
    ) -> builtins.list[Run]:
        """Runs of ``pipeline`` (or of every pipeline), newest first."""
        if pipeline is not None:
            check_name(pipeline, "pipeline name")
        if status is not None and status not in STATUSES:
            raise InvalidArgumentError(
                f"status must be one of {', '.join(STATUSES)}, not {status!r}"
            )
        runs = [Run.from_entity(e) for e in self._metadata.list(KIND, self._project, pipeline)]
        if status is not None:
            runs = [r for r in runs if r.status == status]
        runs.sort(key=lambda r: (r.queued_at, r.pipeline, r.number), reverse=True)
        return runs if limit is None else runs[:limit]

    def last(self, pipeline: str) -> Run | None:
        """The latest run of ``pipeline``, or None."""
        try:
            return Run.from_entity(self._metadata.get(KIND, self._project, pipeline))
        except NotFoundError:
            return None

    def logs(self, run: Run) -> str:
        """What the run printed and logged (the end of it, past the size limit)."""
        records = self._records(run, _LOG)
        return str(records[-1].body["text"]) if records else ""

    def save_logs(self, run: Run, text: str) -> None:
        """Keep the captured log of ``run``."""
        self._add_record(run, _LOG, "log", {"text": text})

    def outputs(self, run: Run) -> builtins.list[Output]:
        """What the run produced, in order."""
        return [
            Output(r.body["kind"], dict(r.body["fields"]), r.created_at)
            for r in self._records(run, _OUTPUT)
        ]

    def add_output(self, run: Run, sequence: int, kind: str, fields: Mapping[str, Any]) -> None:
        """Record an output of ``run``, and index it when lineage finds its kind."""
        self._add_record(run, _OUTPUT, f"{sequence:08d}", {"kind": kind, "fields": dict(fields)})
        key = _index_key(kind, fields)
        if key is None:
            return
        body = {"pipeline": run.pipeline, "run": run.number}
        try:
            self._metadata.create(INDEX_KIND, self._project, key, 1, body)
        except AlreadyExistsError:
            self._metadata.update(INDEX_KIND, self._project, key, 1, body)

    def made(self, kind: str, name: str, ident: int, *, version: int = 1) -> Run:
        """The run that made commit ``ident`` of feature group ``name`` (``kind="commit"``),
        training dataset ``ident`` of feature view ``name`` (``"training_dataset"``), or version
        ``ident`` of model ``name`` (``"model"``); ``version`` is the group's or view's."""
        if kind not in INDEXED:
            raise InvalidArgumentError(f"kind must be one of {', '.join(INDEXED)}, not {kind!r}")
        fields = {"group": name, "view": name, "name": name, "group_version": version}
        key = _index_key(
            kind, {**fields, "view_version": version, "commit": ident, "version": ident}
        )
        assert key is not None
        try:
            entity = self._metadata.get(INDEX_KIND, self._project, key, 1)
        except NotFoundError as exc:
            what = "model version" if kind == "model" else kind.replace("_", " ")
            raise NotFoundError(
                f"no run recorded making {what} {ident} of {name!r} (it was made outside a "
                "pipeline run, or does not exist)"
            ) from exc
        return self.get(f"{entity.body['pipeline']}:{entity.body['run']}")

    def heartbeat(self, run: Run) -> None:
        """Record that ``run``'s process is alive now."""
        self._add_record(run, _HEARTBEAT, "last", {"at": _iso(dt.datetime.now(dt.UTC))})

    def last_heartbeat(self, run: Run) -> dt.datetime | None:
        """When ``run``'s process last said it was alive (its start when it never did)."""
        records = self._records(run, _HEARTBEAT)
        return _time(records[-1].body["at"]) if records else run.started_at

    def _records(self, run: Run, record_kind: str) -> builtins.list[Any]:
        return self._metadata.records(KIND, self._project, run.pipeline, run.number, record_kind)

    def _add_record(self, run: Run, record_kind: str, key: str, body: Mapping[str, Any]) -> None:
        self._metadata.add_record(
            KIND, self._project, run.pipeline, run.number, record_kind, key, body
        )


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``PIPELINE:NUMBER`` or ``PIPELINE`` -> (pipeline, number or None)."""
    name, sep, number = ref.partition(":")
    check_name(name, "pipeline name")
    if not sep:
        return name, None
    if not number.isdigit() or int(number) < 1:
        raise InvalidArgumentError(f"a run is PIPELINE:NUMBER (NUMBER from 1), not {ref!r}")
    return name, int(number)


def host_name() -> str:
    """This machine's name, as runs and locks record it."""
    return socket.gethostname()


def _index_key(kind: str, fields: Mapping[str, Any]) -> str | None:
    if kind == "commit":
        return f"commit:{fields['group']}:{fields['group_version']}:{fields['commit']}"
    if kind == "training_dataset":
        return f"training_dataset:{fields['view']}:{fields['view_version']}:{fields['version']}"
    if kind == "model":
        return f"model:{fields['name']}:{fields['version']}"
    return None


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)
