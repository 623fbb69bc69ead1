"""Test helpers for the example abilities: load a wrapper.py by path, build AIGES requests."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from aiges_embed import DataListCls, DataListNode

__all__ = ["DATA_ONCE", "load_ability", "make_request"]

WRAPPERS = Path(__file__).resolve().parents[2] / "wrappers"
DATA_ONCE = 3


def load_ability(ability: str, filename: str = "wrapper.py") -> ModuleType:
    """Imports wrappers/<ability>/<filename> as a uniquely named module.

    Deliberately not registered in sys.modules, so the tests prove the wrappers load under a
    loader that imports them purely by path.
    """
    name = f"athena_ability_{ability}_{Path(filename).stem}"
    spec = importlib.util.spec_from_file_location(name, WRAPPERS / ability / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_request(*inputs: tuple[str, bytes, int, Mapping[str, str]]) -> DataListCls:
    """A once-call request: one node per (key, data, data type, desc)."""
    nodes = []
    for key, data, data_type, desc in inputs:
        node = DataListNode()
        node.key = key
        node.data = data
        node.len = len(data)
        node.type = data_type
        node.status = DATA_ONCE
        node.desc = dict(desc)
        nodes.append(node)
    request = DataListCls()
    # assigned whole: a list read from the native class is a copy, appending to it is lost
    request.list = nodes
    return request
