"""Test ability that misbehaves on request: each `mode` parameter is one way a wrapper fails."""
from __future__ import annotations

import os
import threading
import time

from aiges_embed import DataListCls, Response, ResponseData


class Wrapper:
    serviceId = "faulty"
    version = "v1"

    def wrapperInit(self, config: dict[str, str]) -> int:
        self.config = config
        return 0

    def wrapperError(self, code: int) -> str:
        return {4711: "the model refused this input: try a shorter text"}.get(
            code, f"unknown code {code}")

    def wrapperFini(self) -> int:
        return 0

    def wrapperOnceExec(self, params: dict[str, str], reqData: DataListCls, usrTag: str = "",
                        persId: int = 0) -> Response | None:
        mode = params.get("mode", "ok")
        if mode == "error_code":
            return Response().response_err(4711)
        if mode == "raise":
            raise KeyError("secret internal detail")
        if mode == "empty":
            return Response()
        if mode == "none":
            return None
        if mode == "sleep":
            time.sleep(float(params.get("seconds", "3")))
        if mode == "exit":
            os._exit(3)  # the worker process dies mid-call
        if mode == "bad_data":
            response = _text("result", "")
            response.list[0].data = 12345  # neither bytes-like nor str
            return response
        if mode == "config":
            return _text("result", repr(sorted(self.config.items())))
        if mode == "params":
            return _text("result", repr(sorted(params.items())))
        if mode == "thread":  # where the loader ran this call
            return _text("result", threading.current_thread().name)
        if mode == "twice":  # one output key twice: the SDK's own check rejects this
            response = _text("result", "one")
            response.list = [response.list[0], _text("result", "two").list[0]]
            return response
        key = "surprise" if mode == "undeclared" else "result"
        return _text(key, "ok")


def _text(key: str, text: str) -> Response:
    out = ResponseData()
    out.key = key
    out.type = 0
    out.status = 3
    out.desc = {"encoding": "utf8"}
    out.setData(text)
    response = Response()
    response.list = [out]
    return response
