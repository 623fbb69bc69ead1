"""The C allocator, tuned for payload-sized buffers (glibc only).

By default glibc serves every allocation above a moving threshold (128 KiB to 32 MiB) with a
fresh mmap and gives freed memory back to the kernel quickly, so each request re-faults
every page of every payload buffer it touches: measured here, that halved the throughput of
16 MiB calls. Serving processes keep their working set instead: buffers up to 32 MiB come
from the heap and freed memory stays for the next request (the resident size settles at the
peak working set, as it would with jemalloc or tcmalloc).

Setting glibc's own MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ in the environment
leaves the allocator as configured there.
"""
from __future__ import annotations

import ctypes
import logging
import os

__all__ = ["tune_allocator"]

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this setting on 64-bit
_TRIM_THRESHOLD = 1 << 30


def tune_allocator() -> bool:
    """Returns whether the allocator was tuned."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    tuned = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    if not tuned:
        log.warning("could not tune the C allocator; large payloads will be slower")
    return tuned
