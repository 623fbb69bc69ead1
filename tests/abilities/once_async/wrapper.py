"""Test ability: wrapperOnceExecAsync only. It returns 0 at once and answers later from a thread
of its own through callback(resp, usrTag). Params steer it: delay=<s> waits before answering,
by=sid calls back with the sid instead of the usrTag, never=1 never calls back, code=<n>
returns that code instead of 0, raise=1 raises, echo_tag=1 answers with the usrTag it got."""
import threading
import time

from aiges_embed import Response, ResponseData, callback


class Wrapper:
    serviceId = "once_async"

    def wrapperInit(self, config):
        return 0

    def wrapperError(self, code):
        return f"refused with {code}"

    def wrapperOnceExecAsync(self, params, reqData, usrTag="", persId=0):
        if params.get("raise"):
            raise RuntimeError("cannot start")
        if params.get("code"):
            return int(params["code"])
        if params.get("never"):
            return 0
        text = usrTag if params.get("echo_tag") else bytes(reqData.list[0].data).decode()
        name = params["sid"] if params.get("by") == "sid" else usrTag

        def answer():
            time.sleep(float(params.get("delay", "0")))
            out = ResponseData(key="result", status=3)
            out.setData(("async:" + text).encode())
            callback(Response([out]), name)

        threading.Thread(target=answer).start()
        return 0
