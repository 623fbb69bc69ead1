"""Native data bridge: AIGES wrapper classes and the loader.v1 wire codec."""

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, SupportsIndex, TypeAlias, overload

from numpy.typing import NDArray
from typing_extensions import Buffer

# What an output's data may be. ndarray is named because numpy declares its buffer support
# to type checkers only from Python 3.12 on.
_OutputData: TypeAlias = Buffer | NDArray[Any] | str | None

DataText: Final = 0
DataAudio: Final = 1
DataImage: Final = 2
DataVideo: Final = 3
DataPer: Final = 4
DataBegin: Final = 0
DataContinue: Final = 1
DataEnd: Final = 2
DataOnce: Final = 3
Once: Final = 3

class DecodeError(ValueError):
    """Malformed loader.v1 wire bytes; the message names the message and field path being
    decoded, the problem and its byte offset:
    "CallRequest.inputs[1].desc.key: truncated length at byte 40"."""

class Payload:
    """Read-only view into the bytes of a parsed request; no copy.

    Buffer consumers (np.frombuffer, memoryview) share memory with the request and are
    read-only. Attributes not defined here are looked up on bytes(self), which copies.
    """

    @property
    def owner(self) -> Buffer:
        """The object the request was parsed from; kept alive by the view."""
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def tobytes(self) -> bytes: ...
    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @overload
    def __getitem__(self, index: SupportsIndex) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> bytes: ...
    def __iter__(self) -> Iterator[int]: ...
    def __contains__(self, item: SupportsIndex | Buffer) -> bool: ...
    def hex(self, sep: str | bytes = ..., bytes_per_sep: SupportsIndex = ...) -> str: ...
    def startswith(
        self,
        prefix: Buffer | tuple[Buffer, ...],
        start: SupportsIndex | None = None,
        end: SupportsIndex | None = None,
    ) -> bool: ...
    def endswith(
        self,
        suffix: Buffer | tuple[Buffer, ...],
        start: SupportsIndex | None = None,
        end: SupportsIndex | None = None,
    ) -> bool: ...
    def __getattr__(self, name: str) -> Any: ...

class DataListNode:
    """One input of a call. data is a Payload, bytes (text inputs) or what a wrapper stored."""

    key: str
    data: Any
    len: int
    type: int
    status: int
    def __init__(
        self,
        key: str = "",
        data: Any = b"",
        len: int = 0,
        type: int = 0,
        status: int = 0,
        desc: Mapping[str, str] | None = None,
    ) -> None: ...
    @property
    def desc(self) -> dict[str, str]: ...
    @desc.setter
    def desc(self, value: Mapping[str, str] | None) -> None: ...
    def get_data(self) -> Any: ...

class DataListCls:
    """The inputs of a call."""

    def __init__(self, list: Iterable[DataListNode] | None = None) -> None: ...
    @property
    def list(self) -> builtins.list[DataListNode]: ...
    @list.setter
    def list(self, value: Iterable[DataListNode] | None) -> None: ...
    def get(self, key: str) -> DataListNode | None:
        """The first node with this key, or None."""

class ResponseData:
    """One output of a call; data may be bytes-like, str (sent as UTF-8) or None."""

    key: str
    data: Any
    len: int
    type: int
    status: int
    def __init__(
        self,
        key: str = "",
        len: int = 0,
        status: int = 0,
        type: int = 0,
        data: Any = b"",
        desc: Mapping[str, str] | None = None,
    ) -> None: ...
    @property
    def desc(self) -> dict[str, str]: ...
    @desc.setter
    def desc(self, value: Mapping[str, str] | None) -> None: ...
    def setData(self, data: _OutputData) -> None:
        """Set data and len (its byte length; the UTF-8 length for str)."""
    def setDataType(self, type: int) -> None: ...

class Response:
    """A wrapper's result; a non-zero error_code is an error."""

    error_code: int
    def __init__(self, list: Iterable[ResponseData] | None = None, error_code: int = 0) -> None: ...
    @property
    def list(self) -> builtins.list[ResponseData]: ...
    @list.setter
    def list(self, value: Iterable[ResponseData] | None) -> None: ...
    def response_err(self, code: int) -> Response:
        """A new, empty Response carrying this error code."""

class SessionCreateResponse:
    """A wrapper's answer to wrapperCreate."""

    handle: str
    error_code: int
    def __init__(self, handle: str = "", error_code: int = 0) -> None: ...

class ParsedCall:
    """A decoded loader.v1.CallRequest; made only by parse_call."""

    @property
    def sid(self) -> str: ...
    @property
    def params(self) -> dict[str, str]: ...
    @property
    def data(self) -> DataListCls: ...
    @property
    def accepts(self) -> builtins.list[tuple[str, int | None, dict[str, str]]]:
        """(key, type or None when absent, attrs) for each Accept."""
    @property
    def usr_tag(self) -> str: ...
    @property
    def pers_id(self) -> int: ...

def parse_call(raw: Buffer, copy_text: bool = True) -> ParsedCall:
    """Decode loader.v1.CallRequest bytes exactly as protobuf does.

    Input payloads are read-only Payload views into raw, except text inputs (type 0), which
    are bytes copies when copy_text is true. Raises DecodeError on malformed input.
    """

def serialize_response(sid: str, outputs: Iterable[object], status: int | None = None) -> bytes:
    """Encode loader.v1.CallResponse(sid, outputs) as protobuf's deterministic serializer does.

    Each output is read by attribute (key, type, status, desc, data; missing or None means
    empty). data may be C-contiguous bytes-like, str (UTF-8) or None; its real byte length is
    written, whatever the output's len says. status, when given, replaces every output's.
    """

def set_hooks(
    callback: Callable[..., int] | None = None,
    metric: Callable[[str, str, int], int] | None = None,
    trace: Callable[[str, str, str], int] | None = None,
) -> None:
    """Register the loader worker's hooks; None leaves a hook unchanged."""

def clear_hooks() -> None: ...
def callback(resp: Response, usrTag: str, *extra: Any) -> int:
    """Deliver an asynchronous result through the callback hook; RuntimeError without one."""

def callback_metric(usrTag: str, key: str, count: int) -> int:
    """Report a metric through the metric hook; 0 without one."""

def callback_trace(usrTag: str, key: str, value: str) -> int:
    """Report a trace through the trace hook; 0 without one."""
