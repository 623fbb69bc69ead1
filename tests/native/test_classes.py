"""The contract's classes, constants and callbacks, as existing wrappers use them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Any

import aiges_embed
import numpy as np
import pytest
from aiges_embed import (
    DataListCls,
    DataListNode,
    Response,
    ResponseData,
    SessionCreateResponse,
    callback,
)

from loader.v1 import loader_pb2


@pytest.fixture(autouse=True)
def no_hooks() -> Iterator[None]:
    aiges_embed.clear_hooks()
    yield
    aiges_embed.clear_hooks()


def test_constants_have_the_contracts_values() -> None:
    types = [
        aiges_embed.DataText,
        aiges_embed.DataAudio,
        aiges_embed.DataImage,
        aiges_embed.DataVideo,
        aiges_embed.DataPer,
    ]
    statuses = [
        aiges_embed.DataBegin,
        aiges_embed.DataContinue,
        aiges_embed.DataEnd,
        aiges_embed.DataOnce,
    ]
    assert types == [0, 1, 2, 3, 4] and statuses == [0, 1, 2, 3] and aiges_embed.Once == 3


def test_data_list_node_defaults_and_keywords() -> None:
    node = DataListNode()
    assert (node.key, node.data, node.len, node.type, node.status, node.desc) == (
        "",
        b"",
        0,
        0,
        0,
        {},
    )
    assert type(node.desc) is dict and node.desc is not DataListNode().desc
    node = DataListNode(key="img", data=b"xy", len=2, type=2, status=3, desc={"encoding": "jpg"})
    assert (node.key, node.get_data(), node.len, node.type, node.status) == ("img", b"xy", 2, 2, 3)
    assert node.desc == {"encoding": "jpg"}


def test_desc_keeps_a_dict_and_copies_other_mappings() -> None:
    node, desc = DataListNode(), {"a": "1"}
    node.desc = desc
    assert node.desc is desc
    node.desc = MappingProxyType({"b": "2"})
    assert type(node.desc) is dict and node.desc == {"b": "2"}


def test_key_must_be_str() -> None:
    with pytest.raises(TypeError, match="key must be str"):
        DataListNode().key = 1  # type: ignore[assignment]


def test_data_list_cls_list_is_a_live_python_list() -> None:
    first, second, again = DataListNode(key="a"), DataListNode(key="b"), DataListNode(key="a")
    inputs = DataListCls()
    inputs.list.append(first)
    inputs.list += [second, again]
    assert inputs.get("a") is first and inputs.get("b") is second and inputs.get("c") is None
    inputs.list = (second,)
    assert inputs.list == [second] and type(inputs.list) is list


def test_response_data_constructors_follow_the_contract() -> None:
    empty = ResponseData()
    assert (empty.key, empty.data, empty.len, empty.status, empty.type, empty.desc) == (
        "",
        b"",
        0,
        0,
        0,
        {},
    )
    positional = ResponseData("result", 5, 3, 2)
    assert (positional.key, positional.len, positional.status, positional.type) == (
        "result",
        5,
        3,
        2,
    )
    keywords = ResponseData(key="result", len=5, status=3, type=2)
    assert (keywords.key, keywords.len, keywords.status, keywords.type) == ("result", 5, 3, 2)


def test_set_data_sets_the_byte_length() -> None:
    output = ResponseData()
    output.setData(b"abc")
    assert (output.data, output.len) == (b"abc", 3)
    output.setData("héllo")
    assert (output.data, output.len) == ("héllo", 6)
    array = np.zeros(10, np.float32)
    output.setData(array)
    assert output.data is array and output.len == 40
    output.setDataType(aiges_embed.DataAudio)
    assert output.type == 1
    with pytest.raises(TypeError, match="bytes-like or str"):
        output.setData(12)  # type: ignore[arg-type]


def test_response_list_and_response_err() -> None:
    output = ResponseData("r", 1, 3, 0)
    response = Response(list=[output])
    response.list.append(ResponseData())
    assert len(response.list) == 2 and response.list[0] is output and response.error_code == 0
    failed = response.response_err(10109)
    assert failed is not response and (failed.error_code, failed.list) == (10109, [])
    assert len(response.list) == 2 and response.error_code == 0


def test_session_create_response_fields() -> None:
    session = SessionCreateResponse()
    assert (session.handle, session.error_code) == ("", 0)
    session.handle, session.error_code = "h1", 5
    assert (session.handle, session.error_code) == ("h1", 5)
    assert SessionCreateResponse(handle="h2").handle == "h2"


@pytest.mark.parametrize(
    "cls", [DataListNode, DataListCls, ResponseData, Response, SessionCreateResponse]
)
def test_wrappers_can_hang_their_own_attributes(cls: type) -> None:
    instance = cls()
    instance.trace_id = "t-1"
    assert instance.trace_id == "t-1"


def test_reprs_name_the_fields() -> None:
    assert (
        repr(ResponseData("r", 1, 3, 0))
        == "ResponseData(key='r', type=0, status=3, len=1, desc={})"
    )
    assert repr(Response()) == "Response(error_code=0, list=[])"
    assert repr(SessionCreateResponse("h")) == "SessionCreateResponse(handle='h', error_code=0)"
    assert repr(DataListCls()) == "DataListCls(list=[])"


def test_callback_without_a_loader_hook_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="aiges_embed.callback called outside a loader worker"):
        callback(Response(), "tag")


def test_callbacks_route_to_the_registered_hooks() -> None:
    calls: list[tuple[Any, ...]] = []

    def recorder(name: str, result: int) -> Callable[..., int]:
        def hook(*args: Any) -> int:
            calls.append((name, *args))
            return result

        return hook

    aiges_embed.set_hooks(callback=recorder("callback", 7))
    aiges_embed.set_hooks(metric=recorder("metric", 8))
    aiges_embed.set_hooks(trace=recorder("trace", 9))
    response = Response()
    assert callback(response, "tag") == 7 and callback(response, "tag", "sid-1") == 7
    assert aiges_embed.callback_metric("tag", "frames", 3) == 8
    assert aiges_embed.callback_trace("tag", "stage", "decode") == 9
    assert calls == [
        ("callback", response, "tag"),
        ("callback", response, "tag", "sid-1"),
        ("metric", "tag", "frames", 3),
        ("trace", "tag", "stage", "decode"),
    ]


def test_metric_and_trace_without_hooks_return_zero_and_clear_removes_hooks() -> None:
    assert (
        aiges_embed.callback_metric("tag", "k", 1) == 0
        and aiges_embed.callback_trace("tag", "k", "v") == 0
    )
    aiges_embed.set_hooks(callback=lambda resp, tag: 0)
    aiges_embed.clear_hooks()
    with pytest.raises(RuntimeError):
        callback(Response(), "tag")


def test_set_hooks_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="callback must be callable"):
        aiges_embed.set_hooks(callback=3)  # type: ignore[arg-type]


def test_a_classic_wrapper_runs_unchanged_end_to_end() -> None:
    def wrapperOnceExec(
        params: dict[str, str], reqData: DataListCls, usrTag: str = "", persId: int = 0
    ) -> Response:
        text = reqData.get("text").data.decode("utf-8")  # type: ignore[union-attr]
        image = reqData.list[1].data
        res = Response()
        l = ResponseData()  # noqa: E741
        l.key = "result"
        l.type = 0
        l.status = 3
        l.data = f"{text}:{len(image)}".encode()
        l.len = len(l.data)
        res.list = [l]
        return res

    request = loader_pb2.CallRequest(
        sid="s1",
        inputs=[
            loader_pb2.Data(key="text", data=b"hi"),
            loader_pb2.Data(key="img", type=loader_pb2.DATA_TYPE_IMAGE, data=b"\x89PNG"),
        ],
    )
    call = aiges_embed.parse_call(request.SerializeToString())
    response = wrapperOnceExec(call.params, call.data, call.usr_tag, call.pers_id)
    expected = loader_pb2.CallResponse(
        sid="s1",
        outputs=[loader_pb2.Data(key="result", status=loader_pb2.DATA_STATUS_ONCE, data=b"hi:4")],
    )
    assert aiges_embed.serialize_response(call.sid, response.list) == expected.SerializeToString(
        deterministic=True
    )
