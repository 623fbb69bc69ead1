"""Test ability shaped like the SDK template's: one declared image input it reads without a
None check, and a parameter with an enum. A call without that input must be refused before it
runs (else: 10909 AttributeError 'NoneType' object has no attribute 'key')."""
# ruff: noqa: UP004  (written as public wrappers are)
from aiges.dto import Response, ResponseData
from aiges.sdk import ImageBodyField, StringBodyField, StringParamField, WrapperBase


class UserRequest(object):
    mode = StringParamField(key="mode", enums=["fast", "accurate"], value="fast")
    data = ImageBodyField(key="data", path="test.png")


class UserResponse(object):
    accept1 = StringBodyField(key="result")


class Wrapper(WrapperBase):
    serviceId = "sdk_required"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData, usrTag="", persId=0):
        image = reqData.get("data")
        out = ResponseData()
        out.key = "result"
        out.setDataType(0)
        out.status = 3
        out.setData(f"{image.key}:{len(image.data)}:{params.get('mode', 'fast')}")
        response = Response()
        response.list = [out]
        return response
