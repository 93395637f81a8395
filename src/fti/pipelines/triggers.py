"""Triggers: conditions that start a pipeline between its schedules (continuous training).

The scheduler asks each trigger of a pipeline, at each tick, whether it fires now. A trigger
names the event that fired it (a monitor window, a training dataset), so one event starts one
run: the scheduler remembers the last event of each trigger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fti.errors import InvalidArgumentError, NotFoundError
from fti.names import check_name

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.feature_view import FeatureView
    from fti.project import Project

ALERTS = ("drift", "degraded")


@dataclass(frozen=True)
class Firing:
    """A trigger that fired: the event (its identity, so it fires once) and why, in a line."""

    event: str
    reason: str

    def to_dict(self, trigger: Trigger) -> dict[str, Any]:
        """What a run records of the trigger that started it."""
        return {
            "type": trigger.type,
            "trigger": trigger.key,
            "event": self.event,
            "reason": self.reason,
        }


class Trigger(Protocol):
    """A condition on the project's state; ``check`` says whether it fires at ``now``."""

    @property
    def type(self) -> str:
        """``monitor`` or ``labels``: the trigger type a run records."""
        ...

    @property
    def key(self) -> str:
        """Names this trigger among a pipeline's (the scheduler keeps its last event)."""
        ...

    def check(self, project: Project, now: dt.datetime, last_event: str | None) -> Firing | None:
        """The firing when the condition holds at ``now`` for an event after ``last_event``."""
        ...


@dataclass(frozen=True)
class MonitorAlert:
    """Fires when a monitor's latest window (ending at or before now) has an alert status."""

    monitor: str
    statuses: tuple[str, ...] = ALERTS

    type = "monitor"

    @property
    def key(self) -> str:
        """``monitor:<name>``."""
        return f"monitor:{self.monitor}"

    def check(self, project: Project, now: dt.datetime, last_event: str | None) -> Firing | None:
        """The monitor's latest result up to ``now``, when its status is one of ``statuses``."""
        try:
            history = project.monitoring.get_monitor(self.monitor).history()
        except NotFoundError:
            return None  # not created yet: nothing to watch
        done = [r for r in history if r.window_end <= now]
        if not done:
            return None
        latest = done[-1]
        event = latest.window_end.isoformat()
        if latest.status not in self.statuses or (last_event is not None and event <= last_event):
            return None
        crossed = "; ".join(latest.crossed) or latest.status
        return Firing(
            event, f"monitor {self.monitor} window to {event}: {latest.status} ({crossed})"
        )


@dataclass(frozen=True)
class NewLabels:
    """Fires when the group holding a view's labels gained ``rows`` rows since the view's last
    training dataset (the commits after the one the dataset pinned)."""

    view: str
    rows: int
    view_version: int | None = None

    type = "labels"

    @property
    def key(self) -> str:
        """``labels:<view>``."""
        return f"labels:{self.view}"

    def check(self, project: Project, now: dt.datetime, last_event: str | None) -> Firing | None:
        """The count of rows written since the latest training dataset, once it reaches
        ``rows``; the event is that dataset (one firing per dataset)."""
        try:
            view = project.feature_store.get_feature_view(self.view, self.view_version)
        except NotFoundError:
            return None
        datasets = view.training_datasets()
        event = f"after training dataset {datasets[-1].version}" if datasets else "no dataset"
        if event == last_event:
            return None
        group = label_group(view)
        pinned = datasets[-1].versions.get(f"{group.name}_v{group.version}") if datasets else None
        arrived = sum(c.rows for c in group.commits() if pinned is None or c.id > pinned)
        if arrived < self.rows:
            return None
        since = f"training dataset {datasets[-1].version}" if datasets else "the start"
        return Firing(
            event, f"{arrived:,} new rows in {group.name} since {since} (>= {self.rows:,})"
        )


def on_monitor(monitor: str, statuses: Sequence[str] = ALERTS) -> MonitorAlert:
    """A trigger firing when ``monitor``'s latest window is ``drift`` or ``degraded`` (or one of
    ``statuses``): once per window."""
    check_name(monitor, "monitor name")
    unknown = sorted(set(statuses) - {"ok", "no_data", *ALERTS})
    if unknown or not statuses:
        raise InvalidArgumentError(
            f"statuses must be some of drift, degraded, ok, no_data, not {list(statuses)!r}"
        )
    return MonitorAlert(monitor, tuple(statuses))


def on_new_labels(view: str, rows: int, *, version: int | None = None) -> NewLabels:
    """A trigger firing when ``rows`` rows arrived in the group holding the labels of feature
    view ``view`` (latest version unless ``version``) since its last training dataset."""
    check_name(view, "feature view name")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InvalidArgumentError(f"rows must be a whole number >= 1, not {rows!r}")
    return NewLabels(view, rows, version)


def label_group(view: FeatureView) -> FeatureGroup:
    """The feature group holding the view's first label (its root when labels come from a
    spine)."""
    for output in view.query.outputs:
        if output.name in view.labels:
            return view.query.steps[output.step].group
    return view.query.root
