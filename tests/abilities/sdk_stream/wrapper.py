#!/usr/bin/env python
# coding:utf-8
"""Test ability in the style of the aiges SDK's stream examples: the session pool WrapperBase
keeps in `self.session`, a StreamHandleThread per handle, results through `callback`."""
# ruff: noqa: F403, F405, UP004, UP009, UP012  (written as public wrappers are)
try:
    from aiges_embed import (  # c++
        DataListCls,
        Response,
        ResponseData,
        SessionCreateResponse,
        callback,
    )
except ImportError:
    from aiges.dto import DataListCls, Response, ResponseData, SessionCreateResponse, callback

from aiges.sdk import StringBodyField, WrapperBase
from aiges.stream import StreamHandleThread
from aiges.types import *
from aiges.utils.log import log


class UserRequest(object):
    input1 = StringBodyField(key="text", value=b"frame")


class UserResponse(object):
    accept1 = StringBodyField(key="result")


class Wrapper(WrapperBase):
    serviceId = "sdk_stream"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config: {}) -> int:
        self.session.init_wrapper_config(config)
        self.session.init_handle_pool("thread", int(config.get("sessions", "2")), UpperThread)
        return 0

    def wrapperOnceExec(self, params: {}, reqData: DataListCls, usrTag: str = "") -> Response:
        return None

    def wrapperCreate(self, params: {}, sid: str) -> SessionCreateResponse:
        s = SessionCreateResponse()
        handle = self.session.get_idle_handle()
        if not handle:
            s.error_code = -1
            s.handle = ""
            return s
        _session = self.session.get_session(handle=handle)
        _session.setup_sid(sid)
        _session.setup_params(params)
        _session.setup_callback_fn(callback)
        s.handle = handle
        s.error_code = 0
        return s

    def wrapperWrite(self, handle: str, req: DataListCls, sid: str) -> int:
        _session = self.session.get_session(handle=handle)
        if _session is None:
            log.error("no session for handle %s", handle)
            return -1
        _session.in_q.put(req)
        return 0

    def wrapperDestroy(self, handle: str) -> int:
        self.session.push_back(handle)
        return 0

    def wrapperError(self, ret: int) -> str:
        return "no free session" if ret == -1 else ""

    def wrapperFini(self) -> int:
        for worker in self.session.handle_pool.workers.values():
            worker.stop()
            worker.in_q.put(None)  # wakes its thread, which then ends
        return 0


class UpperThread(StreamHandleThread):
    def run(self):
        while not self.is_stopping:
            req = self.in_q.get()
            if req is None:
                break
            self.infer(req)

    def infer(self, req: DataListCls):
        frame = req.list[0]
        out = ResponseData()
        out.key = "result"
        out.type = DataText
        out.status = frame.status
        out.setData(bytes(frame.data).upper())
        r = Response()
        r.list = [out]
        self.session_thread.callback_fn(r, self.session_thread.sid)
        if out.status == DataEnd:
            self.session_thread.reset()
