"""Settings are layered once: defaults < aiges.toml < environment < command line."""
from __future__ import annotations

from pathlib import Path

import pytest

from loader.config import ConfigError
from loader.settings import LoaderSettings


def _wrapper(tmp_path: Path, toml: str) -> str:
    (tmp_path / "aiges.toml").write_text(toml)
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text("")
    return str(wrapper)


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    wrapper = _wrapper(tmp_path, "[fc]\nmax = 3\n[loader]\nport = 7001\nmetrics_port = 7002\n")
    env = {"ATHENA_LOADER_PORT": "7101", "ATHENA_LOADER_METRICS_PORT": "7102"}
    settings = LoaderSettings.load({"wrapper": wrapper, "metrics_port": 7202}, env)
    assert settings.licence == 3  # file over default
    assert settings.port == 7101  # environment over file
    assert settings.metrics_port == 7202  # command line over environment
    assert settings.max_message_bytes == 128 * 1024 * 1024  # default


def test_wrapper_section_is_flattened_to_strings(tmp_path: Path) -> None:
    wrapper = _wrapper(tmp_path, '[wrapper]\n"common.lic" = 1\nflag = true\n[wrapper.log]\n'
                                 'level = "debug"\nfiles = ["a", "b"]\n')
    settings = LoaderSettings.load({"wrapper": wrapper}, {})
    assert dict(settings.wrapper_config) == {
        "common.lic": "1", "flag": "true", "log.level": "debug", "log.files": "a,b"}


@pytest.mark.parametrize(
    ("toml", "env", "named"),
    [
        ("[fc]\nmax = 0\n", {}, "config [fc] max"),
        ("[loader]\nport = 70000\n", {}, "config [loader] port"),
        ("", {"ATHENA_LOADER_LICENCE": "many"}, "environment ATHENA_LOADER_LICENCE"),
        ("[loader]\ntext_as_bytes = \"maybe\"\n", {}, "config [loader] text_as_bytes"),
        ("[fc\n", {}, "not valid TOML"),
    ],
)
def test_a_bad_value_fails_naming_its_key(tmp_path: Path, toml: str, env: dict[str, str],
                                          named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        LoaderSettings.load({"wrapper": _wrapper(tmp_path, toml)}, env)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        LoaderSettings.load({"wrapper": "w.py", "config": str(tmp_path / "none.toml")}, {})
