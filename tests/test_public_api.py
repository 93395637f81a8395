"""The public surface: one list of names, a light `import fti`, and one error tree."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import pytest

import fti
import fti.errors

# Adding or removing a public name is a decision: make it here too.
EXPECTED_ALL = [
    "AlreadyExistsError",
    "ArtifactIntegrityError",
    "Commit",
    "ConfigError",
    "DataValidationError",
    "EngineError",
    "ExpectationError",
    "Feature",
    "FeatureGroup",
    "FeatureStore",
    "FeatureView",
    "FtiError",
    "InvalidArgumentError",
    "InvalidNameError",
    "KeyNotFoundError",
    "MissingDependencyError",
    "Model",
    "ModelRegistry",
    "NaiveTimestampWarning",
    "NotFoundError",
    "PermissionDeniedError",
    "Project",
    "PromotionError",
    "Query",
    "QueryError",
    "SchemaError",
    "StoreError",
    "TrainingDataset",
    "TransformationError",
    "UnauthenticatedError",
    "__version__",
    "col",
    "connect",
    "on_demand",
    "pipeline",
    "transformation",
    "transforms",
]

# Optional or heavy dependencies that only the code needing them may import: `import fti`
# loads the public names on first use.
NOT_IMPORTED = [
    "pandas",
    "pyarrow",
    "numpy",
    "duckdb",
    "deltalake",
    "sqlalchemy",
    "redis",
    "psycopg",
    "polars",
    "lightgbm",
    "sklearn",
    "skops",
    "xgboost",
    "onnx",
    "onnxruntime",
]

ERROR_CLASSES = [
    cls
    for _, cls in inspect.getmembers(fti.errors, inspect.isclass)
    if cls.__module__ == fti.errors.__name__
    and issubclass(cls, BaseException)
    and not issubclass(cls, Warning)
]
WARNING_CLASSES = [
    cls
    for _, cls in inspect.getmembers(fti.errors, inspect.isclass)
    if cls.__module__ == fti.errors.__name__ and issubclass(cls, Warning)
]


def test_all_is_the_expected_sorted_list() -> None:
    assert sorted(EXPECTED_ALL) == EXPECTED_ALL
    assert list(fti.__all__) == EXPECTED_ALL


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_public_name_is_importable_from_fti(name: str) -> None:
    namespace: dict[str, object] = {}

    exec(f"from fti import {name}", namespace)

    assert namespace[name] is getattr(fti, name)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}

    exec("from fti import *", namespace)

    assert sorted(k for k in namespace if k != "__builtins__") == EXPECTED_ALL


@pytest.fixture(scope="module")
def modules_after_import() -> set[str]:
    """Top-level modules loaded by a bare `import fti` in a fresh interpreter."""
    code = (
        "import fti, sys, json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    assert "fti" in loaded
    return set(loaded)


@pytest.mark.parametrize("module", NOT_IMPORTED)
def test_import_fti_does_not_import(module: str, modules_after_import: set[str]) -> None:
    assert module not in modules_after_import


def test_error_classes_are_found() -> None:
    # Guards the collection below: an empty list would make the tests after it pass vacuously.
    assert fti.errors.FtiError in ERROR_CLASSES
    assert len(ERROR_CLASSES) >= 10


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_error_class_shape(cls: type[fti.errors.FtiError]) -> None:
    assert issubclass(cls, fti.errors.FtiError)
    assert isinstance(cls.code, str)
    assert re.fullmatch(r"[a-z][a-z_]*", cls.code)
    assert type(cls.http_status) is int
    assert 400 <= cls.http_status <= 599
    assert cls.__name__ in fti.__all__
    assert getattr(fti, cls.__name__) is cls


def test_error_codes_are_unique() -> None:
    codes = [cls.code for cls in ERROR_CLASSES]

    assert sorted(codes) == sorted(set(codes))


def test_error_tree_in_the_docstring_matches_the_classes() -> None:
    doc = fti.errors.__doc__ or ""
    drawn = {
        name: (code, int(status))
        for name, code, status in re.findall(r"(\w+Error)\s+(\w+)\s+(\d{3})\s*$", doc, re.M)
    }

    # The root is drawn as the header row; every subclass has its own line.
    assert drawn == {
        cls.__name__: (cls.code, cls.http_status)
        for cls in ERROR_CLASSES
        if cls is not fti.errors.FtiError
    }


def test_warning_classes_are_user_warnings_exported_and_drawn() -> None:
    assert [fti.errors.NaiveTimestampWarning] == WARNING_CLASSES
    for cls in WARNING_CLASSES:
        assert issubclass(cls, UserWarning) and not issubclass(cls, fti.errors.FtiError)
        assert getattr(fti, cls.__name__) is cls
        assert cls.__name__ in (fti.errors.__doc__ or "")
