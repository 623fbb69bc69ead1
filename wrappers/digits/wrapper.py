"""Digits ability: reads one handwritten digit from a PNG/JPEG with a scikit-learn SVM.

The model is trained at start-up from the 8x8 digits dataset that scikit-learn ships
(``load_digits``: nothing is downloaded). Every image, whether from the dataset at training
time or from a request, goes through the same normalisation: ink made bright on a dark
background, cropped to the ink, centred in a square and averaged down to 8x8 on the
dataset's 0..16 scale. Training on exactly what inference sees keeps the two consistent.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import sklearn
from aiges_embed import DataListCls, Response, ResponseData
from PIL import Image, UnidentifiedImageError
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.svm import SVC

__all__ = [
    "ERR_BAD_CONFIG",
    "ERR_BAD_IMAGE",
    "ERR_BLANK_IMAGE",
    "ERR_IMAGE_TOO_LARGE",
    "ERR_NO_IMAGE",
    "Wrapper",
]

log = logging.getLogger(__name__)

INPUT_KEY = "image"
OUTPUT_KEY = "result"
DATA_TEXT = 0
DATA_ONCE = 3

# This wrapper's own error codes (11001-11099).
ERR_BAD_IMAGE = 11001
ERR_NO_IMAGE = 11002
ERR_IMAGE_TOO_LARGE = 11003
ERR_BLANK_IMAGE = 11004
ERR_BAD_CONFIG = 11005

_MESSAGES = {
    ERR_BAD_IMAGE: "image input is not a PNG/JPEG Pillow can decode: send the file's bytes, "
    "base64-encoded, as payload.image.image",
    ERR_NO_IMAGE: f"the request has no input named {INPUT_KEY!r}: send the picture as "
    f'"payload": {{"{INPUT_KEY}": {{"encoding": "png", "image": "<base64>"}}}}',
    ERR_IMAGE_TOO_LARGE: "image is larger than [wrapper] image_max_pixels allows: "
    "shrink it (a digit needs no more than a few hundred pixels a side) or raise the limit",
    ERR_BLANK_IMAGE: "image is a single flat colour: there is no ink to read a digit from",
    ERR_BAD_CONFIG: "a [wrapper] setting is invalid: model_c, model_gamma, image_max_pixels and "
    "train_holdout must be positive numbers (train_holdout may be 0 and must leave "
    "samples to train on)",
}

_SIDE = 8  # the dataset's images are 8x8
_SCALE = 16.0  # ... with values 0..16 (ink pixels counted per 4x4 block of a 32x32 bitmap)
_INK_THRESHOLD = 0.2  # ink fraction above which a pixel counts for the bounding box
_MIN_CONTRAST = 0.1  # below this ink/background difference the image is blank


class _Rejected(Exception):
    """An input the wrapper cannot use; carries the wrapper's error code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# a NamedTuple rather than a dataclass: dataclasses need the module registered in
# sys.modules, which a loader importing wrapper.py by path may not do
class _Settings(NamedTuple):
    model_c: float = 10.0
    model_gamma: float = 0.001
    image_max_pixels: int = 4_000_000
    train_holdout: int = 0

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> _Settings:
        """Reads the [wrapper] keys; other keys (licences, log levels) are not ours."""
        defaults = cls()
        settings = cls(
            model_c=float(config.get("model_c", defaults.model_c)),
            model_gamma=float(config.get("model_gamma", defaults.model_gamma)),
            image_max_pixels=int(config.get("image_max_pixels", defaults.image_max_pixels)),
            train_holdout=int(config.get("train_holdout", defaults.train_holdout)),
        )
        if min(settings.model_c, settings.model_gamma, settings.image_max_pixels) <= 0:
            raise ValueError("model_c, model_gamma and image_max_pixels must be positive")
        if settings.train_holdout < 0:
            raise ValueError("train_holdout must not be negative")
        return settings


class Wrapper:
    """Classifies the digit in input "image"; answers JSON in output "result"."""

    serviceId = "digits"
    version = "v1"

    def __init__(self) -> None:
        self._settings = _Settings()
        self._model: CalibratedClassifierCV | None = None

    def wrapperInit(self, config: dict[str, str]) -> int:
        try:
            self._settings = _Settings.from_config(config)
            self._model = _train(self._settings)
        except ValueError as exc:
            log.error("digits: bad [wrapper] config: %s", exc)
            return ERR_BAD_CONFIG
        return 0

    def wrapperFini(self) -> int:
        self._model = None
        return 0

    def wrapperVersion(self) -> str:
        return f"digits 1.0.0 (scikit-learn {sklearn.__version__})"

    def wrapperError(self, code: int) -> str:
        return _MESSAGES.get(code, f"digits: unknown error code {code}")

    def wrapperOnceExec(
        self,
        params: dict[str, str],
        reqData: DataListCls,
        usrTag: str = "",
        persId: int = 0,
    ) -> Response:
        assert self._model is not None, "wrapperInit must succeed before wrapperOnceExec"
        node = reqData.get(INPUT_KEY)
        if node is None:
            return Response().response_err(ERR_NO_IMAGE)
        try:
            ink = _decode_ink(node.data, self._settings.image_max_pixels)
        except _Rejected as rejected:
            return Response().response_err(rejected.code)
        probabilities = self._model.predict_proba(_features(ink).reshape(1, -1))[0]
        response = Response()
        response.list = [_result(probabilities)]
        return response


def _train(settings: _Settings) -> CalibratedClassifierCV:
    """Fits the classifier on the bundled dataset; about 0.3 s on one core.

    Nothing here is random (the calibration folds are taken in order), so the model is the
    same on every start. The last ``train_holdout`` samples are left out so that accuracy
    can be measured on digits the model has never seen.
    """
    digits = load_digits()
    count = len(digits.images) - settings.train_holdout
    if count < 10 * 5:  # five calibration folds, each needing every class
        raise ValueError("train_holdout leaves too few samples to train on")
    block = np.ones((4, 4), dtype=np.float32)
    # upscaled 4x (to the 32x32 of the original bitmaps) so cropping works at sub-cell precision
    features = np.stack(
        [_features(np.kron(image / _SCALE, block)) for image in digits.images[:count]]
    )
    svm = SVC(C=settings.model_c, gamma=settings.model_gamma)
    # sigmoid calibration on held-out folds turns SVM margins into probabilities
    model = CalibratedClassifierCV(svm, ensemble=False)
    model.fit(features, digits.target[:count])
    log.info("digits: trained on %d samples", count)
    return model


def _decode_ink(data: object, max_pixels: int) -> np.ndarray:
    """Decodes a PNG/JPEG into a float array: ink 0..1 on a background of 0."""
    try:
        # Pillow decodes from a file object; BytesIO copies the request's buffer once for it
        image = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))  # type: ignore[arg-type]
    except Image.DecompressionBombError as exc:
        raise _Rejected(ERR_IMAGE_TOO_LARGE) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _Rejected(ERR_BAD_IMAGE) from exc
    # checked from the header, before the pixels are decoded
    if image.width * image.height > max_pixels:
        raise _Rejected(ERR_IMAGE_TOO_LARGE)
    try:
        gray = np.asarray(_on_white(image).convert("L"), dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt pixel data
        raise _Rejected(ERR_BAD_IMAGE) from exc
    return _ink(gray)


def _on_white(image: Image.Image) -> Image.Image:
    """Flattens transparency onto white paper, as a drawing app would show it."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, "white")
        return Image.alpha_composite(paper, rgba)
    return image


def _ink(gray: np.ndarray) -> np.ndarray:
    """Makes ink bright on black whatever the polarity, judged by the border (the paper)."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    # dark ink on light paper is the usual scan; the dataset is light ink on dark
    ink = background - gray if background > 0.5 else gray - background
    ink = np.clip(ink, 0.0, None)
    peak = float(ink.max())
    if peak < _MIN_CONTRAST:
        raise _Rejected(ERR_BLANK_IMAGE)
    return ink / peak


def _features(ink: np.ndarray) -> np.ndarray:
    """Crops to the ink, centres it in a square and averages it down to the dataset's 8x8."""
    mask = ink > _INK_THRESHOLD * float(ink.max())
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = crop
    # a float32 array becomes a mode "F" image; BOX averages whole areas, like the
    # dataset's pixel counts per block
    small = Image.fromarray(square).resize((_SIDE, _SIDE), Image.Resampling.BOX)
    cells = np.asarray(small, dtype=np.float32)
    return (cells * (_SCALE / float(cells.max()))).ravel()


def _result(probabilities: np.ndarray) -> ResponseData:
    digit = int(np.argmax(probabilities))
    answer = {
        "digit": digit,
        "confidence": round(float(probabilities[digit]), 4),
        "probabilities": [round(float(p), 4) for p in probabilities],
    }
    out = ResponseData()
    out.key = OUTPUT_KEY
    out.type = DATA_TEXT
    out.status = DATA_ONCE
    out.desc = {"encoding": "utf8", "format": "json"}
    out.setData(json.dumps(answer).encode())
    return out
