"""serialize_response: byte for byte protobuf's deterministic CallResponse, from any data kind."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiges_embed
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.v1 import loader_pb2

texts = st.text(max_size=12)
int32s = st.integers(-(2**31), 2**31 - 1)
enums = st.one_of(st.sampled_from(range(5)), int32s)
# Keys from a tiny alphabet often prefix one another, which is where upb's map order is unusual.
string_maps = st.dictionaries(texts | st.text("ab\xe9\U0001f600", max_size=3), texts, max_size=4)


def _as_array(dtype: str, shape2d: bool = False) -> Callable[[bytes], tuple[Any, bytes]]:
    def convert(data: bytes) -> tuple[Any, bytes]:
        itemsize = np.dtype(dtype).itemsize
        usable = len(data) - len(data) % (2 * itemsize)
        array = np.frombuffer(data[:usable], dtype).copy()
        if shape2d:
            array = array.reshape(2, -1)
        return array, array.tobytes()

    return convert


def _as_payload(data: bytes) -> tuple[Any, bytes]:
    raw = loader_pb2.CallRequest(
        inputs=[loader_pb2.Data(type=loader_pb2.DATA_TYPE_AUDIO, data=data)]
    ).SerializeToString()
    return aiges_embed.parse_call(raw).data.list[0].data, data


# Each conversion gives (what the wrapper stores in .data, the bytes protobuf should carry).
DATA_KINDS: dict[str, Callable[[bytes], tuple[Any, bytes]]] = {
    "bytes": lambda b: (b, b),
    "bytearray": lambda b: (bytearray(b), b),
    "memoryview": lambda b: (memoryview(b), b),
    "payload": _as_payload,
    "uint8 array": _as_array("uint8"),
    "int16 array": _as_array("<i2"),
    "float32 array": _as_array("<f4"),
    "float64 2-d array": _as_array("<f8", shape2d=True),
    "None": lambda b: (None, b""),
}

data_values = st.one_of(
    st.tuples(st.sampled_from(sorted(DATA_KINDS)), st.binary(max_size=64)).map(
        lambda kind_bytes: DATA_KINDS[kind_bytes[0]](kind_bytes[1])
    ),
    texts.map(lambda s: (s, s.encode())),
)


@st.composite
def outputs(draw: st.DrawFn) -> tuple[Any, loader_pb2.Data]:
    key, type_, status, desc = draw(texts), draw(enums), draw(enums), draw(string_maps)
    data, expected = draw(data_values)
    output = aiges_embed.ResponseData(key, 0, status, type_)
    output.data, output.desc = data, desc
    # Open enums take any int32; the generated stub admits only DataType, hence the dict.
    fields: dict[str, Any] = {"key": key, "type": type_, "status": status, "desc": desc}
    return output, loader_pb2.Data(data=expected, **fields)


def _expected(sid: str, data: list[loader_pb2.Data]) -> bytes:
    return loader_pb2.CallResponse(sid=sid, outputs=data).SerializeToString(deterministic=True)


@given(texts, st.lists(outputs(), max_size=4))
def test_serialize_response_equals_protobuf_deterministic(
    sid: str, pairs: list[tuple[Any, loader_pb2.Data]]
) -> None:
    written = aiges_embed.serialize_response(sid, [output for output, _ in pairs])
    assert written == _expected(sid, [data for _, data in pairs])


@given(st.lists(outputs(), min_size=1, max_size=3), enums)
def test_status_argument_overrides_every_output(
    pairs: list[tuple[Any, loader_pb2.Data]], status: int
) -> None:
    for _, data in pairs:
        data.status = status  # type: ignore[assignment]  # open enum: any int32
    written = aiges_embed.serialize_response("s", [output for output, _ in pairs], status=status)
    assert written == _expected("s", [data for _, data in pairs])


@settings(deadline=None)
@given(st.sampled_from([np.dtype(np.uint8), np.dtype(np.float32)]), st.integers(1, 4))
def test_large_outputs_are_written_exactly(dtype: np.dtype[Any], mebibytes: int) -> None:
    array = np.arange((mebibytes << 20) // dtype.itemsize, dtype=dtype)
    output = aiges_embed.ResponseData("audio", 0, 3, 1)
    output.setData(array)
    expected = _expected(
        "s",
        [
            loader_pb2.Data(
                key="audio",
                type=loader_pb2.DATA_TYPE_AUDIO,
                status=loader_pb2.DATA_STATUS_ONCE,
                data=array.tobytes(),
            )
        ],
    )
    assert aiges_embed.serialize_response("s", [output]) == expected


def test_desc_entries_follow_upbs_order_where_a_key_prefixes_another() -> None:
    desc = {"b": "", "a": "", "": "", "ab": ""}
    written = aiges_embed.serialize_response("", [SimpleNamespace(desc=desc)])
    assert written == _expected("", [loader_pb2.Data(desc=desc)])
    assert written.index(b"\n\x02ab") < written.index(b"\n\x01a") < written.index(b"\n\x01b")


def test_any_object_with_the_attributes_serializes_and_missing_ones_are_empty() -> None:
    outputs = [
        SimpleNamespace(key="a", data=b"x"),
        SimpleNamespace(),
        SimpleNamespace(key=None, desc=None, type=None),
    ]
    expected = _expected(
        "", [loader_pb2.Data(key="a", data=b"x"), loader_pb2.Data(), loader_pb2.Data()]
    )
    assert aiges_embed.serialize_response("", outputs) == expected


def test_written_length_is_the_datas_not_the_len_field() -> None:
    output = aiges_embed.ResponseData("r", 999, 3, 0)
    output.data = "héllo"
    expected = _expected(
        "s", [loader_pb2.Data(key="r", status=loader_pb2.DATA_STATUS_ONCE, data="héllo".encode())]
    )
    assert aiges_embed.serialize_response("s", [output]) == expected


def test_parsed_inputs_echo_back_unchanged() -> None:
    request = loader_pb2.CallRequest(
        inputs=[
            loader_pb2.Data(
                key="img",
                type=loader_pb2.DATA_TYPE_IMAGE,
                status=loader_pb2.DATA_STATUS_ONCE,
                desc={"encoding": "jpg"},
                data=b"\x00\xff" * 50,
            )
        ]
    )
    echoed = aiges_embed.serialize_response(
        "s", aiges_embed.parse_call(request.SerializeToString()).data.list
    )
    assert echoed == _expected("s", list(request.inputs))


@pytest.mark.parametrize(
    "data",
    [np.arange(10)[::2], np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3))],
    ids=["strided", "fortran order"],
)
def test_non_contiguous_data_is_a_type_error_naming_the_output(data: Any) -> None:
    with pytest.raises(TypeError, match=r"key 'img'.*not C-contiguous"):
        aiges_embed.serialize_response("s", [aiges_embed.ResponseData("img", data=data)])


def test_unsupported_data_is_a_type_error_naming_output_and_type() -> None:
    with pytest.raises(TypeError, match=r"key 'n'\) data must be bytes-like or str, not int"):
        aiges_embed.serialize_response("s", [aiges_embed.ResponseData("n", data=42)])


def test_non_str_desc_value_is_a_type_error() -> None:
    output = SimpleNamespace(key="r", desc={"rate": 16000}, data=b"")
    with pytest.raises(TypeError, match=r"desc\[rate\] must be str, not int"):
        aiges_embed.serialize_response("s", [output])


def test_out_of_range_type_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="outside int32"):
        aiges_embed.serialize_response("s", [SimpleNamespace(key="r", type=2**31)])


def test_sid_must_be_str() -> None:
    with pytest.raises(TypeError, match="sid must be str"):
        aiges_embed.serialize_response(b"s", [])  # type: ignore[arg-type]
