"""The artifact routes over trees that are not whole, and their cleanup: a tree never stored or
missing a file is the embedded store's ArtifactIntegrityError (409, not a retryable 5xx), and a
cleanup names what it removed inside the artifact store, never by the server's paths."""

from __future__ import annotations

import io
from pathlib import Path

from platform_team import PROJECT, Team

from fti.errors import ArtifactIntegrityError
from fti.stores.artifacts.base import Owner
from fti.stores.artifacts.files import pack_tar
from fti.stores.server_client import error_from_answer

ARTIFACTS = f"/api/v1/projects/{PROJECT}/artifacts"
KEY = f"{PROJECT}/models/m/1"


def put_tree(team: Team, key: str, folder: Path) -> None:
    (folder / "model.bin").write_bytes(b"weights")
    body = io.BytesIO()
    pack_tar([(folder / "model.bin", "model.bin")], body)
    answer = team.client.put(
        f"{ARTIFACTS}/tree",
        params={"key": key},
        content=body.getvalue(),
        headers={**team.headers("editor"), "content-type": "application/x-tar"},
    )
    assert answer.status_code == 200, answer.text


def test_a_tree_never_stored_or_missing_a_file_is_an_integrity_error(
    team: Team, tmp_path: Path
) -> None:
    reads = [("manifest", {}), ("tree", {}), ("file", {"path": "model.bin"})]
    for route, params in reads:
        answer = team.client.get(
            f"{ARTIFACTS}/{route}", params={"key": KEY, **params}, headers=team.headers("viewer")
        )
        assert answer.status_code == 409, (route, answer.text)
        error = error_from_answer(answer.status_code, answer.content)
        assert isinstance(error, ArtifactIntegrityError), route
        assert "MANIFEST.json is missing" in str(error)

    put_tree(team, KEY, tmp_path)
    (Path(team.platform.settings.artifacts_url) / KEY / "model.bin").unlink()
    answer = team.client.get(
        f"{ARTIFACTS}/tree", params={"key": KEY}, headers=team.headers("viewer")
    )
    assert answer.status_code == 409, answer.text
    assert "missing: model.bin" in answer.json()["error"]


def test_a_cleanup_names_what_it_removed_inside_the_artifact_store(
    team: Team, tmp_path: Path
) -> None:
    root = Path(team.platform.settings.artifacts_url)
    put_tree(team, f"{PROJECT}/models/m/2", tmp_path)
    gone = Owner(Owner.current().host, 2**22 + 1)  # above Linux's largest pid
    dead = root / ".staging" / f"{gone.pid}@{gone.host}_abc"
    dead.mkdir(parents=True)
    (dead / "model.bin").write_bytes(b"xyz")

    answer = team.client.post(
        f"{ARTIFACTS}/cleanup",
        json={"keys": [f"{PROJECT}/models/m/9", f"{PROJECT}/models/m/2"]},
        headers=team.headers("owner"),
    )

    assert answer.status_code == 200, answer.text
    removed = answer.json()
    assert [r["path"] for r in removed] == [f"staging/{dead.name}", f"{PROJECT}/models/m/2"]
    assert removed[0]["bytes"] == 3 and removed[1]["bytes"] > len(b"weights")  # and a manifest
    assert str(root) not in answer.text and str(team.home) not in answer.text
    assert not dead.exists() and not (root / PROJECT / "models" / "m" / "2").exists()
