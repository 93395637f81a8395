"""A Ray worker that dies opening the offline store: for the tests of the ray engine's retries
after a worker died mid-job."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DyingOpener:
    """Opens the offline store on a worker, killing the worker first: once (a marker file
    remembers it), or on every attempt."""

    open_offline: Callable[[], Any]
    marker: str
    always: bool = False

    def __call__(self) -> Any:
        if self.always or not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)
        return self.open_offline()


def dying_opener(open_offline: Callable[[], Any], marker: Path, always: bool) -> DyingOpener:
    """A :class:`DyingOpener` of ``open_offline``, sent to the workers by value (they need not
    import the tests' helpers)."""
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return DyingOpener(open_offline, str(marker), always)
