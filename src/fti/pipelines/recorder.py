"""Running a pipeline once and recording it: the one path every run takes, whoever starts it.

``fti run``, the scheduler and an orchestrator's task all call :func:`run_pipeline`: it takes
the pipeline's lock in the metadata store (one run of a pipeline at a time, on any machine),
records the run ``running``, calls the function with the project and the parameters while it
captures what the run prints and logs and listens for what it produces
(:mod:`fti.run_outputs`), renews the lock and a heartbeat from a thread, interrupts the
function at its timeout, and records the outcome.

A run interrupted by its timeout gets :class:`RunTimeout` raised inside its thread (at the next
Python instruction: a call blocked inside a C library is interrupted when it returns).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import io
import logging
import os
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from fti import run_outputs
from fti.errors import AlreadyExistsError, FtiError
from fti.pipelines import runs as records
from fti.pipelines.declare import SCHEDULED_TIME
from fti.pipelines.runs import Run, Runs, host_name

if TYPE_CHECKING:
    from fti.pipelines.declare import Pipeline
    from fti.project import Project

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = dt.timedelta(seconds=10)
"""How often a running run renews its lock and heartbeat."""
LOCK_TTL = dt.timedelta(seconds=60)
"""A run that has not renewed its lock for this long is dead: another may take the lock."""
LOG_LIMIT = 1 << 20
"""The captured log of a run keeps its last this many characters."""
LOCK_PREFIX = "pipeline:"


class RunTimeout(BaseException):
    """Raised inside a run's thread when its timeout passes (a BaseException, so that the
    pipeline's own ``except Exception`` does not swallow it)."""


def run_pipeline(
    project: Project,
    pipeline: Pipeline,
    params: Mapping[str, Any] | None = None,
    *,
    scheduled_time: dt.datetime | None = None,
    trigger: Mapping[str, Any] | None = None,
    timing: Timing | None = None,
) -> Run:
    """Run ``pipeline`` once and record it; returns the finished run.

    A failure of the function is recorded (``failed`` with its exception and log), not raised.
    AlreadyExistsError when another live run of the pipeline holds its lock. ``scheduled_time``
    (default: now) is passed to the function when it takes it; ``trigger`` says what started
    the run (default ``{"type": "manual"}``).
    """
    scheduled = scheduled_time or dt.datetime.now(dt.UTC)
    arguments = pipeline.arguments(params or {}, scheduled)
    lock = PipelineLock(project, pipeline.name, timing or Timing())
    if not lock.acquire():
        holder = lock.holder_run()
        raise AlreadyExistsError(
            f"pipeline {pipeline.name!r} is running already"
            + (f" (run {holder})" if holder else "")
            + ": one run of a pipeline at a time"
        )
    try:
        store = Runs(project.name, project.metadata_store)
        run = store.create(
            pipeline.name,
            pipeline.kind,
            status=records.RUNNING,
            params=_recorded(arguments),
            trigger=trigger or {"type": "manual"},
            scheduled_time=scheduled,
        )
        return execute(project, store, pipeline, run, arguments, lock)
    finally:
        lock.release()


def start_queued(project: Project, pipeline: Pipeline, run: Run, lock: PipelineLock) -> Run:
    """Start a queued run while the caller holds the pipeline's lock; returns it finished."""
    store = Runs(project.name, project.metadata_store)
    now = dt.datetime.now(dt.UTC)
    started = replace(
        run, status=records.RUNNING, started_at=now, host=host_name(), pid=os.getpid()
    )
    try:
        arguments = pipeline.arguments(run.params, run.scheduled_time)
    except FtiError as exc:  # the declaration changed since the run was queued
        return store.save(replace(started, status=records.FAILED, ended_at=now, error=_error(exc)))
    return execute(project, store, pipeline, store.save(started), arguments, lock)


class Timing:
    """Heartbeat and lock timings (tests shorten them)."""

    def __init__(
        self, heartbeat_every: dt.timedelta = HEARTBEAT_EVERY, lock_ttl: dt.timedelta = LOCK_TTL
    ) -> None:
        self.heartbeat_every = heartbeat_every
        self.lock_ttl = lock_ttl


class PipelineLock:
    """The metadata-store lock that lets one run of a pipeline go at a time."""

    def __init__(self, project: Project, pipeline: str, timing: Timing) -> None:
        self._metadata = project.metadata_store
        self._project = project.name
        self._pipeline = pipeline
        self.timing = timing
        self.owner = f"{host_name()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        """Take the lock; a holder known dead (its process gone from this host) loses it."""
        name = LOCK_PREFIX + self._pipeline
        held = self._metadata.lock(self._project, name, self.owner, self.timing.lock_ttl)
        if held.owner == self.owner:
            return True
        if owner_alive(held.owner) is False:
            taken = self._metadata.lock(
                self._project, name, self.owner, self.timing.lock_ttl, take_from=held.owner
            )
            return taken.owner == self.owner
        return False

    def renew(self) -> bool:
        """Extend the lock; False when it was lost (expired and taken by another)."""
        name = LOCK_PREFIX + self._pipeline
        held = self._metadata.lock(self._project, name, self.owner, self.timing.lock_ttl)
        return held.owner == self.owner

    def release(self) -> None:
        """Let the lock go."""
        self._metadata.unlock(self._project, LOCK_PREFIX + self._pipeline, self.owner)

    def holder_run(self) -> str | None:
        """The run holding the lock now, as ``PIPELINE:N`` (the latest running one)."""
        for run in Runs(self._project, self._metadata).list(self._pipeline, limit=5):
            if run.status == records.RUNNING:
                return run.id
        return None


def owner_alive(owner: str) -> bool | None:
    """Whether the process of a lock owner ``host:pid:token`` runs; None on another host."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return process_alive(parts[0], int(parts[1]))


def process_alive(host: str | None, pid: int | None) -> bool | None:
    """Whether process ``pid`` of ``host`` runs; None when that cannot be known from here."""
    if host != host_name() or pid is None:
        return None
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def execute(
    project: Project,
    store: Runs,
    pipeline: Pipeline,
    run: Run,
    arguments: dict[str, Any],
    lock: PipelineLock,
) -> Run:
    """Call the function of a ``running`` run and record how it ended."""
    outputs = _Outputs(store, run)
    capture = _Capture()
    status, error = records.SUCCEEDED, None
    with _heartbeat(store, run, lock), capture.installed(), run_outputs.listening(outputs):
        try:
            with _deadline(pipeline.timeout):
                pipeline.function(project, **arguments)
        except RunTimeout:
            status = records.TIMED_OUT
            error = {
                "type": "RunTimeout",
                "message": f"timed out after {pipeline.timeout}",
                "traceback": "",
            }
        except (KeyboardInterrupt, SystemExit) as exc:
            status = records.CANCELLED
            error = _error(exc)
            capture.write(traceback.format_exc())
            finished = _finish(store, run, status, error, capture)
            raise _Cancelled(finished) from exc
        except Exception as exc:
            status = records.FAILED
            error = _error(exc)
            capture.write(traceback.format_exc())
    return _finish(store, run, status, error, capture)


class _Cancelled(KeyboardInterrupt):
    """A run interrupted by Ctrl-C or SIGTERM: recorded ``cancelled``, then the interrupt
    goes on."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"run {run.id} cancelled")
        self.run = run


def _finish(
    store: Runs, run: Run, status: str, error: dict[str, Any] | None, capture: _Capture
) -> Run:
    finished = store.save(
        replace(run, status=status, ended_at=dt.datetime.now(dt.UTC), error=error)
    )
    text = capture.text()
    if text:
        store.save_logs(finished, text)
    if status != records.SUCCEEDED:
        logger.warning("run %s %s: %s", run.id, status, (error or {}).get("message", ""))
    return finished


def _recorded(arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k != SCHEDULED_TIME}


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


class _Outputs:
    """Records each output a run reports, as it is reported."""

    def __init__(self, store: Runs, run: Run) -> None:
        self._store = store
        self._run = run
        self._count = 0
        self._guard = threading.Lock()

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        with self._guard:
            self._count += 1
            sequence = self._count
        self._store.add_output(self._run, sequence, kind, fields)


@contextmanager
def _heartbeat(store: Runs, run: Run, lock: PipelineLock) -> Iterator[None]:
    """Renew the lock and the heartbeat every ``heartbeat_every`` while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lock.timing.heartbeat_every.total_seconds()):
            try:
                if not lock.renew():
                    logger.error("run %s lost its lock (no heartbeat for too long)", run.id)
                store.heartbeat(run)
            except Exception:  # a store hiccup must not kill the heartbeat thread
                logger.exception("run %s: heartbeat failed", run.id)

    thread = threading.Thread(target=beat, name=f"fti-heartbeat-{run.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def _deadline(timeout: dt.timedelta | None) -> Iterator[None]:
    """Raise RunTimeout in this thread once ``timeout`` has passed inside the block."""
    if timeout is None:
        yield
        return
    target = threading.get_ident()
    guard = threading.Lock()
    done = False

    def expire() -> None:
        with guard:
            if not done:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(RunTimeout)
                )

    timer = threading.Timer(timeout.total_seconds(), expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with guard:
            done = True
        timer.cancel()


class _Capture:
    """What the run's thread prints (stdout, stderr) and logs, in order, up to LOG_LIMIT."""

    _active: ClassVar[dict[int, _Capture]] = {}
    _saved: ClassVar[tuple[TextIO, TextIO] | None] = None
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._dropped = 0
        self._handler = _Handler(self, threading.get_ident())

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        while self._size > LOG_LIMIT and len(self._parts) > 1:
            dropped = self._parts.pop(0)
            self._size -= len(dropped)
            self._dropped += len(dropped)

    def text(self) -> str:
        text = "".join(self._parts)[-LOG_LIMIT:]
        if self._dropped or len(text) < self._size:
            dropped = self._dropped + self._size - len(text)
            return f"[the first {dropped:,} characters were dropped]\n{text}"
        return text

    @contextmanager
    def installed(self) -> Iterator[None]:
        thread = threading.get_ident()
        cls = type(self)
        with cls._guard:
            if not cls._active:
                cls._saved = (sys.stdout, sys.stderr)
                sys.stdout = _Tee(sys.stdout)
                sys.stderr = _Tee(sys.stderr)
            cls._active[thread] = self
        logging.getLogger().addHandler(self._handler)
        try:
            yield
        finally:
            logging.getLogger().removeHandler(self._handler)
            with cls._guard:
                del cls._active[thread]
                if not cls._active and cls._saved is not None:
                    # Restored only if nobody replaced them since (a test runner may have).
                    if isinstance(sys.stdout, _Tee):
                        sys.stdout = cls._saved[0]
                    if isinstance(sys.stderr, _Tee):
                        sys.stderr = cls._saved[1]
                    cls._saved = None


class _Tee(io.TextIOBase):
    """A stream that passes everything on and copies what a capturing thread writes."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        capture = _Capture._active.get(threading.get_ident())
        if capture is not None:
            capture.write(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding


class _Handler(logging.Handler):
    """Copies the log records of one thread into its capture."""

    def __init__(self, capture: _Capture, thread: int) -> None:
        super().__init__()
        self._capture = capture
        self._thread = thread
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self._capture.write(self.format(record) + "\n")
