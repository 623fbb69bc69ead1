"""The process kit every athena process starts with: allocator tuning, the ready file."""
from __future__ import annotations

import pytest

from loader.process import tune_allocator


def test_allocator_is_tuned_on_glibc() -> None:
    assert tune_allocator() is True


def test_glibc_settings_in_the_environment_are_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert tune_allocator() is False
