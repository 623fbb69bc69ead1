"""Frames ability: the session benchmark's echo stream wrapper (pull style).

wrapperWrite queues the frame's bytes (the Payload view, not a copy: a view keeps the request
it points into alive) and wrapperRead hands them back with the frame's
status, so the per-frame work is a list append and pop and the session benchmark measures the
stack around it. `frames_push/` is the same echo delivered through `aiges_embed.callback`.
"""
from __future__ import annotations

from typing import Any

from aiges_embed import DataListCls, Response, ResponseData, SessionCreateResponse


class Wrapper:
    serviceId = "frames"
    version = "v1"

    def __init__(self) -> None:
        self.pending: dict[str, list[ResponseData]] = {}
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
        self.pending[result.handle] = []
        return result

    def wrapperWrite(self, handle: str, reqData: DataListCls) -> int:
        frame = reqData.list[0]
        out = ResponseData(key=frame.key, status=frame.status)
        out.type = frame.type
        out.setData(frame.data)
        self.pending[handle].append(out)
        return 0

    def wrapperRead(self, handle: str) -> Any:
        outputs = self.pending[handle]
        if not outputs:
            return None
        self.pending[handle] = []
        return Response(outputs)

    def wrapperDestroy(self, handle: str) -> int:
        self.pending.pop(handle, None)
        return 0
