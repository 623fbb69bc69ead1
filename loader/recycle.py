"""Worker recycling: when a worker is over its [loader] max_calls or max_rss_mb, and whether it
may drain now without leaving its ability with no worker serving.

Workers a supervisor started share its folder of ready files, which holds `recycle.lock`:
one worker of the folder recycles at a time. The one going renames its ready file to
`*.recycling`; the supervisor removes that mark once the replacement is serving, so the next
worker over its limit waits until then. A worker on its own (no such lock) goes at once.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import resource
from pathlib import Path

from loader.settings import MIB, LoaderSettings

__all__ = ["EXIT_RECYCLE", "LOCK_NAME", "NOTICE_S", "Recycler", "rss_bytes"]

EXIT_RECYCLE = 75  # EX_TEMPFAIL: done on purpose, start a fresh one (no crash backoff)
LOCK_NAME = "recycle.lock"
# the time balancers get to see a change of worker: a worker over its limit stays up,
# NOT_SERVING, this long before it stops taking calls; a replacement serves this long before
# the next sibling may go. The gateway's health checks run every [gateway] health_interval_s
# (1 s): without the second wait, a sibling went NOT_SERVING before the gateway had seen the
# replacement serve, and the ability had no worker for up to a second (503)
NOTICE_S = 3.0


def rss_bytes() -> int:
    """This process's resident size now (Linux), else its peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Recycler:
    def __init__(self, settings: LoaderSettings) -> None:
        self._max_calls = settings.max_calls
        self._max_rss = settings.max_rss_mb * MIB
        self._ready_file = settings.ready_file

    @property
    def enabled(self) -> bool:
        return self._max_calls > 0 or self._max_rss > 0

    def over_limit(self, served: int) -> str | None:
        """Why this worker should be replaced now, or None."""
        if self._max_calls and served >= self._max_calls:
            return f"served {served} calls ([loader] max_calls = {self._max_calls})"
        if self._max_rss and (rss := rss_bytes()) > self._max_rss:
            return (f"resident size {rss / MIB:.0f} MiB is over [loader] max_rss_mb = "
                    f"{self._max_rss // MIB}")
        return None

    def claim(self) -> bool:
        """Whether this worker may go now; if so its siblings wait until its replacement serves."""
        if self._ready_file is None:
            return True
        folder = self._ready_file.parent
        lock = folder / LOCK_NAME
        if not lock.exists():
            return True
        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                if any(folder.glob("*.recycling")):
                    return False  # a sibling is being replaced: not both at once
                with contextlib.suppress(FileNotFoundError):
                    self._ready_file.rename(self._ready_file.with_suffix(".recycling"))
                return True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
