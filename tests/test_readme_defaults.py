"""The README's Configuration table states the defaults the settings dataclasses hold.

Each row's `[table] key` is matched to the `setting()` field with that aiges.toml key, and the
default written in the row is read as the config file would read it (a TOML value, else text,
through the field's own converter), so `300` matches `300.0` and `["app_id", "uid"]` a tuple.
"""
from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from gateway.settings import GatewaySettings
from loader.config import Key, keys
from loader.settings import LoaderSettings
from tests.support import ROOT

README = ROOT / "README.md"
FIELDS = [(cls, name, key) for cls in (LoaderSettings, GatewaySettings)
          for name, key in keys(cls).items()]
_FIRST_KEY = re.compile(r"\[(\w+)\] (\w+)")  # `[gateway] port`; the next names share its table


def configuration_table(readme: str) -> dict[str, str]:
    """aiges.toml key ('table.key') -> the default cell written for it ('' if none)."""
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    defaults: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        names = re.findall(r"`([^`]+)`", cells[0].split(" / ")[0])  # before env and options
        first = _FIRST_KEY.fullmatch(names[0]) if names else None
        if first is None:
            continue
        table = first[1]
        row_keys = [first[2], *(n for n in names[1:] if re.fullmatch(r"\w+", n))]
        # several keys share a row as "0, 0, 127.0.0.1"; one key keeps its cell whole
        values = cells[1].split(", ") if len(row_keys) > 1 else [cells[1]]
        for i, key in enumerate(row_keys):
            defaults[f"{table}.{key}"] = values[i].strip("`") if i < len(values) else ""
    return defaults


def as_written(text: str) -> Any:
    """A default cell read the way aiges.toml would read it: a TOML value, else plain text."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def stated(default: Any) -> bool:
    """None and () are worked out at start-up (the wrapper's serviceId, no workers yet)."""
    return default is not None and default != ()


def mismatch(table: dict[str, str], cls: type, name: str, key: Key) -> str | None:
    """Why the README row for this field disagrees with the dataclass, or None if it agrees."""
    if key.file_key not in table:
        return f"README Configuration has no row for {key.file_key}"
    default, written = getattr(cls, name), table[key.file_key]
    if not stated(default):
        return None if written == "" else f"{key.file_key}: README says {written}, no default"
    if not written:
        return f"{key.file_key}: README states no default, {cls.__name__}.{name} is {default!r}"
    try:
        value = key.convert(as_written(written))
    except (TypeError, ValueError):
        return f"{key.file_key}: README default {written!r} is not a valid value"
    if value != default:
        return f"{key.file_key}: README says {written}, {cls.__name__}.{name} is {default!r}"
    return None


@pytest.fixture(scope="module")
def table() -> dict[str, str]:
    return configuration_table(README.read_text())


@pytest.mark.parametrize(("cls", "name", "key"), FIELDS, ids=[k.file_key for _, _, k in FIELDS])
def test_readme_states_each_settings_default(table: dict[str, str], cls: type, name: str,
                                             key: Key) -> None:
    assert mismatch(table, cls, name, key) is None


def changed(written: str) -> str:
    """Another value of the same kind: the first number one up, a boolean flipped, a name."""
    if re.search(r"\d", written):
        return re.sub(r"\d+", lambda m: str(int(m[0]) + 1), written, count=1)
    return {"true": "false", "false": "true"}.get(written, written.replace('"', '"x', 1))


STATED = [(cls, name, key) for cls, name, key in FIELDS if stated(getattr(cls, name))]


@pytest.mark.parametrize(("cls", "name", "key"), STATED, ids=[k.file_key for _, _, k in STATED])
def test_a_changed_readme_default_is_caught(table: dict[str, str], cls: type, name: str,
                                            key: Key) -> None:
    """The check passes only because it can fail: each default edited in the README is found."""
    edited = {**table, key.file_key: changed(table[key.file_key])}
    assert mismatch(edited, cls, name, key) == (
        f"{key.file_key}: README says {edited[key.file_key]}, "
        f"{cls.__name__}.{name} is {getattr(cls, name)!r}")
