"""OCR ability: printed text read from a PNG/JPEG with Tesseract, one region per line or word.

Send the picture as input ``image``; read output ``result``, a JSON text::

    {"regions": [{"box": [x1, y1, x2, y2, x3, y3, x4, y4], "box_score": 0.95,
                  "text_score": 0.96, "text": "HELLO WORLD"}, ...]}

in reading order. ``box`` is the region's quadrilateral in image pixels, as MMOCR prints it:
Tesseract's boxes are axis-aligned, so the four corners are top-left, top-right,
bottom-right, bottom-left (clockwise), with x2 = x3 = left + width, y3 = y4 = top + height.
Scores are Tesseract's word confidences (0-100) scaled to 0..1. Tesseract has no detection
score of its own, so for a line ``text_score`` is the mean confidence of its words and
``box_score`` the lowest (how sure it is of the line's weakest word: a low value flags a region
that is partly misread or not text at all); for a word both are that word's confidence.

Parameters: ``lang`` (an installed Tesseract language, default ``eng``), ``level`` (``line``
or ``word``, default ``line``), ``min_score`` (regions with a lower text_score are left out,
default 0). Tesseract runs as a subprocess through pytesseract, one per call, so calls run
side by side up to ``[fc] max``; it needs the Debian packages ``tesseract-ocr`` and
``tesseract-ocr-<lang>``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import pytesseract
from aiges.core.types import DataOnce, DataText
from aiges.dto import DataListCls, Response, ResponseData
from aiges.sdk import (
    ImageBodyField,
    NumberParamField,
    StringBodyField,
    StringParamField,
    WrapperBase,
)
from aiges.utils.log import log
from PIL import Image, UnidentifiedImageError

__all__ = [
    "ERR_BAD_CONFIG",
    "ERR_BAD_IMAGE",
    "ERR_BAD_PARAM",
    "ERR_IMAGE_TOO_LARGE",
    "ERR_NO_IMAGE",
    "ERR_NO_TESSERACT",
    "ERR_TESSERACT_FAILED",
    "ERR_TIMEOUT",
    "Wrapper",
]

INPUT_KEY = "image"
OUTPUT_KEY = "result"
LEVELS = ("line", "word")
PACKAGES = "apt-get install tesseract-ocr tesseract-ocr-eng"

# This wrapper's own error codes (15001-15099).
ERR_BAD_IMAGE = 15001
ERR_NO_IMAGE = 15002
ERR_IMAGE_TOO_LARGE = 15003
ERR_TIMEOUT = 15004
ERR_NO_TESSERACT = 15005
ERR_BAD_PARAM = 15006
ERR_BAD_CONFIG = 15007
ERR_TESSERACT_FAILED = 15008

_MESSAGES = {
    ERR_BAD_IMAGE: "image cannot be decoded: send PNG or JPEG bytes, base64-encoded, as "
    "payload.image.image",
    ERR_NO_IMAGE: f"the request has no input named {INPUT_KEY!r}: send the picture as "
    f'"payload": {{"{INPUT_KEY}": {{"encoding": "png", "image": "<base64>"}}}}',
    ERR_IMAGE_TOO_LARGE: "image has more pixels than [wrapper] image_max_pixels allows: "
    "shrink it or raise the limit",
    ERR_TIMEOUT: "Tesseract took longer than [wrapper] timeout_s on this image",
    ERR_NO_TESSERACT: "the tesseract program is not installed (or not at [wrapper] "
    f"tesseract_cmd), or lacks the default language's data: {PACKAGES} "
    "(Debian packages; another language is tesseract-ocr-<lang>)",
    ERR_BAD_PARAM: "bad parameter: lang must be an installed Tesseract language, level "
    "'line' or 'word', min_score a number from 0 to 1",
    ERR_BAD_CONFIG: "a [wrapper] setting is invalid: image_max_pixels and timeout_s must be "
    "positive numbers",
    ERR_TESSERACT_FAILED: "Tesseract failed on this image (the worker's log has its message)",
}


def _installed_languages(command: str = "tesseract") -> list[str]:
    """The languages `command` has data for, less `osd` (script detection, not a language);
    none when it cannot be run."""
    try:
        done = subprocess.run([command, "--list-langs"], capture_output=True, text=True,
                              timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    # the first line is 'List of available languages in "<tessdata>/" (N):'
    found = (line.strip() for line in done.stdout.splitlines()[1:])
    return sorted(lang for lang in found if lang and lang != "osd")


# read at import so the declared schema lists them (the gateway refuses others with 10107)
_LANGUAGES = _installed_languages() or ["eng"]


class UserRequest:
    lang = StringParamField(key="lang", value="eng", enums=_LANGUAGES, maxLength=64,
                            description="Tesseract language of the text")
    level = StringParamField(key="level", value="line", enums=list(LEVELS),
                             description="one region per line or per word")
    min_score = NumberParamField(key="min_score", minimum=0, maximum=1, value=0,
                                 description="leave out regions whose text_score is lower")
    image = ImageBodyField(key=INPUT_KEY, path="test_data/hello.png", encoding="png")


class UserResponse:
    result = StringBodyField(key=OUTPUT_KEY, format="json")


# a NamedTuple rather than a dataclass: dataclasses need the module registered in
# sys.modules, which a loader importing wrapper.py by path may not do
class _Settings(NamedTuple):
    tesseract_cmd: str = "tesseract"
    image_max_pixels: int = 25_000_000
    timeout_s: float = 30.0

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> _Settings:
        defaults = cls()
        settings = cls(
            tesseract_cmd=str(config.get("tesseract_cmd", defaults.tesseract_cmd)),
            image_max_pixels=int(config.get("image_max_pixels", defaults.image_max_pixels)),
            timeout_s=float(config.get("timeout_s", defaults.timeout_s)),
        )
        if settings.image_max_pixels <= 0 or not settings.timeout_s > 0:
            raise ValueError("image_max_pixels and timeout_s must be positive")
        return settings


class _Rejected(Exception):
    """A call the wrapper cannot serve; carries the wrapper's error code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Wrapper(WrapperBase):
    """Reads the text in input "image"; answers JSON regions in output "result"."""

    serviceId = "ocr"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def __init__(self) -> None:
        super().__init__()
        self._settings = _Settings()
        self._languages: list[str] = []

    def wrapperInit(self, config: dict[str, str]) -> int:
        try:
            self._settings = _Settings.from_config(config)
        except ValueError as exc:
            log.error("ocr: bad [wrapper] config: %s", exc)
            return ERR_BAD_CONFIG
        command = shutil.which(self._settings.tesseract_cmd)
        languages = _installed_languages(command) if command else []
        if "eng" not in languages:
            log.error("ocr: no tesseract with English data at %r: %s",
                      self._settings.tesseract_cmd, PACKAGES)
            return ERR_NO_TESSERACT
        # pytesseract reads the program from a module global; one wrapper per worker process
        pytesseract.pytesseract.tesseract_cmd = command
        # each call is its own process: OpenMP threads in every one would only contend
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        self._languages = languages
        log.info("ocr: %s, languages %s", command, ", ".join(languages))
        return 0

    def wrapperFini(self) -> int:
        return 0

    def wrapperVersion(self) -> str:
        return f"ocr 1.0.0 (tesseract {pytesseract.get_tesseract_version()})"

    def wrapperError(self, code: int) -> str:
        return _MESSAGES.get(code, f"ocr: unknown error code {code}")

    def wrapperOnceExec(self, params: dict[str, str], reqData: DataListCls,
                        usrTag: str = "", persId: int = 0) -> Response:
        assert self._languages, "wrapperInit must succeed before wrapperOnceExec"
        node = reqData.get(INPUT_KEY)
        if node is None:
            return Response().response_err(ERR_NO_IMAGE)
        try:
            lang, level, min_score = self._options(params)
            image = _decode(node.data, self._settings.image_max_pixels)
            regions = self._read(image, lang, level)
        except _Rejected as rejected:
            return Response().response_err(rejected.code)
        kept = [region for region in regions if region["text_score"] >= min_score]
        out = ResponseData()
        out.key, out.type, out.status = OUTPUT_KEY, DataText, DataOnce
        out.desc = {"encoding": "utf8", "format": "json"}
        out.setData(json.dumps({"regions": kept}, ensure_ascii=False).encode())
        response = Response()
        response.list = [out]
        return response

    def _options(self, params: Mapping[str, str]) -> tuple[str, str, float]:
        """The call's parameters, checked here too: a direct call skips the gateway's schema."""
        lang = params.get("lang", "eng")
        level = params.get("level", "line")
        try:
            min_score = float(params.get("min_score", 0))
        except ValueError:
            raise _Rejected(ERR_BAD_PARAM) from None
        if lang not in self._languages or level not in LEVELS or not 0 <= min_score <= 1:
            raise _Rejected(ERR_BAD_PARAM)
        return lang, level, min_score

    def _read(self, image: Image.Image, lang: str, level: str) -> list[dict[str, Any]]:
        try:
            data = pytesseract.image_to_data(image, lang=lang, timeout=self._settings.timeout_s,
                                             output_type=pytesseract.Output.DICT)
        except RuntimeError as exc:  # pytesseract's "Tesseract process timeout"
            if "timeout" not in str(exc).lower():
                raise
            raise _Rejected(ERR_TIMEOUT) from exc
        except pytesseract.TesseractError as exc:
            log.error("ocr: tesseract failed: %s", exc)
            raise _Rejected(ERR_TESSERACT_FAILED) from exc
        words = list(_words(data))
        if level == "word":
            return [_region([word]) for word in words]
        lines: dict[tuple[int, ...], list[_Word]] = {}
        for word in words:
            lines.setdefault(word.line, []).append(word)
        return [_region(line) for line in lines.values()]


class _Word(NamedTuple):
    line: tuple[int, ...]  # (page, block, paragraph, line): the line the word is in
    left: int
    top: int
    right: int
    bottom: int
    score: float  # 0..1
    text: str


def _words(data: Mapping[str, list[Any]]) -> Iterable[_Word]:
    """The recognised words of pytesseract's table, in reading order."""
    for i, text in enumerate(data["text"]):
        confidence = float(data["conf"][i])
        text = str(text).strip()
        if data["level"][i] != 5 or confidence < 0 or not text:
            continue  # page, block, paragraph and line rows, and empty words
        left, top = int(data["left"][i]), int(data["top"][i])
        line = tuple(int(data[k][i]) for k in ("page_num", "block_num", "par_num", "line_num"))
        yield _Word(line, left, top, left + int(data["width"][i]),
                    top + int(data["height"][i]), confidence / 100.0, text)


def _region(words: list[_Word]) -> dict[str, Any]:
    left, top = min(w.left for w in words), min(w.top for w in words)
    right, bottom = max(w.right for w in words), max(w.bottom for w in words)
    scores = [w.score for w in words]
    return {
        "box": [left, top, right, top, right, bottom, left, bottom],
        "box_score": round(min(scores), 4),
        "text_score": round(sum(scores) / len(scores), 4),
        "text": " ".join(w.text for w in words),
    }


def _decode(data: object, max_pixels: int) -> Image.Image:
    """The request's PNG/JPEG as an RGB or greyscale image, transparency flattened on white."""
    try:
        # Pillow decodes from a file object; BytesIO copies the request's buffer once for it
        image = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))  # type: ignore[arg-type]
        if image.width * image.height > max_pixels:  # read from the header, nothing decoded
            raise _Rejected(ERR_IMAGE_TOO_LARGE)
        image.load()
    except Image.DecompressionBombError as exc:
        raise _Rejected(ERR_IMAGE_TOO_LARGE) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _Rejected(ERR_BAD_IMAGE) from exc
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image if image.mode in ("RGB", "L") else image.convert("RGB")
