"""The old name of aiges.core.types: SDK 0.4 and 0.5 had only this one, and wrappers import it."""
from __future__ import annotations

from .core.types import (
    AUDIO,
    IMAGE,
    PROCESS_MODE,
    STRING,
    THREAD_MODE,
    VIDEO,
    DataAudio,
    DataBegin,
    DataContinue,
    DataEnd,
    DataImage,
    DataOnce,
    DataPer,
    DataText,
    DataVideo,
    Once,
    Status,
    Types,
)

__all__ = [
    "AUDIO", "DataAudio", "DataBegin", "DataContinue", "DataEnd", "DataImage", "DataOnce",
    "DataPer", "DataText", "DataVideo", "IMAGE", "Once", "PROCESS_MODE", "STRING", "Status",
    "THREAD_MODE", "Types", "VIDEO",
]
