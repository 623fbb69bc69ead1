"""The stream-call adapter (loader/streams.py) on its own: each wrapperCreate / Write / Read /
Destroy variant loaded with Plugin.load and driven through one session. No gRPC."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import aiges_embed
import pytest

from loader.compat import install_aiges_fallback
from loader.errors import WrapperFailed, WrapperLoadError
from loader.plugin import Plugin
from loader.streams import StreamCalls
from loader.v1 import loader_pb2
from loader.v1.codes import Code
from tests.support import ABILITIES

STREAMS = ABILITIES / "stream_variants"


@pytest.fixture(autouse=True)
def _own_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a wrapper file puts its folder on sys.path: keep that to the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def load(name: str) -> tuple[Plugin, StreamCalls]:
    plugin = Plugin.load(str(STREAMS / f"{name}.py"))
    assert plugin.streams is not None
    return plugin, plugin.streams


def frame(text: str, status: int) -> aiges_embed.DataListCls:
    wire = loader_pb2.CallRequest(
        sid="s", inputs=[loader_pb2.Data(key="text", type=0, status=status, data=text.encode())]
    ).SerializeToString()
    return aiges_embed.parse_call(wire).data


def outputs(response: aiges_embed.Response | None) -> list[tuple[str, bytes, int]]:
    assert response is not None and response.error_code == 0
    return [(out.key, bytes(out.data) if not isinstance(out.data, str) else out.data.encode(),
             out.status) for out in response.list]


def test_a_session_create_response_handle_is_used_and_every_argument_is_bound_by_name() -> None:
    plugin, calls = load("session_response")
    handle = calls.create({"lang": "en"}, "sid-1", "tag-1", 7)
    assert handle == "h-sid-1"
    calls.write(handle, frame("one", 0), "sid-1")
    calls.write(handle, frame("two", 2), "sid-1")
    assert outputs(calls.read(handle, "sid-1")) == [("result", b"ONE", 0), ("result", b"TWO", 2)]
    calls.destroy(handle)
    assert plugin.target.seen == [
        ("create", {"lang": "en"}, "sid-1", 7, "tag-1"),
        ("write", "h-sid-1", b"one", 0, "sid-1"),
        ("write", "h-sid-1", b"two", 2, "sid-1"),
        ("read", "h-sid-1", "sid-1"),
        ("destroy", "h-sid-1"),
    ]
    assert (calls.has_read, calls.has_destroy, calls.v1) == (True, True, False)


def test_an_empty_session_create_response_handle_falls_back_to_the_sid() -> None:
    _, calls = load("session_response")
    handle = calls.create({"empty_handle": "1"}, "sid-2", "", 0)
    assert handle == "sid-2"
    calls.write(handle, frame("x", 2), "sid-2")
    assert outputs(calls.read(handle, "sid-2")) == [("result", b"X", 2)]


def test_a_bare_str_handle_and_methods_that_take_no_sid() -> None:
    plugin, calls = load("bare_str")
    handle = calls.create({}, "sid-3", "tag-3", 2)
    assert handle == "str-tag-3"
    assert outputs(calls.read(handle, "sid-3")) == []  # None from the wrapper: nothing yet
    calls.write(handle, frame("a", 0), "sid-3")
    calls.write(handle, frame("b", 2), "sid-3")
    assert outputs(calls.read(handle, "sid-3")) == [("result", b"a|b", 2)]
    calls.destroy(handle)
    assert plugin.target.seen == [
        ("create", "sid-3", "tag-3", 2), ("read", "str-tag-3"), ("write", "str-tag-3", b"a"),
        ("write", "str-tag-3", b"b"), ("read", "str-tag-3"), ("destroy", "str-tag-3"),
    ]


def test_create_returning_none_makes_the_sid_the_handle_and_no_read_means_none() -> None:
    plugin, calls = load("returns_none")
    handle = calls.create({"k": "v"}, "sid-4", "tag", 0)
    assert handle == "sid-4"
    calls.write(handle, frame("p", 2), "sid-4")
    assert (calls.has_read, calls.read(handle, "sid-4")) == (False, None)
    calls.destroy(handle)
    assert plugin.target.seen == [
        ("create", {"k": "v"}, "sid-4"), ("write", "sid-4", b"p", "sid-4"), ("destroy", "sid-4")]


def test_create_with_err_num_before_the_sid_gets_each_by_name() -> None:
    plugin, calls = load("err_num")
    handle = calls.create({}, "sid-5", "tag", 9)
    assert handle == "sid-5"  # "" from the wrapper
    calls.write(handle, frame("q", 1), "sid-5")
    assert outputs(calls.read(handle, "sid-5")) == []  # a placeholder read: an empty list
    calls.destroy(handle)
    assert plugin.target.seen == [
        ("create", 0, "sid-5", 9), ("write", "sid-5", b"q", "sid-5"), ("destroy", "sid-5")]


def test_a_v1_function_wrapper_gets_dicts_fills_resp_data_and_is_destoryed() -> None:
    plugin, calls = load("v1_functions")
    plugin.init({})  # no wrapperInit: nothing to do
    handle = calls.create({"p": "1"}, "sid-6", "tag-6", 3)
    assert (handle, calls.v1, calls.has_destroy) == ("v1-tag-6", True, True)
    calls.write(handle, frame("abc", 0), "sid-6")
    calls.write(handle, frame("de", 2), "sid-6")
    response = calls.read(handle, "sid-6")
    assert outputs(response) == [("result", b"cba", 0), ("result", b"ed", 2)]
    assert response is not None and dict(response.list[0].desc) == {"encoding": "utf8"}
    calls.destroy(handle)
    keys = ["data", "desc", "key", "len", "status", "type"]
    assert plugin.target.seen == [
        ("create", "tag-6", {"p": "1"}, [3], 1, 0),
        ("write", "v1-tag-6", keys, b"abc", 0), ("write", "v1-tag-6", keys, b"de", 2),
        ("read", "v1-tag-6"), ("destroy", "v1-tag-6"),
    ]


def test_a_v1_write_code_raises_with_its_wrapper_error_text() -> None:
    plugin, calls = load("v1_functions")
    handle = calls.create({}, "sid-7", "tag-7", 0)
    with pytest.raises(WrapperFailed) as failed:
        calls.write(handle, frame("bad", 1), "sid-7")
    assert (failed.value.code, failed.value.message) == (33, "v1 stream error 33")
    assert plugin.target.seen[0] == ("create", "tag-7", {}, [], 0, 0)


def test_a_wrapper_base_subclass_has_only_the_methods_it_defines() -> None:
    install_aiges_fallback()
    plugin, calls = load("sdk_base")
    assert (calls.has_read, calls.has_destroy) == (True, False)  # WrapperBase's stub is absent
    handle = calls.create({}, "sid-8", "tag-8", 0)
    assert handle == "sdk-sid-8"
    calls.write(handle, frame("hello", 1), "sid-8")
    assert outputs(calls.read(handle, "sid-8")) == [("result", b"hello", 1)]
    calls.destroy(handle)  # no wrapperDestroy of its own: nothing called
    assert plugin.target.seen == [
        ("create", "sid-8", 0, "tag-8"), ("write", "sdk-sid-8", b"hello", "sid-8")]


def test_create_returning_an_error_code_raises_it_with_the_wrapper_error_text() -> None:
    _, calls = load("faulty")
    with pytest.raises(WrapperFailed) as failed:
        calls.create({"mode": "code"}, "sid", "", 0)
    assert (failed.value.code, failed.value.message) == (42, "no free session")


def test_create_raising_is_10905_naming_the_exception() -> None:
    _, calls = load("faulty")
    with pytest.raises(WrapperFailed) as failed:
        calls.create({"mode": "raise"}, "sid", "", 0)
    assert (failed.value.code, failed.value.message) == (
        Code.WRAPPER_CREATE, "wrapperCreate raised RuntimeError: model not loaded")


def test_write_returning_a_code_or_raising_fails_with_its_code() -> None:
    _, calls = load("faulty")
    handle = calls.create({}, "sid", "", 0)
    with pytest.raises(WrapperFailed) as coded:
        calls.write(handle, frame("bad", 1), "sid")
    assert (coded.value.code, coded.value.message) == (5, "frame rejected")
    with pytest.raises(WrapperFailed) as raised:
        calls.write(handle, frame("boom", 1), "sid")
    assert (raised.value.code, raised.value.message) == (
        Code.WRAPPER_WRITE, "wrapperWrite raised ValueError: cannot decode frame")
    calls.write(handle, frame("fine", 2), "sid")


def test_read_raising_is_10908_and_destroy_raising_is_10906() -> None:
    plugin, calls = load("faulty")
    with pytest.raises(WrapperFailed) as read:
        calls.read("unknown", "sid")
    assert (read.value.code, read.value.message) == (
        Code.WRAPPER_READ, "wrapperRead raised KeyError: 'unknown'")
    with pytest.raises(WrapperFailed) as destroyed:
        calls.destroy("good")
    assert destroyed.value.code == Code.WRAPPER_DESTROY
    assert destroyed.value.message == "wrapperDestroy raised KeyError: 'unknown handle good'"
    assert plugin.target.seen == [("destroy", "good")]


def test_a_once_only_wrapper_has_no_streams() -> None:
    assert Plugin.load(str(ABILITIES / "variants" / "v1_dicts.py")).streams is None
    assert Plugin.load(str(ABILITIES / "sdk_style" / "wrapper.py")).streams is None


def test_the_sdk_stream_ability_is_adapted() -> None:
    plugin = Plugin.load(str(ABILITIES / "sdk_stream" / "wrapper.py"))
    assert plugin.streams is not None
    assert (plugin.streams.has_read, plugin.streams.has_destroy) == (False, True)


def wrapper_file(folder: Path, source: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wrapper.py"
    path.write_text(textwrap.dedent(source))
    return str(path)


def test_a_create_parameter_the_contract_cannot_fill_is_a_load_error(tmp_path: Path) -> None:
    spec = wrapper_file(tmp_path / "odd", """
        def wrapperInit(config):
            return 0
        def wrapperCreate(params, sid, model):
            return ""
    """)
    with pytest.raises(WrapperLoadError, match="wrapperCreate parameter 'model'"):
        Plugin.load(spec)


def test_a_create_taking_args_gets_the_contract_order(tmp_path: Path) -> None:
    spec = wrapper_file(tmp_path / "star", """
        seen = []
        def wrapperCreate(*args):
            seen.append(args)
            return None
    """)
    plugin = Plugin.load(spec)
    assert plugin.streams is not None
    assert plugin.streams.create({"a": "b"}, "sid", "tag", 4) == "sid"
    target: Any = plugin.target
    assert target.seen == [({"a": "b"}, "sid", 4, "tag")]
