"""Payload: input bytes seen in place, read-only, kept alive, and usable like bytes."""

from __future__ import annotations

import gc

import aiges_embed
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loader.v1 import loader_pb2


def _request(*payloads: bytes) -> bytes:
    inputs = [
        loader_pb2.Data(key=f"in{i}", type=loader_pb2.DATA_TYPE_AUDIO, data=p)
        for i, p in enumerate(payloads)
    ]
    return loader_pb2.CallRequest(sid="s", inputs=inputs).SerializeToString()


def _payload(data: bytes) -> aiges_embed.Payload:
    payload = aiges_embed.parse_call(_request(data)).data.list[0].data
    assert isinstance(payload, aiges_embed.Payload)
    return payload


def _address(buffer: object) -> int:
    return int(np.frombuffer(buffer, np.uint8).ctypes.data)  # type: ignore[call-overload]


def test_payload_points_into_the_request_bytes_at_the_data_offset() -> None:
    raw = _request(b"first payload", b"second payload")
    for node, data in zip(
        aiges_embed.parse_call(raw).data.list, (b"first payload", b"second payload"), strict=True
    ):
        assert _address(node.data) == _address(raw) + raw.find(data)
        assert node.data.owner is raw


def test_numpy_view_of_a_payload_shares_memory_and_is_read_only() -> None:
    samples = np.arange(1000, dtype="<f4")
    raw = _request(samples.tobytes())
    array = np.frombuffer(aiges_embed.parse_call(raw).data.list[0].data, "<f4")
    assert np.shares_memory(array, np.frombuffer(raw, np.uint8))
    assert np.array_equal(array, samples)
    with pytest.raises(ValueError, match="read-only"):
        array[0] = 1.0


def test_payload_buffer_refuses_writers() -> None:
    view = memoryview(_payload(b"abc"))
    assert view.readonly and view.format == "B" and view.shape == (3,)
    with pytest.raises(TypeError):
        view[0] = 1


def test_payload_keeps_its_request_alive_after_the_request_is_dropped() -> None:
    data = bytes(range(256)) * 16
    raw = _request(data)
    payload = aiges_embed.parse_call(raw).data.list[0].data
    del raw
    gc.collect()
    assert bytes(payload) == data
    assert bytes(np.frombuffer(payload, np.uint8)) == data


def test_bytearray_request_cannot_be_resized_while_views_exist() -> None:
    raw = bytearray(_request(b"payload"))
    call = aiges_embed.parse_call(raw)
    with pytest.raises(BufferError):
        raw.extend(b"more")
    del call
    gc.collect()
    raw.extend(b"more")  # the last view is gone, so the export is released


def test_64_mib_payload_parses_in_place() -> None:
    data = np.random.default_rng(7).integers(0, 256, 64 << 20, dtype=np.uint8).tobytes()
    raw = _request(data)
    node = aiges_embed.parse_call(raw).data.list[0]
    assert node.len == len(data) == len(node.data)
    assert _address(node.data) == _address(raw) + len(raw) - len(data)
    assert node.data[-1] == data[-1] and node.data[:16] == data[:16]


def test_payload_behaves_like_bytes() -> None:
    payload = _payload(b"hello, world")
    assert len(payload) == 12 and bool(payload) and not _payload(b"")
    assert bytes(payload) == payload.tobytes() == b"hello, world"
    assert (
        payload.decode() == "hello, world" and payload.decode("ascii", "strict") == "hello, world"
    )
    assert payload == b"hello, world" == payload  # noqa: PLR0124
    assert payload == bytearray(b"hello, world") and payload == memoryview(b"hello, world")
    assert payload == _payload(b"hello, world") and payload != _payload(b"other")
    assert payload != "hello, world" and payload != b"hello"
    table: dict[object, int] = {payload: 1}
    assert hash(payload) == hash(b"hello, world") and table[b"hello, world"] == 1
    assert payload[0] == ord("h") and payload[-1] == ord("d") and payload[1:5] == b"ello"
    assert payload[::-3] == b"hello, world"[::-3]
    assert list(payload) == list(b"hello, world")
    assert ord("w") in payload and b"lo, w" in payload and b"xyz" not in payload
    assert payload.hex() == b"hello, world".hex() and payload.hex(":", 2) == b"hello, world".hex(
        ":", 2
    )
    assert payload.startswith(b"hell") and payload.endswith((b"x", b"world"))
    assert repr(payload) == "<Payload 12 bytes>"


def test_payload_bytes_errors_match_bytes() -> None:
    payload = _payload(b"abc")
    with pytest.raises(IndexError):
        payload[3]
    with pytest.raises(ValueError, match="range"):
        256 in payload  # noqa: B015
    with pytest.raises(ValueError, match="range"):
        2**100 in payload  # noqa: B015
    assert payload.startswith(b"", 2**100) == b"abc".startswith(b"", 2**100)
    with pytest.raises(TypeError):
        "a" in payload  # type: ignore[operator]  # noqa: B015
    with pytest.raises(UnicodeDecodeError):
        _payload(b"\xff").decode()


def test_other_bytes_methods_run_on_a_copy() -> None:
    payload = _payload(b"a,b,c")
    assert payload.split(b",") == [b"a", b"b", b"c"]
    assert payload.upper() == b"A,B,C" and payload.count(b",") == 2


def test_dunder_probes_do_not_fall_back_to_bytes() -> None:
    with pytest.raises(AttributeError):
        _payload(b"abc").__array_interface__  # noqa: B018
    assert np.asarray(_payload(b"abc")).tobytes() == b"abc"


indexes = st.none() | st.integers(-12, 12)


@given(st.binary(max_size=10), st.binary(max_size=3), indexes, indexes)
def test_startswith_and_endswith_follow_bytes(
    data: bytes, affix: bytes, start: int | None, end: int | None
) -> None:
    payload = _payload(data)
    assert payload.startswith(affix, start, end) == data.startswith(affix, start, end)
    assert payload.endswith(affix, start, end) == data.endswith(affix, start, end)


@given(st.binary(max_size=10), indexes, indexes, st.none() | st.integers(-4, 4).filter(bool))
def test_slicing_follows_bytes(
    data: bytes, start: int | None, stop: int | None, step: int | None
) -> None:
    assert _payload(data)[start:stop:step] == data[start:stop:step]
