"""Test ability kept as the official template leaves it: serviceId "mmocr", version "backup.0"
(many public wrappers never change them). Two such folders must not merge into one route."""
from aiges_embed import Response, ResponseData


class Wrapper:
    serviceId = "mmocr"
    version = "backup.0"

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData, usrTag="", persId=0):
        out = ResponseData("result", 0, 3, 0)
        out.setData("template a")
        response = Response()
        response.list = [out]
        return response
