"""Test ability: a text output whose bytes are not UTF-8 ("raw"), beside one that is ("note")."""
from __future__ import annotations

from aiges_embed import Response, ResponseData

# 0xff and 0xfe never occur in UTF-8, a lone 0x80 is a continuation byte with no lead
RAW = b"\xff\xfe athena \x80\x00"


class Wrapper:
    serviceId = "binary_text"

    def wrapperInit(self, config: dict[str, str]) -> int:
        return 0

    def wrapperOnceExec(self, params, reqData, usrTag="", persId=0):
        outputs = []
        for key, data in (("raw", RAW), ("note", b"plain words")):
            out = ResponseData()
            out.key = key
            out.type = 0  # text
            out.desc = {"encoding": "utf8"}  # what the wrapper claims, whatever the bytes are
            out.setData(data)
            outputs.append(out)
        response = Response()
        response.list = outputs
        return response
