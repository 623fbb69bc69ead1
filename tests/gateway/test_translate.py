"""AIGES JSON <-> loader.v1 translation, without a server."""
from __future__ import annotations

import pytest

from gateway.errors import BadRequest
from gateway.translate import to_call, to_json
from loader.v1 import loader_pb2
from tests.support import aiges_body, b64


def test_payload_items_become_inputs_with_type_status_and_desc() -> None:
    payload = {"audio": {"encoding": "raw", "sample_rate": 16000, "status": 2,
                         "audio": b64(b"\x00\x01")}}
    call = to_call(aiges_body("asr", payload, {"ctrl": 1, "flag": True}), "asr", "sid1",
                   ("app_id",))
    (data,) = call.inputs
    assert (data.key, data.type, data.status, data.data) == ("audio", 1, 2, b"\x00\x01")
    assert dict(data.desc) == {"encoding": "raw", "sample_rate": "16000"}
    assert dict(call.params) == {"app_id": "test", "ctrl": "1", "flag": "true", "sid": "sid1"}


def test_parameter_objects_become_accepts_with_inferred_types() -> None:
    params = {"result": {"encoding": "utf8"}, "img": {"encoding": "jpg"}, "x": {"a": 1}}
    call = to_call(aiges_body("s", {"t": {"text": b64("x")}}, params), "s", "sid", ())
    kinds = {a.key: (a.type if a.HasField("type") else None) for a in call.accepts}
    assert kinds == {"result": 0, "img": 2, "x": None}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], 10163),
        ({"payload": []}, 10163),
        ({"payload": {}}, 10001),
        ({"payload": {"a": {"text": "x", "image": "y"}}}, 10001),
        ({"payload": {"a": {"text": 5}}}, 10001),
        ({"payload": {"a": {"text": "=="}}}, 10001),
        ({"payload": {"a": {"text": b64("x"), "status": "soon"}}}, 10001),
        ({"parameter": {"s": {"l": [1]}}, "payload": {"a": {"text": b64("x")}}}, 10107),
    ],
)
def test_malformed_requests_raise_bad_request_with_code(body: object, code: int) -> None:
    with pytest.raises(BadRequest) as caught:
        to_call(body, "s", "sid", ())
    assert caught.value.code == code


def test_response_text_is_raw_and_binary_base64_with_accept_attributes() -> None:
    response = loader_pb2.CallResponse(sid="sid", outputs=[
        loader_pb2.Data(key="result", type=0, status=3, data="é".encode()),
        loader_pb2.Data(key="pic", type=2, status=3, desc={"encoding": "png"}, data=b"\x89P"),
        loader_pb2.Data(key="odd", type=0, status=3, data=b"\xff"),
    ])
    accepts = [loader_pb2.Accept(key="result", attrs={"encoding": "utf8", "format": "plain"})]
    body = to_json(response, accepts)
    assert body["header"] == {"code": 0, "message": "success", "sid": "sid", "status": 3}
    assert body["payload"]["result"] == {"encoding": "utf8", "format": "plain", "seq": "0",
                                         "status": "3", "text": "é"}
    assert body["payload"]["pic"]["image"] == b64(b"\x89P")
    assert body["payload"]["odd"] == {"encoding": "base64", "seq": "0", "status": "3",
                                      "text": b64(b"\xff")}
