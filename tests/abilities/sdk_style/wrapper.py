#!/usr/bin/env python
# coding:utf-8
"""Test ability in the aiges SDK's style, as its template (python -m aiges create) writes one:
a WrapperBase subclass with a declared schema of every field kind, the SDK's logger, the star
import of its constants, and an example image named relative to the working directory."""
# ruff: noqa: F403, F405, UP004, UP009, UP012  (written as public wrappers are)
import json

try:
    from aiges_embed import DataListCls, DataListNode, Response, ResponseData  # c++
except ImportError:
    from aiges.dto import DataListCls, DataListNode, Response, ResponseData

from aiges.core.types import *
from aiges.sdk import (
    AudioBodyField,
    BooleanParamField,
    ImageBodyField,
    IntegerParamField,
    JsonBodyField,
    NumberParamField,
    StringBodyField,
    StringParamField,
    WrapperBase,
)
from aiges.utils.log import getFileLogger, log

filelog = getFileLogger(name="sdk_style")


class UserRequest(object):
    params1 = StringParamField(key="mode", enums=["upper", "lower"], value="upper")
    params2 = NumberParamField(key="scale", minimum=0, maximum=10, value=1)
    params3 = IntegerParamField(key="repeat", minimum=1, maximum=3, value=1)
    params4 = BooleanParamField(key="exclaim", title="add a !", default=False)

    input1 = StringBodyField(key="text", value=b"hello sdk")
    input2 = ImageBodyField(key="img", path="test.png")
    input3 = JsonBodyField(key="options", value='{"sep": " "}')
    input4 = AudioBodyField(key="voice", path="")


class UserResponse(object):
    accept1 = StringBodyField(key="result")


class Wrapper(WrapperBase):
    serviceId = "sdk_style"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config: {}) -> int:
        log.info("sdk_style initializing with %s", config)
        self.calls = 0
        return 0

    def wrapperOnceExec(self, params: {}, reqData: DataListCls, usrTag: str = "",
                        persId: int = 0) -> Response:
        self.calls += 1
        text_node: DataListNode = reqData.get("text")
        if text_node is None:
            return Response().response_err(100)
        text = bytes(text_node.data).decode("utf-8")
        text = text.upper() if params.get("mode", "upper") == "upper" else text.lower()
        text = " ".join([text] * int(params.get("repeat", "1")))
        if params.get("exclaim") == "true":
            text += "!"
        image = reqData.get("img")
        filelog.info("call %d: %d text bytes, image %s", self.calls, len(text_node.data),
                     "absent" if image is None else f"{len(image.data)} bytes")
        result = ResponseData()
        result.key = "result"
        result.status = Once
        result.setDataType(DataText)
        result.setData(json.dumps({
            "text": text,
            "image_bytes": 0 if image is None else len(image.data),
            "image_is_png": image is not None and bytes(image.data[:4]) == b"\x89PNG",
        }).encode("utf-8"))
        response = Response()
        response.list = [result]
        return response

    def wrapperError(self, ret: int) -> str:
        if ret == 100:
            return "the text input is missing"
        return ""

    def wrapperFini(self) -> int:
        return 0


if __name__ == "__main__":
    m = Wrapper()
    m.schema()
    m.run()
