"""Old function-style wrapper: module-level functions, wrapperOnceExec(params, reqData)."""
from aiges_embed import Response, ResponseData


def wrapperInit(config):
    return 0


def wrapperOnceExec(params, reqData):
    out = ResponseData()
    out.key = "result"
    out.data = "two-args:" + reqData.list[0].data.decode()
    out.len = len(out.data)
    response = Response()
    response.list = [out]
    return response
