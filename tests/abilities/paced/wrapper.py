"""Test ability for balancing and failover: each call takes a set time and says which worker
process answered it. The time is the `seconds` parameter, else PACED_SECONDS in the worker's
environment (so one wrapper makes a slow and a fast worker of one ability), else 0."""
from __future__ import annotations

import asyncio
import os

from aiges_embed import DataListCls, Response, ResponseData


class Wrapper:
    serviceId = "paced"
    version = "v1"

    def wrapperInit(self, config: dict[str, str]) -> int:
        self.seconds = float(os.environ.get("PACED_SECONDS", "0"))
        return 0

    async def wrapperOnceExec(self, params: dict[str, str], reqData: DataListCls,
                              usrTag: str = "", persId: int = 0) -> Response:
        # async: a held call costs no thread, so a worker's licence is all that limits it
        await asyncio.sleep(float(params.get("seconds", self.seconds)))
        out = ResponseData()
        out.key, out.type, out.status = "result", 0, 3
        out.desc = {"encoding": "utf8"}
        out.setData(str(os.getpid()))
        response = Response()
        response.list = [out]
        return response
