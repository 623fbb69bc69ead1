"""Gateway settings: defaults in the dataclass only, MiB as written, bytes where used."""
from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.settings import MIB, GatewaySettings
from loader.settings import LoaderSettings


def test_every_default_comes_from_the_dataclass() -> None:
    assert GatewaySettings.load({}, {}) == GatewaySettings()


def test_sizes_are_given_in_mib_and_used_in_bytes(tmp_path: Path) -> None:
    config = tmp_path / "aiges.toml"
    config.write_text("[gateway]\nmax_body_mb = 3\nmax_message_mb = 4\n")
    settings = GatewaySettings.load({"config": str(config), "max_body_mb": 5}, {})
    assert settings.max_body_bytes == 5 * 1024 * 1024  # command line over file
    assert settings.max_message_bytes == 4 * 1024 * 1024
    default = GatewaySettings()
    assert default.max_body_bytes == GatewaySettings.max_body_mb * MIB
    assert default.max_message_bytes == GatewaySettings.max_message_mb * MIB


def test_header_pass_and_workers_read_lists_or_commas(tmp_path: Path) -> None:
    config = tmp_path / "aiges.toml"
    config.write_text('[aiges]\nheaderPass = ["uid"]\n')
    env = {"ATHENA_GATEWAY_WORKERS": "127.0.0.1:1, 127.0.0.1:2"}
    settings = GatewaySettings.load({"config": str(config)}, env)
    assert settings.header_pass == ("uid",)
    assert settings.workers == ("127.0.0.1:1", "127.0.0.1:2")


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere


@pytest.mark.parametrize("command", ["serve", "gateway"])
def test_help_shows_the_dataclass_defaults(capsys: pytest.CaptureFixture[str],
                                           command: str) -> None:
    text = _help(capsys, command)
    defaults = GatewaySettings
    assert f"address to bind (default {defaults.host})" in text
    assert f"HTTP port; 0 = any free port (default {defaults.port})" in text
    assert f"public gRPC port; 0 = any free port (default {defaults.grpc_port})" in text
    assert f"through the gateway (default {defaults.timeout_s:g})" in text
    assert f"body in MiB (default {defaults.max_body_mb})" in text


def test_serve_help_shows_the_licence_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert f"[fc] max (default {LoaderSettings.licence})" in _help(capsys, "serve")
    assert "worker processes per wrapper (default 1)" in _help(capsys, "serve")


def test_help_follows_a_changed_default(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = GatewaySettings.max_body_mb
    monkeypatch.setattr(GatewaySettings, "max_body_mb", shipped + 1)
    monkeypatch.setattr(GatewaySettings, "timeout_s", 2.5)
    monkeypatch.setattr(LoaderSettings, "licence", 9)
    text = _help(capsys, "serve")
    assert f"largest HTTP request body in MiB (default {shipped + 1})" in text
    assert "through the gateway (default 2.5)" in text
    assert "[fc] max (default 9)" in text
    assert f"(default {shipped})" not in text
