"""The scheduler: runs declared pipelines when their cron schedule or a trigger says so.

At each tick, for each pipeline in declaration order, it takes the pipeline's lock in the
metadata store (a pipeline another scheduler or run holds is left for later), queues a run
for each schedule that came due since its cursor (``skip``: only the latest of several missed
ones; ``catch_up``: every one), and one per trigger event, then runs what is queued, one at a
time. A failed or timed-out run is queued again ``retries`` times, after ``retry_delay``
doubling each time.

Its state (cursor, queued runs, last trigger events) is an entity per pipeline and timeline in
the metadata store, written before queued runs start and after a run that did not succeed, so
a scheduler killed at any point resumes where it was: the runs its death interrupted are
marked failed (their process is gone, or their heartbeat stopped) and run again, and no
schedule runs twice. A run that succeeded leaves the queue with the next write
(one write per scheduled run, not two): until then its number heads the stored queue, and
whoever reads it there finds it succeeded and drops it.

Time is the wall clock, or simulated: :meth:`Scheduler.simulate` steps through the schedules
of a past range as fast as the runs go (backfills, the demo), on a timeline of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from croniter import croniter

from fti.errors import InvalidArgumentError, NotFoundError
from fti.pipelines import runs as records
from fti.pipelines.recorder import PipelineLock, Timing, process_alive, start_queued
from fti.pipelines.runs import Run, Runs

if TYPE_CHECKING:
    from fti.pipelines.declare import Pipeline
    from fti.project import Project

logger = logging.getLogger(__name__)

STATE_KIND = "pipeline_schedule"
LIVE = "live"
POLL = dt.timedelta(seconds=30)
"""The longest a live scheduler sleeps between ticks (triggers are checked at each)."""
MAX_RESUMES = 3
"""A run interrupted by the scheduler's death is run again at most this many times."""
MAX_MISSED = 10_000
"""Missed schedules counted after downtime (a skip policy runs only the latest anyway)."""


@dataclass
class _State:
    """A pipeline's schedule state on one timeline."""

    cursor: dt.datetime | None = None
    """The latest schedule queued."""
    pending: list[int] = field(default_factory=list)
    """Queued runs, in order; the first may be running or just ended, the first few may have
    succeeded."""
    fired: dict[str, str] = field(default_factory=dict)
    """The last event of each trigger."""
    triggered_at: dt.datetime | None = None
    """When a trigger last queued a run (the start of the pipeline's cooldown)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "cursor": None if self.cursor is None else self.cursor.isoformat(),
            "pending": list(self.pending),
            "fired": dict(self.fired),
            "triggered_at": None if self.triggered_at is None else self.triggered_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _State:
        cursor = data.get("cursor")
        triggered = data.get("triggered_at")
        return cls(
            None if cursor is None else dt.datetime.fromisoformat(cursor),
            list(data.get("pending", [])),
            dict(data.get("fired", {})),
            None if triggered is None else dt.datetime.fromisoformat(triggered),
        )


class Scheduler:
    """Runs the due runs of ``pipelines`` (those with a schedule or triggers) for ``project``."""

    def __init__(
        self,
        project: Project,
        pipelines: Mapping[str, Pipeline] | Sequence[Pipeline],
        *,
        timing: Timing | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        declared = list(pipelines.values() if isinstance(pipelines, Mapping) else pipelines)
        self.project = project
        self.pipelines = [p for p in declared if p.schedule or p.triggers]
        self.timing = timing or Timing()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._runs = Runs(project.name, project.metadata_store)
        self._metadata = project.metadata_store
        self._succeeded: dict[tuple[str, str], set[int]] = {}
        """Per pipeline and timeline, runs that succeeded and may still head the stored queue
        (their removal goes with the state's next write)."""
        self._seen: dict[tuple[str, str], _State] = {}
        """Per pipeline and timeline, its state as this scheduler's last tick left it."""

    def __repr__(self) -> str:
        names = [p.name for p in self.pipelines]
        return f"Scheduler(project={self.project.name!r}, pipelines={names!r})"

    # Driving time -----------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        once: bool = False,
        on_run: Callable[[Run], None] | None = None,
    ) -> None:
        """Tick on the wall clock until ``stop`` is set (or once, with ``once``)."""
        stop = stop or threading.Event()
        self.recover()
        while not stop.is_set():
            now = self._clock()
            for run in self.tick(now):
                if on_run is not None:
                    on_run(run)
            if once:
                return
            wait = min(self.next_time(now, LIVE) or now + POLL, now + POLL) - self._clock()
            stop.wait(max(wait.total_seconds(), 0.0))

    def simulate(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        on_run: Callable[[Run], None] | None = None,
    ) -> list[Run]:
        """Run the schedules (and triggers, retries) of [``start``, ``end``) in simulated time,
        as fast as the runs go; returns the finished runs. Run again with the same range, it
        resumes where an interrupted one stopped."""
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidArgumentError("simulate() needs time-zone-aware start and end times")
        if end <= start:
            raise InvalidArgumentError(
                f"end {end.isoformat()} is not after start {start.isoformat()}"
            )
        timeline = f"simulated {start.isoformat()} {end.isoformat()}"
        self.recover()
        finished: list[Run] = []
        now: dt.datetime | None = start
        while now is not None and now < end:
            origin = start - dt.timedelta(microseconds=1)
            for run in self.tick(now, timeline, origin=origin, catch_up=True):
                finished.append(run)
                if on_run is not None:
                    on_run(run)
            now = self.next_time(now, timeline)
        return finished

    def next_time(self, now: dt.datetime, timeline: str) -> dt.datetime | None:
        """The next schedule or retry after ``now``, over every pipeline (as of this
        scheduler's last tick: a retry another scheduler queued since waits for a later one)."""
        times = [
            croniter(p.schedule, now).get_next(dt.datetime) for p in self.pipelines if p.schedule
        ]
        for pipeline in self.pipelines:
            state = self._seen.get((pipeline.name, timeline)) or self._state(pipeline, timeline)
            for number in state.pending:
                run = self._runs.get(f"{pipeline.name}:{number}")
                if (
                    run.status == records.QUEUED
                    and run.not_before is not None
                    and run.not_before > now
                ):
                    times.append(run.not_before)
        return min(times, default=None)

    # One tick -----------------------------------------------------------------------------

    def tick(
        self,
        now: dt.datetime,
        timeline: str = LIVE,
        *,
        origin: dt.datetime | None = None,
        catch_up: bool = False,
    ) -> list[Run]:
        """Queue what is due at ``now`` and run it; returns the runs that finished.

        ``origin`` is the cursor of a pipeline seen for the first time (default ``now``: a new
        pipeline's first schedule is its next one). ``catch_up`` runs every due schedule
        whatever the misfire policy (a simulation has no downtime: every schedule runs).
        """
        finished: list[Run] = []
        for pipeline in self.pipelines:
            unlocked = self._without_succeeded(pipeline, timeline, self._state(pipeline, timeline))
            if not self._has_work(pipeline, unlocked, now):
                continue
            lock = PipelineLock(self.project, pipeline.name, self.timing)
            if not lock.acquire():
                logger.info("pipeline %s is running elsewhere: left for later", pipeline.name)
                continue
            try:
                # Read again under the lock: another scheduler may have moved it meanwhile.
                stored = self._state(pipeline, timeline)
                state = self._without_succeeded(pipeline, timeline, stored)
                queued: dict[int, Run] = {}
                self._queue_schedules(pipeline, state, now, origin or now, catch_up, queued)
                self._queue_triggers(pipeline, state, now, queued)
                if state.to_dict() != stored.to_dict():
                    self._save(pipeline, timeline, state)
                finished += self._run_pending(pipeline, state, timeline, now, lock, queued)
            finally:
                lock.release()
        return finished

    def _has_work(self, pipeline: Pipeline, state: _State, now: dt.datetime) -> bool:
        """Whether a tick at ``now`` may queue or run something (read without the lock)."""
        if state.pending or (pipeline.schedule and state.cursor is None):
            return True
        if (
            pipeline.schedule
            and croniter(pipeline.schedule, state.cursor).get_next(dt.datetime) <= now
        ):
            return True
        return any(
            t.check(self.project, now, state.fired.get(t.key)) is not None
            for t in pipeline.triggers
        )

    def _queue_schedules(
        self,
        pipeline: Pipeline,
        state: _State,
        now: dt.datetime,
        origin: dt.datetime,
        catch_up: bool,
        queued: dict[int, Run],
    ) -> None:
        if pipeline.schedule is None:
            return
        cursor = state.cursor or origin
        due: list[dt.datetime] = []
        slots = croniter(pipeline.schedule, cursor)
        while len(due) < MAX_MISSED:
            slot = slots.get_next(dt.datetime)
            if slot > now:
                break
            due.append(slot)
        if not due:
            state.cursor = state.cursor or cursor
            return
        if pipeline.misfire == "skip" and not catch_up and len(due) > 1:
            missed, due = len(due) - 1, due[-1:]
        else:
            missed = 0
        trigger: dict[str, Any] = {"type": "schedule"}
        if missed:
            trigger["missed"] = missed
            logger.warning("pipeline %s: skipping %d missed schedule(s)", pipeline.name, missed)
        for slot in due:
            run = self._runs.create(
                pipeline.name,
                pipeline.kind,
                status=records.QUEUED,
                params=pipeline.params,
                trigger=trigger,
                scheduled_time=slot,
            )
            state.pending.append(run.number)
            queued[run.number] = run
        state.cursor = due[-1]

    def _queue_triggers(
        self, pipeline: Pipeline, state: _State, now: dt.datetime, queued: dict[int, Run]
    ) -> None:
        cooldown, last = pipeline.cooldown, state.triggered_at
        if cooldown is not None and last is not None and now < last + cooldown:
            return
        for trigger in pipeline.triggers:
            firing = trigger.check(self.project, now, state.fired.get(trigger.key))
            if firing is None:
                continue
            run = self._runs.create(
                pipeline.name,
                pipeline.kind,
                status=records.QUEUED,
                params=pipeline.params,
                trigger=firing.to_dict(trigger),
                scheduled_time=now,
            )
            state.pending.append(run.number)
            queued[run.number] = run
            state.fired[trigger.key] = firing.event
            state.triggered_at = now
            if cooldown is not None:
                return  # one triggered run starts the cooldown

    def _run_pending(
        self,
        pipeline: Pipeline,
        state: _State,
        timeline: str,
        now: dt.datetime,
        lock: PipelineLock,
        queued: dict[int, Run],
    ) -> list[Run]:
        """Run the queued runs of ``state`` (``queued``: those this tick created, as created)."""
        finished = []
        while state.pending:
            number = state.pending[0]
            run = queued.pop(number, None) or self._runs.get(f"{pipeline.name}:{number}")
            if run.status == records.RUNNING:
                # This scheduler holds the lock, so the run's process stopped renewing it.
                run = self._lost(run, "its process stopped renewing the pipeline's lock")
            if run.status == records.QUEUED:
                if run.not_before is not None and run.not_before > now:
                    break
                run = start_queued(self.project, pipeline, run, lock)
                finished.append(run)
            state.pending.pop(0)
            if run.status == records.SUCCEEDED:
                # Whoever reads the stored queue before its next write finds the run succeeded
                # and drops it the same way, so the write can wait (and carry the next schedule).
                self._succeeded.setdefault((pipeline.name, timeline), set()).add(number)
                continue
            follow_up = self._follow_up(pipeline, run, now)
            if follow_up is not None:
                state.pending.insert(0, follow_up.number)
                queued[follow_up.number] = follow_up
            self._save(pipeline, timeline, state)
        return finished

    def _follow_up(self, pipeline: Pipeline, run: Run, now: dt.datetime) -> Run | None:
        """A retry of a failed run, or the run again when the scheduler's death interrupted it."""
        if run.status == records.SUCCEEDED:
            return None
        error_type = (run.error or {}).get("type")
        interrupted = error_type == LOST or (
            run.status == records.CANCELLED and error_type in ("KeyboardInterrupt", "SystemExit")
        )
        base = {k: v for k, v in run.trigger.items() if k not in ("retry_of", "resumes")}
        if interrupted:
            resumes = int(run.trigger.get("resumes", 0)) + 1
            if resumes > MAX_RESUMES:
                logger.error("run %s: interrupted %d times, not run again", run.id, resumes)
                return None
            trigger = {**base, "resumes": resumes, "retry_of": run.number}
            return self._again(pipeline, run, trigger, run.attempt, None)
        if run.status in (records.FAILED, records.TIMED_OUT) and run.attempt <= pipeline.retries:
            delay = pipeline.retry_delay * 2 ** (run.attempt - 1)
            trigger = {**base, "retry_of": run.number}
            return self._again(pipeline, run, trigger, run.attempt + 1, now + delay)
        return None

    def _again(
        self,
        pipeline: Pipeline,
        run: Run,
        trigger: dict[str, Any],
        attempt: int,
        not_before: dt.datetime | None,
    ) -> Run:
        return self._runs.create(
            pipeline.name,
            pipeline.kind,
            status=records.QUEUED,
            params=run.params,
            trigger=trigger,
            scheduled_time=run.scheduled_time,
            attempt=attempt,
            not_before=not_before,
        )

    # Recovery -----------------------------------------------------------------------------

    def recover(self) -> list[Run]:
        """Mark runs whose process died (gone from this host, or silent for longer than the
        lock's ttl) ``failed``; returns them. The next tick runs them again."""
        now = dt.datetime.now(dt.UTC)
        lost = []
        for pipeline in self.pipelines:
            for run in self._runs.list(pipeline.name, status=records.RUNNING):
                reason = self._death(run, now)
                if reason is None:
                    continue
                lost.append(self._lost(run, reason))
        return lost

    def _lost(self, run: Run, reason: str) -> Run:
        error = {"type": LOST, "message": reason, "traceback": ""}
        logger.warning("run %s: %s; marked failed", run.id, reason)
        now = dt.datetime.now(dt.UTC)
        return self._runs.save(replace(run, status=records.FAILED, ended_at=now, error=error))

    def _death(self, run: Run, now: dt.datetime) -> str | None:
        alive = process_alive(run.host, run.pid)
        if alive is False:
            return f"its process {run.pid} on {run.host} is gone (killed?)"
        beat = self._runs.last_heartbeat(run)
        if alive is None and beat is not None and now - beat > self.timing.lock_ttl:
            return f"no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC from {run.host} (killed?)"
        return None

    # State --------------------------------------------------------------------------------

    def _without_succeeded(self, pipeline: Pipeline, timeline: str, stored: _State) -> _State:
        """A copy of ``stored`` without the runs this scheduler saw succeed; next_time() reads
        it (as the tick changes it) instead of the store."""
        succeeded = self._succeeded.get((pipeline.name, timeline), set())
        state = replace(
            stored,
            pending=[n for n in stored.pending if n not in succeeded],
            fired=dict(stored.fired),
        )
        self._seen[pipeline.name, timeline] = state
        return state

    def _state(self, pipeline: Pipeline, timeline: str) -> _State:
        try:
            entity = self._metadata.get(
                STATE_KIND, self.project.name, _state_name(pipeline, timeline), 1
            )
        except NotFoundError:
            return _State()
        return _State.from_dict(entity.body)

    def _save(self, pipeline: Pipeline, timeline: str, state: _State) -> None:
        """Write ``state`` (under the pipeline's lock); the succeeded runs it no longer lists
        are out of the stored queue from now on."""
        name = _state_name(pipeline, timeline)
        try:
            self._metadata.update(STATE_KIND, self.project.name, name, 1, state.to_dict())
        except NotFoundError:
            self._metadata.create(STATE_KIND, self.project.name, name, 1, state.to_dict())
        self._succeeded.pop((pipeline.name, timeline), None)


LOST = "Lost"
"""The error type of a run whose process died."""


def _state_name(pipeline: Pipeline, timeline: str) -> str:
    return f"{pipeline.name} {timeline}"
