"""AIGES JSON <-> loader.v1 translation, without a server."""
from __future__ import annotations

import json
from typing import Any

import pytest
from athena_codec import parse_request
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import BadRequest
from gateway.translate import Accept, Call, to_call, to_json
from loader.v1 import loader_pb2
from tests.support import aiges_body, b64

from . import reference_translate as reference


def sent(call: Call) -> loader_pb2.CallRequest:
    return loader_pb2.CallRequest.FromString(call.request)


def parsed(body: object) -> Any:
    """body as the gateway sees it: JSON bytes through parse_request (payloads as spans)."""
    return parse_request(json.dumps(body).encode())


def test_payload_items_become_inputs_with_type_status_and_desc() -> None:
    payload = {"audio": {"encoding": "raw", "sample_rate": 16000, "status": 2,
                         "audio": b64(b"\x00\x01")}}
    body = aiges_body("asr", payload, {"ctrl": 1, "flag": True})
    for form in (body, parsed(body)):
        call = sent(to_call(form, "asr", "sid1", ("app_id",)))
        (data,) = call.inputs
        assert (data.key, data.type, data.status, data.data) == ("audio", 1, 2, b"\x00\x01")
        assert dict(data.desc) == {"encoding": "raw", "sample_rate": "16000"}
        # the sid travels once, in CallRequest.sid: the worker puts it into the wrapper's params
        assert call.sid == "sid1"
        assert dict(call.params) == {"app_id": "test", "ctrl": "1", "flag": "true"}


def test_parameter_objects_become_accepts_with_inferred_types() -> None:
    params = {"result": {"encoding": "utf8"}, "img": {"encoding": "jpg"}, "x": {"a": 1}}
    call = to_call(parsed(aiges_body("s", {"t": {"text": b64("x")}}, params)), "s", "sid", ())
    kinds = {a.key: (a.type if a.HasField("type") else None) for a in sent(call).accepts}
    assert kinds == {"result": 0, "img": 2, "x": None}
    assert call.accepts == [("result", 0, {"encoding": "utf8"}), ("img", 2, {"encoding": "jpg"}),
                            ("x", None, {"a": "1"})]


def test_a_json_null_attribute_header_field_or_parameter_is_left_out_not_sent_as_none() -> None:
    payload = {"audio": {"encoding": "raw", "sample_rate": None, "status": 3,
                         "audio": b64(b"\x00")}}
    body = aiges_body("asr", payload, {"ctrl": None, "result": {"encoding": "utf8",
                                                                "format": None}})
    body["header"]["uid"] = None
    for form in (body, parsed(body)):
        call = to_call(form, "asr", "sid1", ("app_id", "uid"))
        (data,) = sent(call).inputs
        assert dict(data.desc) == {"encoding": "raw"}
        assert dict(sent(call).params) == {"app_id": "test"}
        assert call.accepts == [("result", 0, {"encoding": "utf8"})]


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
        ({"payload": {"a": {"text": b64("x"), "status": 2**31}}}, 10001),
        ({"parameter": {"s": {"l": [1]}}, "payload": {"a": {"text": b64("x")}}}, 10107),
    ],
)
def test_malformed_requests_raise_bad_request_with_code(body: object, code: int) -> None:
    for form in (body, parsed(body)):
        with pytest.raises(BadRequest) as caught:
            to_call(form, "s", "sid", ())
        assert caught.value.code == code


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"a": {"audio": "***"}, "b": {}}, "payload 'a': audio is not valid base64"),
        ({"a": {"audio": b64("x")}, "b": {"image": "QQ="}},
         "payload 'b': image is not valid base64"),
        ({"a": {"video": "QQ", "status": "x"}}, "payload 'a': video is not valid base64"),
        ({"a": {"video": "QQ==", "status": "x"}}, "payload 'a': status 'x' is not 0, 1, 2 or 3"),
        ({"a": {"text": "QQ=="}, "b": {"x": 1}}, "payload 'b' must carry exactly one of text, "
                                                 "audio, image, video (found 0)"),
    ],
)
def test_the_first_problem_in_item_order_is_the_one_reported(payload: dict[str, Any],
                                                             message: str) -> None:
    with pytest.raises(BadRequest, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        to_call(parsed({"payload": payload}), "s", "sid", ())


@pytest.mark.parametrize("whole_as", [2, 3])
def test_a_whole_input_sends_every_last_item_with_the_status_given(whole_as: int) -> None:
    payload = {"a": {"text": b64("x"), "status": 2}, "b": {"text": b64("y"), "status": 3},
               "c": {"text": b64("z")}}
    for form in ({"payload": payload}, parsed({"payload": payload})):
        call = sent(to_call(form, "s", "sid", (), whole_as=whole_as))
        assert [(d.key, d.status) for d in call.inputs] == [("a", whole_as), ("b", whole_as),
                                                            ("c", whole_as)]


@pytest.mark.parametrize("status", [0, 1, 7, "1"])
def test_a_whole_input_refuses_items_whose_status_is_not_last_with_10001(status: object
                                                                         ) -> None:
    payload = {"a": {"text": b64("x")}, "b": {"text": b64("y"), "status": status}}
    with pytest.raises(BadRequest, match=f"^payload 'b': status {status} does not end") as caught:
        to_call(parsed({"payload": payload}), "s", "sid", (), whole_as=2)
    assert caught.value.code == 10001
    # without whole_as they pass, as a JSON POST's statuses always have
    (_, item) = sent(to_call(parsed({"payload": payload}), "s", "sid", ())).inputs
    assert item.status == int(str(status))


def test_a_whole_input_still_reports_bad_base64_first() -> None:
    payload = {"a": {"text": "***", "status": 0}}
    with pytest.raises(BadRequest, match="^payload 'a': text is not valid base64"):
        to_call(parsed({"payload": payload}), "s", "sid", (), whole_as=2)


def test_an_escaped_slash_in_base64_is_a_slash() -> None:
    escaped = b64(b"\xff\xff\xfe").replace("/", "\\/")
    body = ('{"payload": {"a": {"image": "' + escaped + '"}}}').encode()
    assert b"\\/" in body
    (data,) = sent(to_call(parse_request(body), "s", "sid", ())).inputs
    assert data.data == b"\xff\xff\xfe"


# Random AIGES bodies: the native path must build the CallRequest the Python one built, or
# fail with the same error.
json_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-1e6, 1e6) \
    | st.just(float("nan")) | st.text(max_size=5)
valid_base64 = st.binary(max_size=24).map(b64)
base64_texts = st.integers(0, 4).flatmap(lambda n: valid_base64 if n else st.sampled_from(
    ["", "QQ", "QQ=", "Q===", "*A==", "QUJD=", "QU/D", "QU-D"]))
extras = st.fixed_dictionaries({}, optional={
    "status": st.integers(-3, 5) | json_scalars, "encoding": st.sampled_from(["raw", "utf8"]),
    "rate": json_scalars, "nested": st.dictionaries(st.text(max_size=3), json_scalars, max_size=2),
})
one_data_key = st.builds(lambda kind, data, more: {**more, kind: data},
                         st.sampled_from(["text", "audio", "image", "video"]), base64_texts, extras)
odd_items = st.fixed_dictionaries({}, optional={
    "text": base64_texts, "audio": base64_texts | json_scalars, "image": base64_texts,
}).flatmap(lambda item: extras.map(lambda more: {**more, **item}))
# mostly well-formed items, so that most bodies translate; the odd ones probe the errors
items = st.integers(0, 9).flatmap(
    lambda n: odd_items if n == 0 else json_scalars if n == 1 else one_data_key)
bodies = st.fixed_dictionaries(
    {"payload": st.dictionaries(st.text(max_size=4), items, min_size=1, max_size=3)},
    optional={
        "header": st.dictionaries(st.sampled_from(["app_id", "uid", "did"]), json_scalars),
        "parameter": st.fixed_dictionaries({"s": st.dictionaries(
            st.text(max_size=4),
            json_scalars | st.dictionaries(st.sampled_from(["encoding", "format"]),
                                           st.sampled_from(["utf8", "png", "raw", "x"])),
            max_size=3,
        )}),
    },
)


def outcome(translate: Any, body: Any) -> Any:
    try:
        call = translate(body, "s", "sid", ("app_id", "uid"))
    except BadRequest as error:
        return "error", error.message, error.code
    return "ok", sent(call) if isinstance(call, Call) else call


@settings(deadline=None, max_examples=300)
@given(bodies, st.booleans())
def test_native_translation_equals_the_python_one(body: dict[str, Any], escape: bool) -> None:
    raw = json.dumps(body).encode()
    if escape:
        raw = raw.replace(b"/", b"\\/")  # what some JSON encoders send; the same document
    assert outcome(to_call, parse_request(raw)) == outcome(reference.to_call, json.loads(raw))


def test_response_text_is_raw_and_binary_base64_with_accept_attributes() -> None:
    response = loader_pb2.CallResponse(sid="sid", outputs=[
        loader_pb2.Data(key="result", type=0, status=3, data="é".encode()),
        loader_pb2.Data(key="pic", type=2, status=3, desc={"encoding": "png"}, data=b"\x89P"),
        loader_pb2.Data(key="odd", type=0, status=3, data=b"\xff"),
    ])
    accepts: list[Accept] = [("result", 0, {"encoding": "utf8", "format": "plain"})]
    body = json.loads(to_json(response.SerializeToString(), accepts))
    assert body["header"] == {"code": 0, "message": "success", "sid": "sid", "status": 3}
    assert body["payload"]["result"] == {"encoding": "utf8", "format": "plain", "seq": "0",
                                         "status": "3", "text": "é"}
    assert body["payload"]["pic"]["image"] == b64(b"\x89P")
    assert body["payload"]["odd"] == {"encoding": "base64", "seq": "0", "status": "3",
                                      "text": b64(b"\xff")}


outputs = st.builds(
    loader_pb2.Data, key=st.sampled_from(["a", "b", "result"]), type=st.integers(0, 5),
    status=st.integers(0, 3), desc=st.dictionaries(st.sampled_from(["encoding", "x"]),
                                                   st.text(max_size=3), max_size=2),
    data=st.binary(max_size=20) | st.text(max_size=8).map(str.encode),
)
accept_specs = st.lists(
    st.tuples(st.sampled_from(["a", "result", "z"]), st.none() | st.integers(0, 3),
              st.dictionaries(st.sampled_from(["encoding", "format"]), st.text(max_size=3),
                              max_size=2)),
    max_size=3,
)


@settings(deadline=None)
@given(st.text(max_size=6), st.lists(outputs, max_size=4), accept_specs)
def test_response_json_equals_the_python_rendering(sid: str, outs: list[loader_pb2.Data],
                                                   accepts: list[Accept]) -> None:
    response = loader_pb2.CallResponse(sid=sid, outputs=outs)
    messages = [loader_pb2.Accept(key=key, attrs=attrs) for key, _, attrs in accepts]
    rendered = to_json(response.SerializeToString(), accepts)
    assert json.loads(rendered) == reference.to_json(response, messages)
    assert rendered == json.dumps(json.loads(rendered), ensure_ascii=False,
                                  separators=(",", ":")).encode()


def test_the_first_bad_base64_in_item_order_is_reported_whatever_kind_of_bad() -> None:
    """An earlier item with a bad character and a later one with bad padding: the earlier."""
    body = parse_request(json.dumps({"payload": {"0": {"text": "QU-D"}, "": {"text": "QQ"}}})
                         .encode())
    with pytest.raises(BadRequest, match="payload '0'"):
        to_call(body, "s", "sid", ())
