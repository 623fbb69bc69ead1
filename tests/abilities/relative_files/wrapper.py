"""Test ability that, like many public AIGES wrappers, opens files relative to its own folder:
once at import (a label file) and on every call (a test image it reports the size of)."""
from aiges_embed import Response, ResponseData

with open("test_data/labels.txt") as f:  # relative: AIGES runs a wrapper from its folder
    LABELS = f.read().split()


class Wrapper:
    serviceId = "relative_files"

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData, usrTag="", persId=0):
        with open("test_data/sample.bin", "rb") as f:
            size = len(f.read())
        out = ResponseData("result", 0, 3, 0)
        out.setData(f"{LABELS[0]}:{size}")
        response = Response()
        response.list = [out]
        return response
