"""Stream wrapper class that fails on demand: wrapperCreate returns a code or raises (params
`mode`), wrapperWrite returns a code or raises (frame text), wrapperRead raises for an unknown
handle and wrapperDestroy raises for one."""
from aiges_embed import SessionCreateResponse


class Wrapper:
    def __init__(self):
        self.seen = []

    def wrapperInit(self, config):
        return 0

    def wrapperError(self, code):
        return {42: "no free session", 5: "frame rejected"}.get(code, "")

    def wrapperCreate(self, params, sid):
        self.seen.append(("create", params.get("mode", "")))
        if params.get("mode") == "code":
            return SessionCreateResponse(handle="", error_code=42)
        if params.get("mode") == "raise":
            raise RuntimeError("model not loaded")
        return SessionCreateResponse(handle="good")

    def wrapperWrite(self, handle, reqData, sid):
        text = bytes(reqData.list[0].data)
        self.seen.append(("write", text))
        if text == b"bad":
            return 5
        if text == b"boom":
            raise ValueError("cannot decode frame")
        return 0

    def wrapperRead(self, handle, sid):
        if handle != "good":
            raise KeyError(handle)
        return None

    def wrapperDestroy(self, handle):
        self.seen.append(("destroy", handle))
        raise KeyError(f"unknown handle {handle}")
