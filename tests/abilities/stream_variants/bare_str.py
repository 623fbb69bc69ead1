"""Stream wrapper class: wrapperCreate(params, sid, userTag="", persId=0) returns a bare str
handle; wrapperWrite(handle, reqData) and wrapperRead(handle) take no sid."""
from aiges_embed import Response, ResponseData


class Wrapper:
    def __init__(self):
        self.seen = []
        self.frames = []

    def wrapperInit(self, config):
        return 0

    def wrapperCreate(self, params, sid, userTag="", persId=0):
        self.seen.append(("create", sid, userTag, persId))
        return f"str-{userTag}"

    def wrapperWrite(self, handle, reqData):
        self.seen.append(("write", handle, bytes(reqData.list[0].data)))
        self.frames.append(bytes(reqData.list[0].data))
        return 0

    def wrapperRead(self, handle):
        self.seen.append(("read", handle))
        if not self.frames:
            return None  # nothing yet
        out = ResponseData(key="result", status=2)
        out.setData(b"|".join(self.frames))
        self.frames = []
        return Response([out])

    def wrapperDestroy(self, handle):
        self.seen.append(("destroy", handle))
        return 0
