"""Test helpers for the example abilities: load a wrapper.py by path, build AIGES requests."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from aiges_embed import DataListCls, parse_call

from loader.v1 import loader_pb2 as pb

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
    """A once-call request, one input per (key, data, data type, desc), built like the loader.

    The inputs are encoded as a loader.v1.CallRequest and decoded by aiges_embed.parse_call, so
    non-text inputs reach the wrapper as read-only Payload views into the message, as in
    production, and text inputs as bytes.
    """
    call = pb.CallRequest(
        sid="test",
        inputs=[
            pb.Data(
                key=key,
                type=pb.DataType.ValueType(data_type),
                status=pb.DataStatus.ValueType(DATA_ONCE),
                desc=desc,
                data=data,
            )
            for key, data, data_type, desc in inputs
        ],
    )
    request: DataListCls = parse_call(call.SerializeToString()).data
    return request
