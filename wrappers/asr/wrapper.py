"""ASR ability: streaming US English speech recognition with pocketsphinx, as AIGES sessions.

Send 16 kHz, 16-bit little-endian mono PCM in frames (20 ms = 640 bytes is typical) with
status 0 (first), 1 (continue) and 2 (last); read output ``result``, a JSON text
``{"text": "...", "final": false}`` each time the partial hypothesis changes (status 1) and
``{"text": "...", "final": true}`` once the last frame is in (status 2; a single frame with
status 3, the whole input at once, is both first and last). A read with nothing
new returns an empty response. The model is the one pocketsphinx's PyPI wheel ships
(acoustic model, CMU dictionary and a general 3-gram language model, under
``pocketsphinx.get_model_path()``): nothing is downloaded.

Each session decodes with a decoder of its own, so sessions run concurrently. A decoder takes
about 0.3 s to build (pocketsphinx cannot share one loaded model between decoders), so
finished sessions hand theirs back to a pool that ``wrapperInit`` fills with
``[wrapper] decoders`` (default 2) ready ones; a session opened while the pool is empty
builds one. Every session starts with its decoder's feature extraction rebuilt from the
config (``Decoder.reinit_feat``, about 0.1 ms: the front end and the live cepstral mean
normalization as a new decoder has them), so what a session recognizes never depends on which
sessions used its decoder before. Restoring the mean alone (``set_cmn`` of the initial value) is
not enough: the live CMN's running window keeps the weight of the audio it saw, so a reused
decoder recognized the same audio differently from a new one.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

from aiges_embed import DataListCls, Response, ResponseData, SessionCreateResponse
from pocketsphinx import Config, Decoder

__all__ = ["ERR_BAD_AUDIO", "ERR_BAD_CONFIG", "ERR_SESSION_ENDED", "ERR_UNKNOWN_SESSION", "Wrapper"]

log = logging.getLogger(__name__)

OUTPUT_KEY = "result"
DATA_TEXT = 0
DATA_CONTINUE, DATA_END, DATA_ONCE = 1, 2, 3

# This wrapper's own error codes (14001-14099).
ERR_UNKNOWN_SESSION = 14001
ERR_BAD_AUDIO = 14002
ERR_SESSION_ENDED = 14003
ERR_BAD_CONFIG = 14004

_MESSAGES = {
    ERR_UNKNOWN_SESSION: "no open asr session has this handle (it was destroyed or never opened)",
    ERR_BAD_AUDIO: "audio frame is not 16-bit PCM: send 16 kHz 16-bit mono samples, an even "
    "number of bytes per frame (640 bytes = 20 ms)",
    ERR_SESSION_ENDED: "the session already had its last frame (status 2): open a new session",
    ERR_BAD_CONFIG: "[wrapper] decoders and decoders_max must be whole numbers, 0 <= decoders "
    "<= decoders_max",
}


class _Session:
    """One utterance being decoded; its lock serialises a Write and a Read of the session."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder
        self.lock = threading.Lock()
        self.delivered = ""  # the text the last result carried
        self.final: str | None = None  # set once the last frame is in
        self.final_read = False

    def feed(self, audio: Any, last: bool) -> None:
        self.decoder.process_raw(audio)  # takes the request's read-only view, no copy
        if last:
            self.decoder.end_utt()
            self.final = _text(self.decoder)

    def take(self) -> tuple[str, bool] | None:
        """The result to deliver now, or None when nothing is new."""
        if self.final is not None:
            if self.final_read:
                return None
            self.final_read = True
            return self.final, True
        partial = _text(self.decoder)
        if partial == self.delivered:
            return None
        self.delivered = partial
        return partial, False


class Wrapper:
    """Recognizes the speech streamed into each session; answers JSON in output "result"."""

    serviceId = "asr"
    version = "v1"

    def __init__(self) -> None:
        self._config: Config | None = None
        self._pool: list[Decoder] = []
        self._pool_max = 8
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()  # guards _pool and _sessions
        self._handles = itertools.count(1)

    def wrapperInit(self, config: dict[str, str]) -> int:
        try:
            ready, self._pool_max = _pool_sizes(config)
        except ValueError as exc:
            log.error("asr: bad [wrapper] config: %s", exc)
            return ERR_BAD_CONFIG
        self._config = Config(logfn="/dev/null")  # the bundled en-us model; quiet C logging
        self._pool = [Decoder(self._config) for _ in range(ready)] or [Decoder(self._config)]
        log.info("asr ready: %d decoders pooled (at most %d)", len(self._pool), self._pool_max)
        return 0

    def wrapperFini(self) -> int:
        with self._lock:
            self._pool.clear()
            self._sessions.clear()
        return 0

    def wrapperVersion(self) -> str:
        return "asr 1.0.0 (pocketsphinx en-us)"

    def wrapperError(self, code: int) -> str:
        return _MESSAGES.get(code, f"asr: unknown error code {code}")

    def wrapperCreate(
        self, params: dict[str, str], sid: str, persId: int = 0, usrTag: str = ""
    ) -> SessionCreateResponse:
        with self._lock:
            decoder = self._pool.pop() if self._pool else None
        if decoder is None:  # more sessions open than pooled decoders: build one (~0.3 s)
            decoder = Decoder(self._config)
        decoder.reinit_feat()  # the front end as new: nothing carries over from earlier use
        decoder.start_utt()
        handle = f"asr-{next(self._handles)}"
        with self._lock:
            self._sessions[handle] = _Session(decoder)
        created = SessionCreateResponse()
        created.handle = handle
        created.error_code = 0
        return created

    def wrapperWrite(self, handle: str, reqData: DataListCls) -> int:
        session = self._sessions.get(handle)
        if session is None:
            return ERR_UNKNOWN_SESSION
        with session.lock:
            if session.final is not None:
                return ERR_SESSION_ENDED
            for node in reqData.list:
                if len(node.data) % 2:
                    return ERR_BAD_AUDIO
                # 3 (the whole input at once) ends the utterance as 2 (the last frame) does
                session.feed(node.data, last=node.status in (DATA_END, DATA_ONCE))
        return 0

    def wrapperRead(self, handle: str) -> Response:
        session = self._sessions.get(handle)
        if session is None:
            return Response().response_err(ERR_UNKNOWN_SESSION)
        with session.lock:
            result = session.take()
        if result is None:
            return Response()
        text, final = result
        out = ResponseData(
            key=OUTPUT_KEY, type=DATA_TEXT, status=DATA_END if final else DATA_CONTINUE
        )
        out.setData(json.dumps({"text": text, "final": final}).encode())  # setData sets len too
        return Response(list=[out])

    def wrapperDestroy(self, handle: str) -> int:
        with self._lock:
            session = self._sessions.pop(handle, None)
        if session is None:  # already destroyed: a second call changes nothing
            return 0
        with session.lock:
            if session.final is None:  # ended early: close the utterance before reuse
                session.decoder.end_utt()
        with self._lock:
            if len(self._pool) < self._pool_max:
                self._pool.append(session.decoder)
        return 0


def _text(decoder: Decoder) -> str:
    hypothesis = decoder.hyp()
    return hypothesis.hypstr if hypothesis is not None else ""


def _pool_sizes(config: Mapping[str, str]) -> tuple[int, int]:
    """[wrapper] decoders (built at start) and decoders_max (kept pooled for reuse)."""
    ready = int(config.get("decoders", "2"))
    most = int(config.get("decoders_max", "8"))
    if not 0 <= ready <= most:
        raise ValueError(f"decoders={ready}, decoders_max={most}")
    return ready, most
