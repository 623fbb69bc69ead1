"""Compatibility packages for wrappers: the `aiges` SDK's import names, only where it is absent.

Most public wrappers import the aiges Python SDK (`aiges.sdk`, `aiges.dto`, `aiges.utils.log`,
`aiges.core.types`, ...). loader/compat/aiges/ provides those names; install_aiges_fallback()
makes it importable as `aiges` while letting a real SDK, when one is installed, win.

Why a meta-path finder appended to the END of sys.meta_path:
- It is consulted only after the standard finders have looked on every sys.path entry, so any
  real `aiges` there (site-packages, PYTHONPATH, the wrapper's own folder) is found first and
  ours is never loaded beside it. Where it is loaded, it stays last whatever a wrapper later
  does to sys.path.
- It answers for `aiges` and `aiges.*` only. Putting loader/compat/ on sys.path instead would
  also find it only last, but it would be one more folder searched by every import and a place
  where any other module left in loader/compat/ becomes importable by bare name.
- An installed distribution named `aiges` would clash with the real one in pip (one would
  overwrite or uninstall the other's files) and would shadow it if installed later.
Its modules are loaded with importlib.machinery.PathFinder from loader/compat/, so they form
one regular package named `aiges` whose submodules resolve under it as usual.
Limit: a folder named `aiges` without an __init__.py on sys.path is a namespace package that
the standard finders return before this one is asked (rename such a folder).
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["COMPAT_DIR", "AigesFallbackFinder", "aiges_fallback_in_use", "install_aiges_fallback"]

COMPAT_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE = "aiges"
_OURS = os.path.join(COMPAT_DIR, _PACKAGE)


class AigesFallbackFinder(importlib.abc.MetaPathFinder):
    """Finds `aiges` (and its submodules, while `aiges` is ours) in loader/compat/."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == _PACKAGE:
            return importlib.machinery.PathFinder.find_spec(fullname, [COMPAT_DIR], target)
        if not fullname.startswith(_PACKAGE + "."):
            return None
        parent = sys.modules.get(fullname.rpartition(".")[0])
        if parent is None or not _is_ours(parent):
            return None  # a module the real SDK lacks stays missing: never mix the two
        return importlib.machinery.PathFinder.find_spec(fullname, list(parent.__path__), target)


def install_aiges_fallback() -> bool:
    """Let `import aiges` find ours when no real SDK is importable; True if ours will be used.

    Idempotent: the finder is appended to sys.meta_path once.
    """
    if not any(isinstance(finder, AigesFallbackFinder) for finder in sys.meta_path):
        sys.meta_path.append(AigesFallbackFinder())
    return aiges_fallback_in_use()


def aiges_fallback_in_use() -> bool:
    """Whether `import aiges` gives (or has given) ours rather than a real SDK."""
    loaded = sys.modules.get(_PACKAGE)
    if loaded is not None:
        return _is_ours(loaded)
    spec = importlib.util.find_spec(_PACKAGE)  # asks the finders in order; imports nothing
    return spec is not None and spec.origin is not None and _inside_ours(spec.origin)


def _is_ours(module: ModuleType) -> bool:
    locations = list(getattr(module, "__path__", None) or [])
    return bool(locations) and all(_inside_ours(location) for location in locations)


def _inside_ours(location: str) -> bool:
    resolved = os.path.abspath(location)
    return resolved == _OURS or resolved.startswith(_OURS + os.sep)
