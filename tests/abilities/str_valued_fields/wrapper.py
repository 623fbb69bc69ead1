#!/usr/bin/env python
# coding:utf-8
"""Test ability with str where aiges SDK 0.4 and later want bytes, as the SDK's own examples
and many public wrappers have them: StringBodyField(key, value="...") and a JSON body as str.
Its output is built from those declared example values, so it proves how they were kept."""
# ruff: noqa: UP004, UP009, UP012  (written as public wrappers are)
import json

try:
    from aiges_embed import DataListCls, Response, ResponseData  # c++
except ImportError:
    from aiges.dto import DataListCls, Response, ResponseData

from aiges.core.types import DataText, Once
from aiges.sdk import JsonBodyField, StringBodyField, StringParamField, WrapperBase
from aiges.utils.log import log


class UserRequest(object):
    params1 = StringParamField(key="greeting", maxLength=20, value="hello")
    input1 = StringBodyField(key="switch", value="cc")
    input2 = StringBodyField(key="name", value="wörld")
    input3 = JsonBodyField(key="options", value='{"punct": "!"}')


class UserResponse(object):
    accept1 = StringBodyField(key="result")


class Wrapper(WrapperBase):
    serviceId = "str_valued_fields"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config: {}) -> int:
        log.info("str_valued_fields: switch example is %r", UserRequest.input1.value)
        return 0

    def wrapperOnceExec(self, params: {}, reqData: DataListCls, usrTag: str = "") -> Response:
        node = reqData.get("name")
        name = bytes(node.data) if node is not None else UserRequest.input2.value
        options = json.loads(UserRequest.input3.test_value)
        greeting = params.get("greeting", UserRequest.params1.value)
        result = ResponseData()
        result.key = "result"
        result.setDataType(DataText)
        result.status = Once
        result.setData(f"{greeting} {name.decode('utf-8')}{options['punct']}".encode("utf-8"))
        r = Response()
        r.list = [result]
        return r

    def wrapperError(self, ret: int) -> str:
        return ""

    def wrapperFini(self) -> int:
        return 0
