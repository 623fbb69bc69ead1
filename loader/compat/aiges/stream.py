"""The SDK's aiges.stream: the session pool its stream wrappers use, one thread per handle.

A stream wrapper calls `self.session.init_handle_pool("thread", n, MyThread)` in wrapperInit,
takes a handle with `get_idle_handle()` in wrapperCreate, feeds `get_session(handle).in_q` in
wrapperWrite, and its StreamHandleThread subclass answers through `callback_fn` or `out_q`.
Same names, attributes and handle names as the SDK ("Process-0-Thread-<i>"); unlike it, a busy
pool answers None instead of raising, threads are daemons made without the deprecated
setDaemon(), and the SDK's process mode (which never worked there) runs as threads.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .core.types import PROCESS_MODE, THREAD_MODE
from .utils.log import log

__all__ = ["Pool", "SessionManager", "StreamHandleThread", "ThreadPool", "WorkerThread"]


class StreamHandleThread(threading.Thread):
    """The base of a wrapper's per-session worker: subclasses override run() (or init_model)."""

    def __init__(self, session_thread: WorkerThread, in_q: queue.Queue[Any],
                 out_q: queue.Queue[Any]) -> None:
        super().__init__(daemon=True)
        self.is_stopping = False
        self.session_thread = session_thread  # the WorkerThread holding the session's state
        self.in_q = in_q
        self.out_q = out_q
        self._stop_requested = threading.Event()

    def init_model(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("override init_model() or run() in your StreamHandleThread")

    def stop(self) -> None:
        self.is_stopping = True
        self._stop_requested.set()

    def run(self) -> None:
        self.init_model(self.session_thread.handle)
        self._stop_requested.wait()  # the SDK slept in 100 s steps; an event ends it at once


class WorkerThread(threading.Thread):
    """One session slot: its sid, params, queues and callback, served by a StreamHandleThread."""

    def __init__(self, handle: str) -> None:
        super().__init__(name=handle, daemon=True)
        self.handle = handle
        self.sid = ""
        self.is_stopping = False
        self.in_q: queue.Queue[Any] = queue.Queue()
        self.out_q: queue.Queue[Any] = queue.Queue()  # read by wrapperRead (synchronous streams)
        self.is_idle = True
        self.params: dict[str, str] = {}
        self.StreamHandleThreadClass: type[StreamHandleThread] = StreamHandleThread
        self.callback_fn: Callable[..., Any] | None = None  # callback(response, usrTag)
        self._handler: StreamHandleThread | None = None

    def init_model(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("override init_model() in your WorkerThread subclass")

    @property
    def idle(self) -> bool:
        return self.is_idle

    def setup_sid(self, sid: str) -> None:
        self.sid = sid

    def setup_params(self, params: Mapping[str, str]) -> None:
        self.params = dict(params)
        self.is_idle = False

    def setup_callback_fn(self, callback: Callable[..., Any]) -> None:
        self.callback_fn = callback

    def reset(self) -> None:
        self.sid = ""
        self.params = {}
        for pending in (self.in_q, self.out_q):
            with pending.mutex:
                pending.queue.clear()
        self.is_idle = True

    def setStreamHandleThreadClass(self, cls: type[StreamHandleThread]) -> None:
        self.StreamHandleThreadClass = cls

    def stop(self) -> None:
        self.is_stopping = True
        if self._handler is not None:
            self._handler.stop()

    def run(self) -> None:
        self._handler = self.StreamHandleThreadClass(self, self.in_q, self.out_q)
        self._handler.start()
        self._handler.join()


class Pool:
    """Handles and their WorkerThreads."""

    def __init__(self) -> None:
        self.workers: dict[str, WorkerThread] = {}
        self._lock = threading.Lock()

    def get_thread(self, handle: str) -> WorkerThread | None:
        return self.workers.get(handle)

    def get_idle_thread_handle(self) -> tuple[str | None, WorkerThread | None]:
        """An idle handle and its thread, marked busy; (None, None) when every one is busy."""
        with self._lock:
            for handle, worker in self.workers.items():
                if worker.idle:
                    worker.is_idle = False
                    return handle, worker
        return None, None

    def reset_thread(self, handle: str) -> None:
        worker = self.workers.get(handle)
        if worker is not None:
            worker.reset()

    def set_idle(self, handle: str) -> None:
        worker = self.workers.get(handle)
        if worker is not None:
            worker.is_idle = True


class ThreadPool(Pool):
    """`nums` started WorkerThreads, each running a `reqDataThreadCls` for its sessions."""

    def __init__(self, reqDataThreadCls: type[StreamHandleThread], processs_no: int = 0,
                 nums: int = 10) -> None:  # `processs_no` (sic) is the SDK's keyword
        super().__init__()
        for i in range(nums):
            handle = f"Process-{processs_no}-Thread-{i}"
            worker = WorkerThread(handle)
            worker.setStreamHandleThreadClass(reqDataThreadCls)
            self.workers[handle] = worker
            worker.start()


class SessionManager:
    """What WrapperBase.__init__ puts in `self.session`."""

    def __init__(self, config: Mapping[str, str] | None = None, mode: str = THREAD_MODE,
                 nums: int = 0) -> None:
        self.initialized = False
        self.code = 0
        self.lock = threading.Lock()
        self.wrapperConfig: dict[str, str] = dict(config or {})
        self.handle_pool: Pool | None = None

    def init_wrapper_config(self, config: Mapping[str, str] | None = None) -> None:
        self.wrapperConfig = dict(config or {})

    def init_handle_pool(self, mode: str, nums: int,
                         ReqThreadCls: type[StreamHandleThread]) -> None:
        if mode == PROCESS_MODE:
            log.warning("aiges.stream: the SDK's process mode never worked; using %d threads",
                        nums)
        self.handle_pool = self.init_threads(ReqThreadCls, nums)
        self.initialized = True

    def init_threads(self, ReqThreadCls: type[StreamHandleThread],
                     nums: int = 10) -> ThreadPool:
        return ThreadPool(ReqThreadCls, 0, nums)

    def get_session(self, handle: str) -> WorkerThread | None:
        return self.handle_pool.get_thread(handle) if self.handle_pool is not None else None

    def set_idle_session(self, handle: str) -> None:
        if self.handle_pool is not None:
            self.handle_pool.set_idle(handle)

    def get_idle_handle(self) -> str | None:
        if self.handle_pool is None:
            return None
        handle, _ = self.handle_pool.get_idle_thread_handle()
        return handle

    def reset_session(self, handle: str) -> None:
        if self.handle_pool is not None:
            self.handle_pool.reset_thread(handle)

    def push_back(self, handle: str) -> None:
        """The session is over: its handle is idle again, its state cleared."""
        self.set_idle_session(handle)
        self.reset_session(handle)
