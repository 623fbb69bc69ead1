"""Class wrapper whose wrapperOnceExec is a coroutine: awaited on the worker's loop."""
import asyncio

from aiges_embed import Response, ResponseData


class Wrapper:
    def wrapperInit(self, config):
        return 0

    async def wrapperOnceExec(self, params, reqData, usrTag="", persId=0):
        await asyncio.sleep(float(params.get("seconds", "0")))
        out = ResponseData("result", 0, 3, 0)
        out.setData("async:" + reqData.list[0].data.decode())
        response = Response()
        response.list = [out]
        return response
