"""The declared schema (loader/schema.py): read from SDK-style fields, checked per call."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import aiges_embed
import pytest

from loader.errors import InvalidRequest
from loader.plugin import Plugin
from loader.schema import Schema
from loader.v1 import loader_pb2
from tests.support import ABILITIES

# Field classes shaped as the aiges SDK's are (attribute names and class-name suffixes): the
# schema reader must not depend on which SDK (the real one or ours) defined them.
FIELDS = '''
class Field:
    def __init__(self, key, data_type):
        self.key, self.data_type, self.description, self.title = key, data_type, "", ""
class ParamField(Field): pass
class PayloadField(Field): pass
class StringParamField(ParamField):
    def __init__(self, key, minLength=0, maxLength=1024, enums=[], required=False, value=""):
        super().__init__(key, "string")
        self.min_length, self.max_length, self.enums = minLength, maxLength, enums
        self.required, self.value = required, value
class IntegerParamField(ParamField):
    def __init__(self, key, minimum=0, maximum=100, enums=[], required=False, value=0):
        super().__init__(key, "integer")
        self.minimum, self.maximum, self.enums, self.required, self.value = (
            minimum, maximum, enums, required, value)
class BooleanParamField(ParamField):
    def __init__(self, key, default=False, required=False):
        super().__init__(key, "boolean")
        self.default, self.required = default, required
class ImageBodyField(PayloadField):
    def __init__(self, key, path="", encoding="jpg", status=3):
        super().__init__(key, 2)
        self.path, self.encoding, self.status = path, encoding, status
class StringBodyField(PayloadField):
    def __init__(self, key, value=b" ", encoding="utf8", format="plain", compress="raw"):
        super().__init__(key, 0)
        self.value, self.encoding, self.format, self.compress = value, encoding, format, compress
'''

WRAPPER = FIELDS + '''
class UserRequest:
    mode = StringParamField("mode", enums=["fast", "accurate"], value="fast")
    topk = IntegerParamField("topk", minimum=1, maximum=10, required=True, value=3)
    debug = BooleanParamField("debug")
    image = ImageBodyField("img", path="missing.jpg")

class UserResponse:
    accept1 = StringBodyField("result", format="json")

class Wrapper:
    serviceId = "ocr"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData):
        return None
'''


@pytest.fixture
def schema(tmp_path: Path) -> Schema:
    wrapper = tmp_path / "ocr" / "wrapper.py"
    wrapper.parent.mkdir()
    wrapper.write_text(textwrap.dedent(WRAPPER))
    declared = Plugin.load(str(wrapper)).declared
    assert declared is not None
    return declared


def data(*keys: str) -> aiges_embed.DataListCls:
    wire = loader_pb2.CallRequest(inputs=[
        loader_pb2.Data(key=key, type=2, status=3, data=b"x") for key in keys]).SerializeToString()
    return aiges_embed.parse_call(wire).data


def test_fields_become_params_inputs_and_outputs_with_their_attributes(schema: Schema) -> None:
    assert schema.params == {
        "mode": {"type": "string", "required": False, "default": "fast",
                 "enum": ["fast", "accurate"]},
        "topk": {"type": "integer", "required": True, "default": 3, "minimum": 1,
                 "maximum": 10},
        "debug": {"type": "boolean", "required": False, "default": False},
    }
    assert schema.inputs == {"img": {"type": "image", "required": True, "encoding": "jpg",
                                     "status": 3}}
    assert schema.outputs == {"result": {"type": "text", "encoding": "utf8", "format": "json",
                                         "compress": "raw"}}
    assert json.loads(schema.to_json())["inputs"] == schema.inputs


def test_a_wrapper_without_request_or_response_classes_declares_nothing() -> None:
    assert Plugin.load(str(ABILITIES / "faulty" / "wrapper.py")).declared is None


def test_a_call_with_everything_declared_passes(schema: Schema) -> None:
    schema.check({"topk": "5", "mode": "accurate", "debug": "true"}, data("img"))


def test_a_missing_declared_input_is_10001_naming_it_and_what_was_sent(schema: Schema) -> None:
    with pytest.raises(InvalidRequest) as refused:
        schema.check({"topk": "5"}, data("image"))
    assert refused.value.code == 10001
    assert "'img'" in refused.value.message and "'image'" in refused.value.message


@pytest.mark.parametrize(("params", "named"), [
    ({}, "parameter 'topk' is required"),
    ({"topk": "five"}, "parameter 'topk' must be an integer, not 'five'"),
    ({"topk": "5", "mode": "slow"}, "parameter 'mode' must be one of 'fast', 'accurate'"),
    ({"topk": "5", "debug": "maybe"}, "parameter 'debug' must be a boolean"),
])
def test_a_bad_parameter_is_10107_naming_it(schema: Schema, params: dict[str, str],
                                            named: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        schema.check(params, data("img"))
    assert refused.value.code == 10107
    assert named in refused.value.message


def test_bounds_are_described_but_not_enforced(schema: Schema) -> None:
    """The SDK gives every numeric field a 0..100 range by default; wrappers never meant it."""
    schema.check({"topk": "500"}, data("img"))
