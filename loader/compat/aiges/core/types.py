"""The SDK's aiges.core.types: data type and status constants, the very values aiges_embed uses."""
from __future__ import annotations

from typing import Final

import aiges_embed

__all__ = [
    "AUDIO", "DataAudio", "DataBegin", "DataContinue", "DataEnd", "DataImage", "DataOnce",
    "DataPer", "DataText", "DataVideo", "IMAGE", "Once", "PROCESS_MODE", "STRING", "Status",
    "THREAD_MODE", "Types", "VIDEO",
]

# read from the native module so a wrapper's constants can never disagree with the wire's
DataText: Final = aiges_embed.DataText
DataAudio: Final = aiges_embed.DataAudio
DataImage: Final = aiges_embed.DataImage
DataVideo: Final = aiges_embed.DataVideo
DataPer: Final = aiges_embed.DataPer  # personalisation data (wrapperLoadRes)

# the SDK's field-side names for the same data types
STRING: Final = DataText
AUDIO: Final = DataAudio
IMAGE: Final = DataImage
VIDEO: Final = DataVideo

DataBegin: Final = aiges_embed.DataBegin
DataContinue: Final = aiges_embed.DataContinue
DataEnd: Final = aiges_embed.DataEnd
DataOnce: Final = aiges_embed.DataOnce
Once: Final = aiges_embed.Once

Types: Final[dict[int, str]] = {DataText: "text", DataAudio: "audio", DataImage: "image",
                                DataVideo: "video"}
Status: Final[dict[int, str]] = {DataBegin: "begin", DataContinue: "continue", DataEnd: "end",
                                 DataOnce: "once"}

# aiges.stream.SessionManager's pool modes; the SDK never made the process mode work
THREAD_MODE: Final = "thread"
PROCESS_MODE: Final = "process"
