"""What a pipeline run produced: the services report it here, a run records it when one is active.

An insert reports its commit, a training dataset its version, a model save its version, batch
inference its predictions, a monitor its result. ``fti.pipelines`` listens while a run executes
(a context variable, so a run's threads and only them are heard); without a run a report costs
one context-variable read. The services never import the pipelines package: the arrow points
down, to this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]
"""Called with the kind of output (``commit``, ``training_dataset``, ``model``, ``predictions``,
``monitor``, ``decision``) and its fields."""

_listener: ContextVar[Listener | None] = ContextVar("fti_run_outputs", default=None)


def report(kind: str, **fields: Any) -> None:
    """Tell the active run (if any) that it produced ``kind`` with ``fields``."""
    listener = _listener.get()
    if listener is not None:
        listener(kind, fields)


def active() -> bool:
    """Whether a run is listening (to skip work that only a report needs)."""
    return _listener.get() is not None


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send the reports made inside the block (in this context) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
