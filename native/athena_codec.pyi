"""The HTTP gateway's native codec: AIGES JSON <-> loader.v1 wire bytes."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from aiges_embed import DecodeError as DecodeError
from aiges_embed import Payload
from typing_extensions import Buffer

class JSONError(ValueError):
    """Malformed JSON; the message names the problem, its line, column and byte offset."""

class Base64Error(ValueError):
    """Invalid base64 in an encode_call input."""

    index: int
    """The position of that input in encode_call's inputs."""

class Base64Span:
    """The base64 text of one payload, left in the request body (no copy).

    len() is the raw length in the body, escapes included. The span keeps the body alive.
    """

    def __len__(self) -> int: ...
    @property
    def escaped(self) -> bool:
        """The raw text holds backslash escapes."""
    @property
    def offset(self) -> int:
        """Where the raw text starts in the body."""
    @property
    def owner(self) -> Buffer:
        """The body the span was parsed from."""
    def is_valid(self) -> bool:
        """Whether encode_call would decode this span without a Base64Error: the same strict
        rules, checked in one scan that allocates nothing."""
    def tobytes(self) -> bytes:
        """A bytes copy of the raw (still encoded, still escaped) text."""

# (key, type, status, desc, data) of one CallRequest input or CallResponse output
InputSpec: TypeAlias = tuple[str, int, int, Mapping[str, str], Base64Span | Buffer]
OutputSpec: TypeAlias = tuple[str, int, int, dict[str, str], Payload]
# (key, type or None when absent[, attrs]) of one Accept; encode_call does not send the attrs
AcceptSpec: TypeAlias = tuple[str, int | None] | tuple[str, int | None, Mapping[str, str]]

def parse_request(body: Buffer) -> Any:
    """Parse a JSON body as json.loads does, except that every string at
    payload.<name>.<text|audio|image|video> is a Base64Span into body instead of a str.

    Raises JSONError (a ValueError) naming the byte offset of malformed input.
    """

def encode_call(
    body: Buffer | None,
    sid: str,
    params: Mapping[str, str],
    inputs: Sequence[InputSpec],
    accepts: Iterable[AcceptSpec],
) -> bytes:
    """loader.v1.CallRequest wire bytes, written once into bytes of their exact size.

    A Base64Span input is decoded straight into the message, accepting exactly what
    binascii.a2b_base64(strict_mode=True) accepts (an escaped '/' is the only escape allowed);
    bytes-like data is copied. body, when given, is the buffer every span must point into.
    Each accept is written as its key and type only: the worker never reads attrs, and the
    caller keeps them to render the reply.
    Raises Base64Error, whose .index names the input, on invalid base64.
    """

def parse_response(raw: Buffer) -> tuple[str, list[OutputSpec]]:
    """Decode loader.v1.CallResponse bytes as protobuf does; each data is a read-only Payload
    view into raw. Raises DecodeError on malformed input, naming the field path and byte:
    "CallResponse.outputs[0].type: truncated varint at byte 7"."""

def render_json(document: object) -> bytes:
    """Compact UTF-8 JSON, as json.dumps(ensure_ascii=False, separators=(',', ':')).encode()
    writes it, with every buffer (bytes, bytearray, memoryview, Payload) as a base64 string.

    Non-str keys and other types raise TypeError.
    """
