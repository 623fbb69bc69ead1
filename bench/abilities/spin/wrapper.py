"""Spin ability: a CPU-bound wrapper for the scaling benchmark (2 workers vs 1).

Each call burns a fixed amount of pure-Python work while holding the GIL, the way a model
without native threads does, so one worker process can use at most one core.
"""
from __future__ import annotations

from aiges_embed import DataListCls, Response, ResponseData

ROUNDS = 300_000  # about 20 ms of one core per call on the benchmark machine


class Wrapper:
    serviceId = "spin"
    version = "v1"

    def wrapperInit(self, config: dict[str, str]) -> int:
        return 0

    def wrapperFini(self) -> int:
        return 0

    def wrapperOnceExec(self, params: dict[str, str], reqData: DataListCls,
                        usrTag: str = "", persId: int = 0) -> Response:
        total = 0
        for i in range(ROUNDS):
            total = (total + i * i) % 1_000_003
        out = ResponseData()
        first = reqData.list[0] if reqData.list else None
        out.key = first.key if first else "result"
        out.type = first.type if first else 0  # answer in the kind the request asked for
        out.status = 3
        out.setData(str(total).encode())
        response = Response()
        response.list = [out]
        return response
