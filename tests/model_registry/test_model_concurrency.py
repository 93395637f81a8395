"""Two processes saving versions of one model name at once: versions 1..N, none lost."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

import fti

SAVES = 6


def _save_versions(home: str, worker: int) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(worker)
    x = rng.normal(size=(40, 2))
    with fti.connect(home, "p") as project:
        for i in range(SAVES):
            clf = LogisticRegression().fit(x, x[:, 0] > 0)
            project.model_registry.create_model("shared", metrics={"worker": worker, "i": i}).save(
                clf
            )


def test_two_processes_save_versions_of_one_name(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_save_versions, args=(home, w)) for w in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
        assert w.exitcode == 0

    with fti.connect(home, "p") as project:
        models = project.model_registry.get_models("shared")
        assert [m.version for m in models] == list(range(1, 2 * SAVES + 1))
        saved = sorted((int(m.metrics["worker"]), int(m.metrics["i"])) for m in models)
        assert saved == sorted((w, i) for w in (1, 2) for i in range(SAVES))
        for model in models:
            assert model.state == "ready"
            assert model.load().predict(np.zeros((1, 2))).shape == (1,)
