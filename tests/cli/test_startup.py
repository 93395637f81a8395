"""The CLI starts fast: `fti --help` and `fti models list` never load the data libraries.

Timing is measured by benchmarks/cli_startup.py; what these tests hold is the cause of speed
that can break silently: a module-level import of pandas, Arrow, DuckDB or Delta Lake on the
path of a command that does not need them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.dummy import DummyClassifier

import fti

HEAVY = {"pandas", "pyarrow", "numpy", "duckdb", "deltalake", "pandera", "scipy", "sklearn"}
RUN = """
import json, sys
from fti.cli.main import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print("MODULES" + json.dumps(sorted(sys.modules)))
"""


def loaded_by(*args: str) -> set[str]:
    """The modules a CLI call has loaded when it ends, by their full names."""
    result = subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("MODULES"))
    modules: list[str] = json.loads(line.removeprefix("MODULES"))
    return set(modules)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    with fti.connect(home, "p") as project:
        model = project.model_registry.create_model("delays", metrics={"auc": 0.7})
        model.save(DummyClassifier().fit([[0], [1]], [0, 1]))
    return home


def packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_loads_neither_data_libraries_nor_the_database_layer() -> None:
    loaded = packages(loaded_by("--help"))

    assert not loaded & (HEAVY | {"sqlalchemy"})


def test_models_list_loads_no_data_library_nor_an_unused_database_dialect(home: Path) -> None:
    loaded = loaded_by("--home", str(home), "--project", "p", "models", "list")

    assert "sqlalchemy" in packages(loaded)  # it did reach the registry
    assert not packages(loaded) & HEAVY
    # A SQLite home: the PostgreSQL dialect (with its drivers' modules) is 60 ms of start.
    assert "sqlalchemy.dialects.postgresql" not in loaded
