"""Test ability: a pull stream wrapper echoing each frame upper-cased with the frame's status.
Params steer it: fail_create=1 makes wrapperCreate return 4242, fail_write=<text> makes
wrapperWrite raise on that frame, push=1 delivers each result through callback(resp, usrTag=)
from a thread of its own instead (wrapperRead then has nothing), error_on=<text> answers that
frame with a Response whose error_code is 4343, slow_write=<s> sleeps that long in each
wrapperWrite, fail_read=1 makes wrapperRead raise once a result waits. Every call is recorded
in `seen` for the tests, and, with journal=<path>, appended to that file as a line
(`create h1`, `write h1`, `destroy h1`) for tests in other processes."""
import threading
import time

from aiges_embed import Response, ResponseData, SessionCreateResponse, callback


class Wrapper:
    serviceId = "stream_echo"

    def __init__(self):
        self.seen = []
        self.pending = {}  # handle -> results not yet read
        self.params = {}
        self.count = 0

    def wrapperInit(self, config):
        return 0

    def wrapperCreate(self, params, sid, usrTag="", persId=0):
        self.seen.append(("create", sid))
        result = SessionCreateResponse()
        if params.get("fail_create"):
            result.error_code = 4242
            return result
        self.count += 1
        result.handle = f"h{self.count}"
        self.pending[result.handle] = []
        self.params[result.handle] = dict(params, usr_tag=usrTag)
        self._journal(result.handle, "create")
        return result

    def _journal(self, handle, event):
        path = self.params.get(handle, {}).get("journal")
        if path:
            with open(path, "a") as journal:
                journal.write(f"{event} {handle}\n")

    def wrapperWrite(self, handle, reqData):
        frame = reqData.list[0]
        data = bytes(frame.data)
        self.seen.append(("write", handle, data))
        self._journal(handle, "write")
        time.sleep(float(self.params[handle].get("slow_write", "0")))
        if self.params[handle].get("fail_write") == data.decode():
            raise KeyError(f"refused {data!r}")
        out = ResponseData(key="result", status=frame.status)
        out.setData(data.upper())
        params = self.params[handle]
        response = Response([out])
        if params.get("error_on") == data.decode():
            response = Response()
            response.error_code = 4343
        if params.get("push"):
            tag = params["usr_tag"]
            threading.Thread(target=lambda: callback(response, usrTag=tag)).start()
        elif response.error_code:
            self.pending[handle] = response
        else:
            self.pending[handle].append(out)
        return 0

    def wrapperRead(self, handle):
        if self.params[handle].get("fail_read") and self.pending[handle]:
            raise RuntimeError("cannot read the result")
        outputs, self.pending[handle] = self.pending[handle], []
        if isinstance(outputs, Response):  # an error answer
            return outputs
        return Response(outputs) if outputs else None

    def wrapperDestroy(self, handle):
        self.seen.append(("destroy", handle))
        self._journal(handle, "destroy")
        self.pending.pop(handle)
        return 0

    def wrapperError(self, ret):
        return {4242: "create refused", 4343: "frame refused"}.get(ret, "")
