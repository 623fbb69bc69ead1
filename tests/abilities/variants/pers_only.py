"""Class wrapper with wrapperOnceExec(params, reqData, persId=0)."""
from aiges_embed import Response, ResponseData


class Wrapper:
    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData, persId=0):
        out = ResponseData("result", 0, 3, 0)
        out.setData(f"pers={persId}")
        response = Response()
        response.list = [out]
        return response
