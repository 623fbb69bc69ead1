"""wrappers/echo: every input returned under its own key, type and attributes."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from aiges_embed import Payload, serialize_response

from loader.v1 import loader_pb2 as pb

from .abilities import DATA_ONCE, load_ability, make_request

DATA_TEXT, DATA_AUDIO, DATA_IMAGE = 0, 1, 2


@pytest.fixture(scope="module")
def echo_module() -> ModuleType:
    return load_ability("echo")


@pytest.fixture
def echo(echo_module: ModuleType) -> Iterator[Any]:
    wrapper = echo_module.Wrapper()
    assert wrapper.wrapperInit({}) == 0
    yield wrapper
    assert wrapper.wrapperFini() == 0


def test_class_attributes_name_the_route(echo_module: ModuleType) -> None:
    assert (echo_module.Wrapper.serviceId, echo_module.Wrapper.version) == ("echo", "v1")


def test_version_is_a_non_empty_string(echo: Any) -> None:
    assert isinstance(echo.wrapperVersion(), str) and echo.wrapperVersion()


def test_each_input_comes_back_with_its_key_type_desc_and_bytes(echo: Any) -> None:
    audio = np.arange(-800, 800, dtype="<i2").tobytes()
    request = make_request(
        ("text", "héllo".encode(), DATA_TEXT, {"encoding": "utf8"}),
        ("audio", audio, DATA_AUDIO, {"encoding": "raw", "sample_rate": "16000"}),
        ("picture", b"\x89PNG\r\n\x1a\n", DATA_IMAGE, {"encoding": "png"}),
    )

    response = echo.wrapperOnceExec({"sid": "s1"}, request, "tag", 0)

    assert response.error_code == 0
    outputs = [(o.key, o.type, o.status, dict(o.desc), bytes(o.data), o.len) for o in response.list]
    assert outputs == [
        ("text", DATA_TEXT, DATA_ONCE, {"encoding": "utf8"}, "héllo".encode(), 6),
        ("audio", DATA_AUDIO, DATA_ONCE, {"encoding": "raw", "sample_rate": "16000"}, audio, 3200),
        ("picture", DATA_IMAGE, DATA_ONCE, {"encoding": "png"}, b"\x89PNG\r\n\x1a\n", 8),
    ]


def test_binary_input_is_returned_without_a_copy(echo: Any) -> None:
    request = make_request(("audio", bytes(range(256)) * 64, DATA_AUDIO, {}))
    received = request.get("audio").data
    assert isinstance(received, Payload)  # what the loader hands over, not bytes

    [output] = echo.wrapperOnceExec({}, request, "", 0).list

    sent = np.frombuffer(output.data, dtype=np.uint8)
    assert np.shares_memory(sent, np.frombuffer(received, dtype=np.uint8))


def test_outputs_encode_on_the_wire_as_the_inputs_were_sent(echo: Any) -> None:
    request = make_request(
        ("text", b"hello", DATA_TEXT, {"encoding": "utf8"}),
        ("picture", b"\xff\xd8\xff", DATA_IMAGE, {"encoding": "jpg"}),
    )

    response = echo.wrapperOnceExec({}, request, "", 0)

    wire = pb.CallResponse.FromString(serialize_response("s1", response.list))
    outputs = [(o.key, o.type, o.status, dict(o.desc), o.data) for o in wire.outputs]
    assert outputs == [
        ("text", DATA_TEXT, DATA_ONCE, {"encoding": "utf8"}, b"hello"),
        ("picture", DATA_IMAGE, DATA_ONCE, {"encoding": "jpg"}, b"\xff\xd8\xff"),
    ]


def test_empty_input_is_returned_as_empty_output(echo: Any) -> None:
    response = echo.wrapperOnceExec({}, make_request(("blank", b"", DATA_AUDIO, {})), "", 0)

    assert response.error_code == 0
    assert [(o.key, bytes(o.data), o.len) for o in response.list] == [("blank", b"", 0)]


def test_request_without_inputs_returns_code_13001_with_a_message(echo: Any) -> None:
    response = echo.wrapperOnceExec({}, make_request(), "", 0)

    assert response.error_code == 13001
    assert "no input" in echo.wrapperError(13001)
