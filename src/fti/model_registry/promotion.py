"""Checks before an alias moves to a model version: can it be served as it was trained?

For a model with lineage: its feature view version and training dataset still exist; every
group the view reads online (all but those giving only labels) is online-enabled and
materialized (the online store holds the latest offline commit); and the model's signature and
input example match the view's serving vector (names, order, types). Each failed check is one
problem; ``set_alias`` refuses with all of them unless ``force=True``, and then records them
with the promotion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fti.errors import NotFoundError
from fti.model_registry import signature as signatures

if TYPE_CHECKING:
    from fti.feature_store.feature_store import FeatureStore
    from fti.feature_store.feature_view import FeatureView
    from fti.model_registry.model import Model


def problems(store: FeatureStore, model: Model) -> list[str]:
    """Every reason ``model`` cannot take an alias now (empty: it can)."""
    lineage = model.lineage
    if lineage is None:
        return []
    where = f"feature view {lineage.feature_view!r} v{lineage.feature_view_version}"
    try:
        view = store.get_feature_view(lineage.feature_view, lineage.feature_view_version)
    except NotFoundError:
        return [f"{where} no longer exists"]
    found = _group_problems(view)
    try:
        dataset = view.training_dataset(lineage.training_dataset_version)
    except NotFoundError:
        found.insert(
            0, f"training dataset {lineage.training_dataset_version} of {where} no longer exists"
        )
        return found
    expected = signatures.from_view(view, dataset.transformation_state)
    actual = model.signature
    if actual is not None:
        found += signatures.compare(expected, actual, "the model's signature")
    example = model.input_example
    if example is not None:
        found += signatures.compare(
            expected, signatures.from_example(example), "the model's input example"
        )
    return found


def _group_problems(view: FeatureView) -> list[str]:
    """Problems of the groups serving reads (a group giving only labels is not read)."""
    from fti.feature_store.serving import online_steps

    found = []
    for index in online_steps(view):
        group = view.query.steps[index].group
        name = f"feature group {group.name!r} v{group.version}"
        if not group.online_enabled:
            found.append(f"{name} is not online-enabled, so the view cannot serve it online")
            continue
        offline = group._offline.version(group._offline_table)
        online = group._online.watermark(group._online_table)
        if offline is None:
            found.append(f"{name} has no data")
        elif online != offline:
            held = "no commit" if online < 0 else f"commit {online}"
            found.append(
                f"{name} is not materialized: the online store holds {held}, the offline "
                f"table is at commit {offline}; run fg.materialize()"
            )
    return found
