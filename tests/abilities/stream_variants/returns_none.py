"""Push-style stream wrapper class: wrapperCreate(params, sid) returns None (the sid is the
handle), no wrapperRead (results would go through callback)."""


class Wrapper:
    def __init__(self):
        self.seen = []

    def wrapperInit(self, config):
        return 0

    def wrapperCreate(self, params, sid):
        self.seen.append(("create", dict(params), sid))
        return None

    def wrapperWrite(self, handle, reqData, sid):
        self.seen.append(("write", handle, bytes(reqData.list[0].data), sid))
        return 0

    def wrapperDestroy(self, handle):
        self.seen.append(("destroy", handle))
        return 0
