#!/usr/bin/env python
# coding:utf-8
"""Test ability written against an old aiges SDK (0.4/0.5): constants from `aiges.types`, the
data classes from `aiges.dto` directly, BooleanParamField(key, default, required) positionally,
the shared `getLogger()` logger and the two-argument wrapperOnceExec of the early template."""
# ruff: noqa: F403, F405, UP004, UP009, UP012  (written as public wrappers are)
from aiges.dto import DataListCls, Response, ResponseData
from aiges.sdk import BooleanParamField, StringBodyField, StringParamField, WrapperBase
from aiges.types import *
from aiges.utils.log import getLogger

log = getLogger()


class UserRequest(object):
    params1 = StringParamField("sep", 0, 4, [], False, "-")
    params2 = BooleanParamField("reverse", True, False)
    input1 = StringBodyField("text", b"abc")


class UserResponse(object):
    accept1 = StringBodyField("result")


class Wrapper(WrapperBase):
    serviceId = "old_types_import"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(cls, config: {}) -> int:
        log.info("old_types_import: initialized")
        return 0

    def wrapperOnceExec(cls, params: {}, reqData: DataListCls) -> Response:
        text = bytes(reqData.list[0].data).decode("utf-8")
        reverse = params.get("reverse", str(UserRequest.params2.default).lower()) == "true"
        sep = params.get("sep", UserRequest.params1.value)
        letters = list(reversed(text)) if reverse else list(text)
        out = ResponseData()
        out.key = "result"
        out.type = DataText
        out.status = Once
        data = sep.join(letters).encode("utf-8")
        out.data = data
        out.len = len(data)
        r = Response()
        r.list = [out]
        return r

    def wrapperError(cls, ret: int) -> str:
        return ""

    def wrapperFini(cls) -> int:
        return 0
