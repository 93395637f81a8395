"""Settings: argument > FTI_* variable > <home>/fti.toml > default, for every store URL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from fti.errors import ConfigError
from fti.settings import Settings

FIELDS = ["offline_url", "online_url", "metadata_url", "artifacts_url"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FTI_* variable of the machine running the tests leaks in."""
    for variable in ["FTI_HOME", "FTI_PROJECT", *(f"FTI_{field.upper()}" for field in FIELDS)]:
        monkeypatch.delenv(variable, raising=False)


def defaults(home: Path) -> dict[str, str]:
    return {
        "offline_url": str(home / "offline"),
        "online_url": f"sqlite:///{home / 'online.db'}",
        "metadata_url": f"sqlite:///{home / 'metadata.db'}",
        "artifacts_url": str(home / "artifacts"),
    }


def values(settings: Settings) -> dict[str, str]:
    return {field: getattr(settings, field) for field in FIELDS}


def test_defaults_live_under_home(tmp_path: Path) -> None:
    settings = Settings.load(tmp_path)

    assert settings.home == tmp_path.resolve()
    assert values(settings) == defaults(tmp_path.resolve())


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    "winner",
    ["argument", "environment", "file", "default"],
    ids=["argument-wins", "env-beats-file", "file-beats-default", "default"],
)
def test_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, winner: str
) -> None:
    # The winning source and every source below it are set; none above it.
    levels = ["argument", "environment", "file"]
    present = levels[levels.index(winner) :] if winner in levels else []
    if "file" in present:
        (tmp_path / "fti.toml").write_text(f'{field} = "from-file"\n', encoding="utf-8")
    if "environment" in present:
        monkeypatch.setenv(f"FTI_{field.upper()}", "from-env")
    overrides = {field: "from-argument"} if "argument" in present else {}

    settings = Settings.load(tmp_path, **overrides)

    expected = defaults(tmp_path.resolve())
    if winner != "default":
        expected[field] = {"argument": "from-argument", "environment": "from-env"}.get(
            winner, "from-file"
        )
    assert values(settings) == expected


def test_each_field_from_its_own_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fti.toml").write_text(
        'online_url = "redis://file/0"\nmetadata_url = "postgresql://file/fti"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("FTI_METADATA_URL", "postgresql://env/fti")
    monkeypatch.setenv("FTI_ARTIFACTS_URL", "/env/artifacts")

    settings = Settings.load(tmp_path, artifacts_url="/arg/artifacts", offline_url=None)

    assert values(settings) == {
        "offline_url": str(tmp_path.resolve() / "offline"),
        "online_url": "redis://file/0",
        "metadata_url": "postgresql://env/fti",
        "artifacts_url": "/arg/artifacts",
    }


def test_none_argument_falls_through_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTI_ONLINE_URL", "redis://env/1")

    assert Settings.load(tmp_path, online_url=None).online_url == "redis://env/1"


def test_fti_home_is_used_when_home_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "from_env"
    home.mkdir()
    (home / "fti.toml").write_text('online_url = "redis://home-file/0"\n', encoding="utf-8")
    monkeypatch.setenv("FTI_HOME", str(home))
    monkeypatch.chdir(tmp_path)

    settings = Settings.load()

    assert settings.home == home.resolve()
    assert settings.online_url == "redis://home-file/0"
    assert settings.metadata_url == f"sqlite:///{home.resolve() / 'metadata.db'}"


def test_home_argument_beats_fti_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTI_HOME", str(tmp_path / "from_env"))

    assert Settings.load(tmp_path / "explicit").home == (tmp_path / "explicit").resolve()


def test_default_home_is_dot_fti_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    settings = Settings.load()

    home = tmp_path.resolve() / ".fti"
    assert settings.home == home
    assert values(settings) == defaults(home)


@pytest.mark.parametrize(
    ("home", "expected"),
    [("relative/home", "relative/home"), ("~/user_home", "user/user_home")],
    ids=["relative-to-cwd", "tilde-expanded"],
)
def test_home_paths_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))

    settings = Settings.load(home)

    assert settings.home == tmp_path.resolve() / expected
    assert settings.home.is_absolute()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('online_url = "unterminated\n', r"fti\.toml is not valid TOML"),
        ("online_url = \n", r"fti\.toml is not valid TOML"),
        (
            'colour = "blue"\n',
            r"unknown key\(s\) colour; known: allow_unsafe_s3_commits, api_key, artifacts_url, "
            r"cache_dir, engine, max_cache_bytes, max_event_time_ahead, max_upload_bytes, "
            r"max_value_bytes, metadata_url",
        ),
        ('[online_url]\nurl = "x"\n', r"online_url must be string\(s\)"),
        ("metadata_url = 5432\n", r"metadata_url must be string\(s\)"),
        ("offline_url = true\n", r"offline_url must be string\(s\)"),
        ('artifacts_url = ["a", "b"]\n', r"artifacts_url must be string\(s\)"),
    ],
    ids=["unterminated", "no-value", "unknown-key", "table", "int", "bool", "array"],
)
def test_bad_fti_toml_is_config_error(tmp_path: Path, content: str, match: str) -> None:
    (tmp_path / "fti.toml").write_text(content, encoding="utf-8")

    with pytest.raises(ConfigError, match=match):
        Settings.load(tmp_path)


def test_fti_toml_not_utf8_is_config_error(tmp_path: Path) -> None:
    (tmp_path / "fti.toml").write_bytes(b'online_url = "\xff\xfe"\n')

    with pytest.raises(ConfigError, match="is not valid TOML"):
        Settings.load(tmp_path)


def test_bad_fti_toml_is_reported_even_when_arguments_cover_it(tmp_path: Path) -> None:
    (tmp_path / "fti.toml").write_text('colour = "blue"\n', encoding="utf-8")

    with pytest.raises(ConfigError, match="colour"):
        Settings.load(tmp_path, **dict.fromkeys(FIELDS, "x"))


@pytest.mark.parametrize(
    "overrides",
    [{"bogus_url": "x"}, {"ONLINE_URL": "x"}, {"bogus_url": None}],
    ids=["unknown", "wrong-case", "unknown-even-if-none"],
)
def test_unknown_override_is_config_error(tmp_path: Path, overrides: dict[str, str]) -> None:
    name = next(iter(overrides))

    with pytest.raises(ConfigError, match=rf"unknown setting\(s\): {name}"):
        Settings.load(tmp_path, **overrides)


@pytest.mark.parametrize(
    ("argument", "environment", "file", "expected"),
    [
        ("arg", "env", "file", "arg"),
        (None, "env", "file", "env"),
        (None, None, "file", "file"),
        (None, None, None, "default"),
    ],
    ids=["argument", "environment", "file", "default"],
)
def test_project_setting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argument: str | None,
    environment: str | None,
    file: str | None,
    expected: str,
) -> None:
    if file:
        (tmp_path / "fti.toml").write_text(f'project = "{file}"\n', encoding="utf-8")
    if environment:
        monkeypatch.setenv("FTI_PROJECT", environment)

    assert Settings.load(tmp_path, project=argument).project == expected


LIMITS = [
    ("max_event_time_ahead", "1d12h", "event_time_horizon", dt.timedelta(days=1, hours=12)),
    ("max_value_bytes", "512KiB", "value_size_limit", 512 * 1024),
    ("time_travel_retention", "30d", "retention_period", dt.timedelta(days=30)),
    ("offline_maintenance_interval", "5", "maintenance_every", 5),
]


@pytest.mark.parametrize("source", ["argument", "environment", "file", "default"], ids=str)
@pytest.mark.parametrize(
    ("name", "text", "parsed_name", "parsed"), LIMITS, ids=[limit[0] for limit in LIMITS]
)
def test_limits_come_from_each_source_and_are_parsed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    text: str,
    parsed_name: str,
    parsed: object,
    source: str,
) -> None:
    monkeypatch.delenv(f"FTI_{name.upper()}", raising=False)
    if source == "file":
        (tmp_path / "fti.toml").write_text(f'{name} = "{text}"\n', encoding="utf-8")
    if source == "environment":
        monkeypatch.setenv(f"FTI_{name.upper()}", text)

    settings = Settings.load(tmp_path, **({name: text} if source == "argument" else {}))

    defaults = {
        "event_time_horizon": dt.timedelta(days=1),
        "value_size_limit": 1024 * 1024,
        "retention_period": dt.timedelta(days=7),
        "maintenance_every": 20,
    }
    expected = defaults[parsed_name] if source == "default" else parsed
    assert getattr(settings, parsed_name) == expected


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("max_event_time_ahead", "tomorrow"),
        ("max_event_time_ahead", "1"),
        ("max_event_time_ahead", "-1d"),
        ("max_event_time_ahead", "99999999999w"),
        ("max_value_bytes", "0"),
        ("max_value_bytes", "1.5MiB"),
        ("max_value_bytes", "lots"),
        ("max_value_bytes", "1TiB"),
        ("time_travel_retention", "a week"),
        ("offline_maintenance_interval", "-1"),
        ("offline_maintenance_interval", "every hour"),
    ],
    ids=[
        "word",
        "no-unit",
        "negative",
        "overflow",
        "zero",
        "fraction",
        "word-size",
        "unit",
        "retention-words",
        "interval-negative",
        "interval-words",
    ],
)
def test_bad_limits_are_config_errors_naming_the_setting(
    tmp_path: Path, name: str, text: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^{name} = '{re.escape(text)}' is not|longer"):
        Settings.load(tmp_path, **{name: text})


def test_server_url_and_api_key_come_from_the_environment_and_the_key_stays_out_of_repr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTI_URL", "http://127.0.0.1:8080")
    monkeypatch.setenv("FTI_API_KEY", "fti_secret_value")

    settings = Settings.load(tmp_path)

    assert settings.url == "http://127.0.0.1:8080"
    assert settings.api_key == "fti_secret_value"
    assert "fti_secret_value" not in repr(settings)
    assert settings.upload_size_limit == 2 * 2**30


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host", "file:///x"])
def test_a_server_url_without_http_is_a_config_error(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="starts with http"):
        Settings.load(tmp_path, url=url)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"engine": "spark"}, r"engine = 'spark' is not one of local, ray"),
        ({"ray_partitions": "-1"}, r"ray_partitions = '-1' is not a count"),
    ],
)
def test_bad_engine_settings_are_config_errors(
    tmp_path: Path, values: dict[str, str], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        Settings.load(tmp_path, **values)


def test_engine_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTI_ENGINE", "ray")
    monkeypatch.setenv("FTI_RAY_PARTITIONS", "12")

    settings = Settings.load(tmp_path)

    assert (settings.engine, settings.partitions, settings.ray_address) == ("ray", 12, "")
    assert Settings.load(tmp_path, engine="local").engine == "local"
