"""Frames ability, push style: the same echo as `frames/`, each result handed to
`aiges_embed.callback` from inside wrapperWrite (no wrapperRead, so the worker never polls)."""
from __future__ import annotations

from aiges_embed import DataListCls, Response, ResponseData, SessionCreateResponse, callback


class Wrapper:
    serviceId = "frames"
    version = "v1"

    def __init__(self) -> None:
        self.count = 0

    def wrapperInit(self, config: dict[str, str]) -> int:
        return 0

    def wrapperFini(self) -> int:
        return 0

    def wrapperCreate(self, params: dict[str, str], sid: str, usrTag: str = "",
                      persId: int = 0) -> SessionCreateResponse:
        self.count += 1
        result = SessionCreateResponse()
        result.handle = f"f{self.count}"
        return result

    def wrapperWrite(self, handle: str, reqData: DataListCls) -> int:
        frame = reqData.list[0]
        out = ResponseData(key=frame.key, status=frame.status)
        out.type = frame.type
        out.setData(frame.data)
        callback(Response([out]), usrTag=handle)  # the worker routes by handle too
        return 0

    def wrapperDestroy(self, handle: str) -> int:
        return 0
