"""Test ability: a v1 (function-style) wrapperOnceExecAsync(usrTag, params, reqData, psrIds,
psrCnt): reqData is a list of dicts; the result comes through callback from a thread."""
import threading

from aiges_embed import Response, ResponseData, callback


def wrapperInit(config):
    return 0


def wrapperOnceExecAsync(usrTag, params, reqData, psrIds, psrCnt):
    text = bytes(reqData[0]["data"]).decode()

    def answer():
        out = ResponseData(key="result", status=3)
        out.setData(("v1:" + text).encode())
        callback(Response([out]), usrTag)

    threading.Thread(target=answer).start()
    return 0
