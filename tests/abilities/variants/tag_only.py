"""Class wrapper with wrapperOnceExec(params, reqData, usrTag="")."""
from aiges_embed import Response, ResponseData


class Wrapper:
    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData, usrTag=""):
        out = ResponseData("result", 0, 3, 0)
        out.setData(f"tag={usrTag}")
        response = Response()
        response.list = [out]
        return response
