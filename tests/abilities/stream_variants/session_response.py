"""Stream wrapper class: wrapperCreate(params, sid, persId=0, usrTag="") returns a
SessionCreateResponse (an empty handle when asked: the loader then uses the sid)."""
from aiges_embed import DataText, Response, ResponseData, SessionCreateResponse


class Wrapper:
    def __init__(self):
        self.seen = []
        self.pending = {}

    def wrapperInit(self, config):
        return 0

    def wrapperCreate(self, params, sid, persId=0, usrTag=""):
        self.seen.append(("create", dict(params), sid, persId, usrTag))
        handle = "" if params.get("empty_handle") else f"h-{sid}"
        self.pending[handle or sid] = []
        return SessionCreateResponse(handle=handle, error_code=0)

    def wrapperWrite(self, handle, reqData, sid):
        frame = reqData.list[0]
        self.seen.append(("write", handle, bytes(frame.data), frame.status, sid))
        self.pending[handle].append((bytes(frame.data), frame.status))
        return 0

    def wrapperRead(self, handle, sid):
        self.seen.append(("read", handle, sid))
        outputs = []
        for data, status in self.pending[handle]:
            out = ResponseData(key="result", type=DataText, status=status)
            out.setData(data.upper())
            outputs.append(out)
        self.pending[handle] = []
        return Response(outputs)

    def wrapperDestroy(self, handle):
        self.seen.append(("destroy", handle))
        del self.pending[handle]
        return 0
