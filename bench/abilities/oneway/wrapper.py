"""Oneway ability: moves a big payload in one direction only, for the copy audit.

`direction=in`: the request carries the payload, the answer is two bytes.
`direction=out`: the request is tiny, the answer is a payload made once at start-up, so the
wrapper itself copies nothing per call and every copy counted belongs to the serving path.
"""
from __future__ import annotations

import os

from aiges_embed import DataListCls, Response, ResponseData

SIZE = int(os.environ.get("ONEWAY_SIZE", str(64 << 20)))


class Wrapper:
    serviceId = "oneway"
    version = "v1"

    def wrapperInit(self, config: dict[str, str]) -> int:
        self.blob = os.urandom(SIZE)
        return 0

    def wrapperFini(self) -> int:
        return 0

    def wrapperOnceExec(self, params: dict[str, str], reqData: DataListCls,
                        usrTag: str = "", persId: int = 0) -> Response:
        out = ResponseData()
        out.key = reqData.list[0].key
        out.type = reqData.list[0].type
        out.status = 3
        out.setData(self.blob if params.get("direction") == "out" else b"ok")
        response = Response()
        response.list = [out]
        return response
