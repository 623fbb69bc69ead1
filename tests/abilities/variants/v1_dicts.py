"""v1 function-style wrapper: dicts in, dicts appended to respData, an int code back."""


def wrapperInit(config):
    return 0


def wrapperError(code):
    return f"v1 error {code}"


def wrapperOnceExec(usrTag, params, reqData, respData, psrIds, psrCnt):
    text = bytes(reqData[0]["data"]).decode()
    if text == "fail":
        return 77
    respData.append({"key": "result", "data": f"v1:{usrTag}:{text}".encode(), "len": 0,
                     "status": 3, "type": 0, "desc": {"encoding": "utf8"}})
    return 0
