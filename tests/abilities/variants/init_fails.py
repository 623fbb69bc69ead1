"""A wrapper whose wrapperInit refuses to start."""


def wrapperInit(config):
    return 5


def wrapperError(code):
    return "licence file missing: set [wrapper] common.lic"


def wrapperOnceExec(params, reqData):
    raise AssertionError("never called")
