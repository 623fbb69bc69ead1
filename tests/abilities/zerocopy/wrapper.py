"""Test ability reporting whether its input is a view into the bytes grpcio delivered."""
from __future__ import annotations

import json

import numpy as np
from aiges_embed import Response, ResponseData


class Wrapper:
    serviceId = "zerocopy"

    def wrapperInit(self, config: dict[str, str]) -> int:
        return 0

    def wrapperOnceExec(self, params, reqData, usrTag="", persId=0):
        node = reqData.list[0]
        array = np.frombuffer(node.data, dtype=np.uint8)  # view into the request, no copy
        owner = node.data.owner  # the bytes object grpcio handed the servicer
        owner_view = np.frombuffer(owner, dtype=np.uint8)
        start = owner_view.ctypes.data
        end = array.ctypes.data + array.nbytes
        inside = start <= array.ctypes.data and end <= start + len(owner)
        report = {
            "owner_type": type(owner).__name__,
            "owner_len": len(owner),
            "offset": array.ctypes.data - start,
            "inside_owner": bool(inside),
            "shares_memory": bool(np.shares_memory(array, owner_view)),
            "writeable": bool(array.flags.writeable),
            "sum": int(array.sum(dtype=np.uint64)),
        }
        out = ResponseData()
        out.key = "report"
        out.type = 0
        out.setData(json.dumps(report))
        response = Response()
        response.list = [out]
        return response
