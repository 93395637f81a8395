"""Everything a user can name is documented: each setting on the configuration page, each public
name of ``fti`` on a reference page (as Datasette fails a test for an undocumented setting)."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

import fti
from fti.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = (ROOT / "docs" / "how-to" / "configuration.md").read_text(encoding="utf-8")
DIRECTIVE = re.compile(r"^::: (?P<identifier>[\w.]+)\n(?P<options>(?:    .*\n)*)", re.MULTILINE)
PUBLIC = sorted(n for n in fti.__all__ if n != "__version__")


def reference_directives() -> dict[str, bool]:
    """Each ``::: identifier`` of the reference pages, and whether it renders its members."""
    found: dict[str, bool] = {}
    for page in (ROOT / "docs" / "reference").glob("*.md"):
        for match in DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            found[match["identifier"]] = "members: false" not in match["options"]
    return found


@pytest.mark.parametrize("setting", Settings.names(), ids=Settings.names())
def test_every_setting_is_on_the_configuration_page(setting: str) -> None:
    assert f"| `{setting}` | `FTI_{setting.upper()}` |" in CONFIGURATION


def test_the_home_and_the_clock_are_on_the_configuration_page() -> None:
    assert "| `home` | `FTI_HOME` |" in CONFIGURATION and "`FTI_NOW`" in CONFIGURATION


@pytest.mark.parametrize("name", PUBLIC, ids=PUBLIC)
def test_every_public_name_has_a_reference(name: str) -> None:
    directives = reference_directives()
    obj = getattr(fti, name)
    if isinstance(obj, types.ModuleType):
        assert obj.__name__ in directives or f"fti.{name}" in directives
        return
    where = f"{obj.__module__}.{getattr(obj, '__qualname__', name)}"
    # Documented by name, or as a member of its module's page.
    assert f"fti.{name}" in directives or where in directives or directives.get(obj.__module__)
