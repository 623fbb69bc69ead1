"""Function-style (v1) stream wrapper: no wrapperInit, dicts in and out, wrapperDestory (sic)."""

seen = []
_frames = {}


def wrapperError(code):
    return f"v1 stream error {code}"


def wrapperCreate(usrTag, params, psrIds, psrCnt, errNum):
    seen.append(("create", usrTag, dict(params), list(psrIds), psrCnt, errNum))
    handle = f"v1-{usrTag}"
    _frames[handle] = []
    return handle


def wrapperWrite(handle, reqData):
    item = reqData[0]
    seen.append(("write", handle, sorted(item), bytes(item["data"]), item["status"]))
    if bytes(item["data"]) == b"bad":
        return 33
    _frames[handle].append(item)
    return 0


def wrapperRead(handle, respData):
    seen.append(("read", handle))
    for item in _frames.pop(handle):
        respData.append({"key": "result", "data": bytes(item["data"])[::-1], "len": 0,
                         "status": item["status"], "type": 0, "desc": {"encoding": "utf8"}})
    _frames[handle] = []
    return 0


def wrapperDestory(handle):
    seen.append(("destroy", handle))
    del _frames[handle]
    return 0
