"""The old name of aiges.core.types: SDK 0.4 and 0.5 had only this one, and wrappers import it."""
from __future__ import annotations

from .core import types as _types
from .core.types import *  # noqa: F403  (the same names under the old module name)

__all__ = list(_types.__all__)
