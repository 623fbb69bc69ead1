"""The TOML config file (aiges.toml keys) and the layering every process's settings share.

Precedence, lowest first: defaults < config file < environment < command line.
"""
from __future__ import annotations

import os
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import field, fields
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "ConfigError", "Key", "Layers", "boolean", "default_config_for", "flatten", "keys",
    "pem_file", "port_number", "positive_int", "read_toml", "setting", "together", "usable_tls",
    "with_default",
]

T = TypeVar("T")

_KEY = "athena.key"  # the dataclass field metadata entry that holds its Key


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the key and where it came from."""


def default_config_for(wrapper: str) -> Path | None:
    """aiges.toml beside wrapper.py, the way AIGES abilities ship."""
    candidate = Path(wrapper.partition(":")[0]).parent / "aiges.toml"
    return candidate if candidate.is_file() else None


def read_toml(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {e}") from None


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested tables become dotted keys and every value a string, as wrapperInit expects."""
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif isinstance(value, list):
            flat[name] = ",".join(str(v) for v in value)
        else:
            flat[name] = str(value)
    return flat


class Key(NamedTuple):
    """Where a layered setting is found in aiges.toml ('table.key') and how its text is read."""

    file_key: str
    convert: Callable[[Any], Any]


def setting(default: T, file_key: str, convert: Callable[[Any], T]) -> T:
    """A settings-dataclass field that `Layers.read` looks up; the default is written only here.

    The field's name is also its command-line option (`--max-body-mb`) and, upper-cased after
    the prefix, its environment variable (`ATHENA_GATEWAY_MAX_BODY_MB`).
    """
    return field(default=default, metadata={_KEY: Key(file_key, convert)})


def keys(settings: type) -> dict[str, Key]:
    """The `setting()` fields of a settings dataclass, by field name."""
    return {f.name: f.metadata[_KEY] for f in fields(settings) if _KEY in f.metadata}


def with_default(text: str, default: object) -> str:
    """argparse help ending in the settings dataclass's default, so no help restates it."""
    shown = f"{default:g}" if isinstance(default, float) else default
    return f"{text} (default {shown})"


class Layers:
    """Looks one setting up through file, environment and command line, converting once."""

    def __init__(
        self,
        file: Mapping[str, Any],
        cli: Mapping[str, Any],
        env_prefix: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._file = file
        self._cli = cli
        self._env_prefix = env_prefix
        self._env = os.environ if env is None else env

    def get(self, name: str, file_key: str | None, default: T, convert: Callable[[Any], T]) -> T:
        """`name` is the CLI/env name (env: PREFIX_NAME upper-cased); `file_key` is 'table.key'."""
        if self._cli.get(name) is not None:
            return self._convert(convert, self._cli[name], f"--{name.replace('_', '-')}")
        env_key = f"{self._env_prefix}{name.upper()}"
        if env_key in self._env:
            return self._convert(convert, self._env[env_key], f"environment {env_key}")
        if file_key is not None:
            table, _, key = file_key.rpartition(".")
            section = self._file.get(table, {}) if table else self._file
            if isinstance(section, Mapping) and key in section:
                return self._convert(convert, section[key], f"config [{table}] {key}")
        return default

    def read(self, settings: type) -> dict[str, Any]:
        """Every `setting()` field of the dataclass `settings`, its own default lowest."""
        return {name: self.get(name, key.file_key, getattr(settings, name), key.convert)
                for name, key in keys(settings).items()}

    @staticmethod
    def _convert(convert: Callable[[Any], T], value: Any, where: str) -> T:
        try:
            return convert(value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: {value!r} is not valid ({e})") from None


def positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def port_number(value: Any) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be a port number 0..65535 (0 = any free port)")
    return number


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def pem_file(value: Any) -> Path:
    """A PEM certificate or key file, read now so a wrong path fails start-up naming its key.
    Made absolute: a worker changes to its wrapper's folder after reading its settings."""
    path = Path(str(value)).expanduser().resolve()
    try:
        text = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if b"-----BEGIN " not in text:
        raise ValueError(f"{str(path)!r} is not a PEM file: no -----BEGIN line")
    return path


def together(table: str, values: Mapping[str, object], why: str) -> bool:
    """Settings that work only as a set (mutual TLS's files): True when all are given, False
    when none is; one without the others is a ConfigError naming those missing."""
    missing = [name for name, value in values.items() if value is None]
    if len(missing) == len(values):
        return False
    if missing:
        given = ", ".join(f"[{table}] {n}" for n in values if n not in missing)
        raise ConfigError(f"{given} given without " + ", ".join(f"[{table}] {n}" for n in missing)
                          + f": {why}")
    return True


def usable_tls(table: str, cert: tuple[str, Path], key: tuple[str, Path],
               ca: tuple[str, Path]) -> None:
    """Load the (name, file) pairs as TLS will, so a key that is not the certificate's, or a
    CA file without a certificate, fails start-up naming its keys (grpc would only say
    "Failed to bind", or fail each handshake)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:  # an encrypted key gets an empty password (no prompt): grpc cannot decrypt one
        context.load_cert_chain(cert[1], key[1], password=lambda: b"")
    except ssl.SSLError as e:
        raise ConfigError(f"[{table}] {cert[0]} {str(cert[1])!r} and {key[0]} "
                          f"{str(key[1])!r} are not a certificate and its unencrypted private "
                          f"key ({e.reason or e})") from None
    try:
        context.load_verify_locations(cafile=ca[1])
    except ssl.SSLError as e:
        raise ConfigError(f"[{table}] {ca[0]} {str(ca[1])!r} holds no CA certificate "
                          f"({e.reason or e})") from None


def file_stamp(path: Path) -> tuple[int, int, int]:
    """What changes when a file read at start is rewritten or swapped (a Kubernetes Secret's
    symlink): its modification time, size and inode. Raises OSError when it cannot be seen."""
    status = os.stat(path)
    return status.st_mtime_ns, status.st_size, status.st_ino
