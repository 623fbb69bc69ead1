"""The SDK's schema fields (re-exported by aiges.sdk): what requestCls and responseCls declare.

Constructor signatures and attribute names are the SDK's (0.16.0 unless noted); where its
versions disagreed, every form they accepted works:
- StringBodyField's value: bytes (SDK >= 0.4 raised on anything else) or str, encoded UTF-8
  (SDK <= 0.2 took str, and its own examples still pass one); JsonBodyField's: str, bytes or a
  JSON-able object.
- BooleanParamField(key, default, required) positionally (SDK < 0.8) as well as
  (key, title, default, required): a bool where the title goes is taken as the old layout.
- A file named by `path` is resolved against the working directory at import, as the SDK did;
  a missing one is logged (a warning) and never fails the import.
Ours, not the SDK's: input fields take `required=True/False` (keyword; unset, the worker's rule
for SDK fields applies: the only declared input is required, several are each optional), and
every field has describe(), what WrapperBase.schema() says of it.
The response fields StringRespField, ImageRespField and AudioRespField exist in no SDK version
(some wrappers import them): they are the body fields' twins, for responseCls.
"""
from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from typing import Any

from .core.types import AUDIO, IMAGE, STRING, Once, Types
from .utils.log import log

__all__ = [
    "AudioBodyField", "AudioRespField", "BooleanParamField", "Field", "ImageBodyField",
    "ImageRespField", "IntegerParamField", "JsonBodyField", "NumberParamField", "ParamField",
    "PayloadField", "StringBodyField", "StringParamField", "StringRespField",
]


class Field:
    """One declared field: a parameter (ParamField) or a payload (PayloadField)."""

    def __init__(self, key: str, data_type: int | str) -> None:
        self.key = key
        self.data_type = data_type
        self.description = ""
        self.title = ""

    def __str__(self) -> str:
        return f"<{type(self).__name__}:{self.key}>"

    __repr__ = __str__

    @property
    def test_value(self) -> Any:
        """The example value the SDK's local self-test sent."""
        return None

    def describe(self, keep_default: bool = True) -> dict[str, Any]:
        """This field in WrapperBase.schema()'s document."""
        return {name: value for name, value in (("title", self.title),
                                                 ("description", self.description)) if value}


class ParamField(Field):
    """A `parameter` of the call: arrives in wrapperOnceExec's params as a string."""

    def __init__(self, key: str, data_type: int | str) -> None:
        super().__init__(key, data_type)
        self.required = False
        self.enums: list[Any] = []

    def describe(self, keep_default: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.data_type, "required": self.required}
        if self.enums:
            out["enum"] = list(self.enums)
        else:
            out.update(self._limits())
        default = self.test_value
        if keep_default and default is not None and default != "":
            out["default"] = default
        return out | super().describe()

    def _limits(self) -> dict[str, Any]:
        return {}


class PayloadField(Field):
    """A `payload` of the call (an input) or of its answer (an accept)."""

    def __init__(self, key: str, data_type: int | str) -> None:
        super().__init__(key, data_type)
        # None: as the SDK (which has no such flag) means it; see loader/schema.py
        self.required: bool | None = None
        self.encoding = ""
        self.status = Once

    def describe(self, keep_default: bool = True) -> dict[str, Any]:
        kind = Types.get(self.data_type) if isinstance(self.data_type, int) else None
        out: dict[str, Any] = {"dataType": kind or str(self.data_type),
                               "required": self.required, "status": self.status}
        for attr in ("encoding", "format", "compress"):
            value = getattr(self, attr, "")
            if value:
                out[attr] = value
        return out | super().describe()


class StringParamField(ParamField):
    def __init__(self, key: str, minLength: int = 0, maxLength: int = 1024,
                 enums: Sequence[str] | None = None, required: bool = False, value: str = "",
                 description: str = "", title: str = "") -> None:
        super().__init__(key, "string")
        self.min_length = minLength
        self.max_length = maxLength  # 50 before SDK 0.8, 1024 since
        self.enums = list(enums or [])
        self.required = required
        self.value = value
        self.default = value
        self.description = description
        self.title = title

    @property
    def test_value(self) -> Any:
        return self.value

    def _limits(self) -> dict[str, Any]:
        return {"minLength": self.min_length, "maxLength": self.max_length}


class _NumericParamField(ParamField):
    _type = "number"

    def __init__(self, key: str, minimum: float = 0, maximum: float = 100,
                 enums: Sequence[float] | None = None, required: bool = False, value: float = 0,
                 description: str = "", title: str = "") -> None:
        super().__init__(key, self._type)
        self.minimum = minimum
        self.maximum = maximum
        self.enums = list(enums or [])
        self.required = required
        self.value = value
        self.default = value
        self.description = description
        self.title = title

    @property
    def test_value(self) -> Any:
        return self.value

    def _limits(self) -> dict[str, Any]:
        return {"minimum": self.minimum, "maximum": self.maximum}


class NumberParamField(_NumericParamField):
    _type = "number"


class IntegerParamField(_NumericParamField):
    _type = "integer"


class BooleanParamField(ParamField):
    def __init__(self, key: str, title: str | bool = "", default: bool = False,
                 required: bool = False, description: str = "") -> None:
        super().__init__(key, "boolean")
        if isinstance(title, bool):  # SDK < 0.8: BooleanParamField(key, default, required)
            default, required = title, default
            title = ""
        self.title = str(title)
        self.default = default
        self.value = default
        self.required = required
        self.description = description

    @property
    def test_value(self) -> Any:
        return self.default

    def describe(self, keep_default: bool = True) -> dict[str, Any]:
        out = super().describe(keep_default=False)
        return out | ({"default": self.default} if keep_default else {})


class StringBodyField(PayloadField):
    def __init__(self, key: str, value: bytes | str = b" ", need_base64: bool = False,
                 encoding: str = "utf8", format: str = "plain", compress: str = "raw",
                 status: int = 3, *, required: bool | None = None) -> None:
        super().__init__(key, STRING)
        self.value = _as_bytes(value, f"{type(self).__name__}({key!r})")
        self.text = self.value
        self.need_base64 = need_base64
        self.encoding = encoding
        self.format = format
        self.compress = compress
        self.status = status
        self.required = required

    @property
    def test_value(self) -> bytes:
        return base64.b64encode(self.value) if self.need_base64 else self.value


class JsonBodyField(PayloadField):
    def __init__(self, key: str, value: Any = "", need_base64: bool = False, *,
                 required: bool | None = None) -> None:
        super().__init__(key, STRING)
        self.value = value  # as given: the SDK kept it so
        self.need_base64 = need_base64
        self.encoding = "utf8"
        self.format = "json"
        self.required = required

    @property
    def test_value(self) -> bytes:
        raw = self.value
        if not isinstance(raw, str | bytes | bytearray | memoryview):
            raw = json.dumps(raw, ensure_ascii=False)
        data = _as_bytes(raw, f"JsonBodyField({self.key!r})")
        return base64.b64encode(data) if self.need_base64 else data


class _FileBodyField(PayloadField):
    """A payload whose example is a file named by `path`."""

    def __init__(self, key: str, data_type: int, path: str, need_base64: bool,
                 required: bool | None) -> None:
        super().__init__(key, data_type)
        self.path = path
        self.need_base64 = need_base64
        self.required = required
        self._file = _resolve(path, f"{type(self).__name__}({key!r})")

    @property
    def test_value(self) -> bytes:
        if not self._file or not os.path.isfile(self._file):
            return b""
        with open(self._file, "rb") as f:
            content = f.read()
        return base64.b64encode(content) if self.need_base64 else content


class ImageBodyField(_FileBodyField):
    def __init__(self, key: str, path: str = "", need_base64: bool = False,
                 encoding: str = "jpg", status: int = 3, *, required: bool | None = None) -> None:
        super().__init__(key, IMAGE, path, need_base64, required)
        self.encoding = encoding
        self.status = status

    @property
    def image(self) -> bytes:
        """The example image (the SDK read it at import; here when asked)."""
        return self.test_value


class AudioBodyField(_FileBodyField):
    def __init__(self, key: str, path: str = "", encoding: str = "raw", format: str = "plain",
                 compress: str = "raw", status: int = 3, *, required: bool | None = None) -> None:
        super().__init__(key, AUDIO, path, False, required)
        self.encoding = encoding  # "" in SDK 0.6, "raw" since 0.8
        self.format = format
        self.compress = compress
        self.status = status

    @property
    def audio(self) -> bytes:
        return self.test_value


class StringRespField(StringBodyField):
    """A text output: StringBodyField's twin for responseCls (value: an example output)."""


class ImageRespField(ImageBodyField):
    """An image output: ImageBodyField's twin for responseCls (path: an example output)."""


class AudioRespField(AudioBodyField):
    """An audio output: AudioBodyField's twin for responseCls (path: an example output)."""


def _as_bytes(value: object, owner: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if value is None:
        return b""
    raise TypeError(f"{owner}: value must be bytes or str, not {type(value).__name__}")


def _resolve(path: str, owner: str) -> str:
    """The file `path` names, against the working directory now (the wrapper's import)."""
    if not path:
        return ""
    resolved = os.path.abspath(path)
    if not os.path.isfile(resolved):
        log.warning("%s: example file %r not found (looked for %s); the field works without it",
                    owner, path, resolved)
    return resolved
