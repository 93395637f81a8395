"""Which groups a key-partitioned run splits, and on which columns (no Ray needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fti
from fti.engines.partitioning import layout
from fti.types import Feature


@pytest.fixture
def query(tmp_path: Path) -> fti.Query:
    """txn (root, key tid) joined with extra on tid, cust on cust, merchant on merchant, and
    region chained from merchant."""
    fs = fti.connect(tmp_path, "p").feature_store

    def group(name: str, keys: list[str], time: bool, columns: list[str]) -> fti.FeatureGroup:
        features = [Feature(k, "int64" if k == "tid" else "string") for k in keys]
        features += [Feature("ts", "timestamp")] if time else []
        features += [
            Feature(c, "string" if c in ("cust", "merchant", "region") else "double")
            for c in columns
        ]
        return fs.create_feature_group(
            name, 1, primary_key=keys, event_time="ts" if time else None, features=features
        )

    txn = group("txn", ["tid"], True, ["cust", "merchant", "amount"])
    return (
        txn.select(["cust", "merchant", "amount"])
        .join(group("extra", ["tid"], True, ["flag"]).select(["flag"]), on=["tid"])
        .join(group("cust", ["cust"], True, ["spend"]).select(["spend"]), on=["cust"])
        .join(group("merchant", ["merchant"], True, ["region"]).select(["region"]), on=["merchant"])
        .join(group("region", ["region"], False, ["tax"]).select(["tax"]), on=["region"])
    )


@pytest.mark.parametrize(
    ("spine", "weights", "root", "split"),
    [
        # A spine carries only the root's key: the groups joined on it are split.
        (True, [1, 1, 100, 1, 1], ("tid",), [0, 1]),
        # Without one, the hashed columns are those of the largest groups.
        (False, [1, 1, 100, 1, 1], ("cust",), [0, 2]),
        (False, [5, 5, 1, 1, 1], ("tid",), [0, 1]),
        (False, [1, 1, 1, 50, 1], ("merchant",), [0, 3]),
        # A group joined on a column of another group (chained) is never split.
        (False, [1, 1, 1, 1, 500], ("tid",), [0, 1]),
    ],
)
def test_layout_splits_the_largest_groups_joined_on_root_columns(
    query: fti.Query, spine: bool, weights: list[int], root: tuple[str, ...], split: list[int]
) -> None:
    shape = layout(query, spine, weights)

    assert shape.root == root
    assert [i for i, keys in enumerate(shape.keys) if keys is not None] == split
    assert all(shape.keys[i] == (query.steps[i].right_on if i else root) for i in split)
