"""Function-style (v1) wrapper with no wrapperInit, as many public ones are: dicts in, dicts
appended to respData, an int code back."""


def wrapperOnceExec(usrTag, params, reqData, respData, psrIds, psrCnt):
    text = bytes(reqData[0]["data"]).decode()
    respData.append({"key": "result", "data": f"no-init:{text}".encode(), "len": 0,
                     "status": 3, "type": 0, "desc": {"encoding": "utf8"}})
    return 0
