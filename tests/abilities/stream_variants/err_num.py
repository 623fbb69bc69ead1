"""Stream wrapper class whose wrapperCreate takes (params, errNum, sid, persId=0) and returns ""
(the sid is the handle), as some public wrappers do."""


class Wrapper:
    def __init__(self):
        self.seen = []

    def wrapperInit(self, config):
        return 0

    def wrapperCreate(self, params, errNum, sid, persId=0):
        self.seen.append(("create", errNum, sid, persId))
        return ""

    def wrapperWrite(self, handle, reqData, sid):
        self.seen.append(("write", handle, bytes(reqData.list[0].data), sid))
        return 0

    def wrapperRead(self, handle, sid):
        return []  # a push wrapper's placeholder read

    def wrapperDestroy(self, handle):
        self.seen.append(("destroy", handle))
        return 0
