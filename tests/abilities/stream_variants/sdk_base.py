"""SDK-style stream wrapper: a WrapperBase subclass defining its own wrapperCreate, wrapperWrite
and wrapperRead but not wrapperDestroy, whose WrapperBase stub must not count."""
from aiges.dto import Response, ResponseData, SessionCreateResponse
from aiges.sdk import WrapperBase


class Wrapper(WrapperBase):
    serviceId = "sdk_base_stream"

    def __init__(self):
        super().__init__()
        self.seen = []
        self.last = {}

    def wrapperInit(self, config):
        return 0

    def wrapperCreate(self, params, sid, persId=0, usrTag=""):
        self.seen.append(("create", sid, persId, usrTag))
        return SessionCreateResponse(handle=f"sdk-{sid}")

    def wrapperWrite(self, handle, datas, sid=""):
        self.seen.append(("write", handle, bytes(datas.list[0].data), sid))
        self.last[handle] = bytes(datas.list[0].data)
        return 0

    def wrapperRead(self, handle, sid=""):
        out = ResponseData(key="result", status=1)
        out.setData(self.last.pop(handle, b""))
        return Response([out])
