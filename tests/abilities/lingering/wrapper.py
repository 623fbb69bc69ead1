"""Test ability for the worker's limits: a call that waits for its client to give up, one that
leaks, one whose output is as large as asked."""
from __future__ import annotations

import time
from pathlib import Path

from aiges_embed import DataListCls, Response, ResponseData

from loader.engine import cancelled

_kept: list[bytes] = []  # what `leak` never frees


class Wrapper:
    serviceId = "lingering"
    version = "v1"

    def wrapperInit(self, config: dict[str, str]) -> int:
        return 0

    def wrapperFini(self) -> int:
        return 0

    def wrapperOnceExec(self, params: dict[str, str], reqData: DataListCls) -> Response:
        mode = params.get("mode", "ok")
        if mode == "wait":  # until the client gives up (or `seconds`), then says which
            until = time.monotonic() + float(params.get("seconds", "10"))
            deaf = params.get("deaf") == "1"  # one that never checks
            while (deaf or not cancelled()) and time.monotonic() < until:
                time.sleep(0.01)
            seen = "cancelled" if cancelled() else "finished"
            if params.get("report"):
                Path(params["report"]).write_text(seen)
            return _out(seen.encode())
        if mode == "leak":
            _kept.append(bytes(1024 * 1024) + b"x")  # 1 MiB, touched so it is resident
            return _out(str(len(_kept)).encode())
        if mode == "big":
            return _out(bytes(int(params["bytes"])), key="blob")
        return _out(b"ok")


def _out(data: bytes, key: str = "result") -> Response:
    out = ResponseData()
    out.key = key
    out.type = 1 if key == "blob" else 0
    out.status = 3
    out.setData(data)
    response = Response()
    response.list = [out]
    return response
