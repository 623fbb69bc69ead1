"""Settings are layered once: defaults < aiges.toml < environment < command line."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from loader.cli import add_arguments
from loader.config import ConfigError
from loader.settings import MIB, LoaderSettings


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
    assert settings.max_message_mb == LoaderSettings.max_message_mb  # default


def test_max_message_is_given_in_mib_and_used_in_bytes(tmp_path: Path) -> None:
    wrapper = _wrapper(tmp_path, "[loader]\nmax_message_mb = 3\n")
    assert LoaderSettings.load({"wrapper": wrapper}, {}).max_message_bytes == 3 * 1024 * 1024
    env = {"ATHENA_LOADER_MAX_MESSAGE_MB": "5"}
    assert LoaderSettings.load({"wrapper": wrapper}, env).max_message_bytes == 5 * 1024 * 1024
    default = LoaderSettings.load({"wrapper": str(tmp_path / "no_config" / "wrapper.py")}, {})
    assert default.max_message_bytes == LoaderSettings.max_message_mb * MIB


def test_every_default_comes_from_the_dataclass(tmp_path: Path) -> None:
    """With no file, environment or option, load() gives exactly the constructor's defaults."""
    wrapper = str(tmp_path / "wrapper.py")
    assert LoaderSettings.load({"wrapper": wrapper}, {}) == LoaderSettings(wrapper=wrapper)


def _help() -> str:
    parser = argparse.ArgumentParser(prog="athena loader")
    add_arguments(parser)
    return " ".join(parser.format_help().split())  # argparse wraps lines anywhere


def test_loader_help_shows_the_dataclass_defaults() -> None:
    text = _help()
    assert f"gRPC port; 0 = any free port (default {LoaderSettings.port})" in text
    assert f"address to bind (default {LoaderSettings.host})" in text
    assert f"[fc] max (default {LoaderSettings.licence})" in text
    assert f"in MiB (default {LoaderSettings.max_message_mb})" in text
    # a float default shows as the user would write it: 300, not 300.0
    assert f"runs this many seconds (default {LoaderSettings.stuck_after_s:g})" in text
    assert f"(default {LoaderSettings.stuck_after_s})" not in text


def test_loader_help_follows_a_changed_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LoaderSettings, "stuck_after_s", 42.5)
    monkeypatch.setattr(LoaderSettings, "max_message_mb", 7)
    text = _help()
    assert "runs this many seconds (default 42.5)" in text
    assert "largest gRPC message in MiB (default 7)" in text


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
