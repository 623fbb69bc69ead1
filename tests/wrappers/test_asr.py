"""wrappers/asr: pocketsphinx recognizing espeak-ng speech streamed in 20 ms frames.

Driven straight through the wrapper's session methods (the sessions transport comes later),
each frame built as the loader builds it: a loader.v1 CallRequest parsed by aiges_embed, so
the audio reaches the wrapper as a read-only view. The speech is shipped in tests/wrappers/data
(made by make_speech.py); with espeak-ng installed it is also regenerated and recognized.
The expected sentences, the word error bound and its measured figures are in speech.py.
"""

from __future__ import annotations

import json
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiges_embed
import pytest

from gateway.stream_client import FRAME_BYTES as CLI_FRAME_BYTES
from loader.plugin import Plugin
from loader.v1 import loader_pb2 as pb
from tests.wrappers.data.make_speech import synthesize
from tests.wrappers.speech import DATA, FRAME, MAX_WRONG_WORDS, SENTENCES, pcm, word_errors

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "wrappers" / "asr" / "wrapper.py"
DATA_AUDIO = 1
BEGIN, CONTINUE, END = 0, 1, 2


@pytest.fixture(scope="module")
def plugin() -> Iterator[Plugin]:
    loaded = Plugin.load(str(WRAPPER))
    loaded.init({})
    yield loaded
    loaded.fini()


@pytest.fixture(scope="module")
def asr(plugin: Plugin) -> Any:
    return plugin.target


def _frames(audio: bytes, size: int = FRAME) -> Iterator[aiges_embed.DataListCls]:
    """Each 20 ms frame as the loader hands it over: parsed from a serialized CallRequest."""
    starts = range(0, len(audio), size)
    for n, start in enumerate(starts):
        status = BEGIN if n == 0 else END if n == len(starts) - 1 else CONTINUE
        wire = pb.CallRequest(
            sid="asr-test",
            inputs=[
                pb.Data(key="audio", type=DATA_AUDIO, status=status,  # type: ignore[arg-type]
                        data=audio[start:start + size], desc={"encoding": "raw", "rate": "16000"})
            ],
        ).SerializeToString()
        yield aiges_embed.parse_call(wire).data


def _results(asr: Any, handle: str) -> list[dict[str, Any]]:
    response = asr.wrapperRead(handle)
    assert response.error_code == 0
    out = []
    for item in response.list:
        assert (item.key, item.type) == ("result", 0)
        result = json.loads(bytes(item.data))
        assert item.status == (END if result["final"] else CONTINUE)
        out.append(result)
    return out


def _open(asr: Any, sid: str) -> str:
    created = asr.wrapperCreate({"sid": sid}, sid, 0, "")
    assert created.error_code == 0 and created.handle
    handle: str = created.handle
    return handle


def _recognize(asr: Any, audio: bytes, size: int = FRAME) -> list[dict[str, Any]]:
    """Streams one utterance, reading after every frame, and destroys the session."""
    handle = _open(asr, "one")
    results = []
    try:
        for frame in _frames(audio, size):
            assert asr.wrapperWrite(handle, frame) == 0
            results += _results(asr, handle)
    finally:
        assert asr.wrapperDestroy(handle) == 0
    return results


@pytest.mark.parametrize("name", sorted(SENTENCES))
def test_streamed_speech_is_recognized_with_at_most_one_wrong_word(asr: Any, name: str) -> None:
    results = _recognize(asr, pcm(name))
    assert results[-1]["final"] is True
    text = results[-1]["text"]
    assert word_errors(SENTENCES[name], text) <= MAX_WRONG_WORDS, text


def test_partial_results_arrive_as_they_change_before_the_one_final(asr: Any) -> None:
    results = _recognize(asr, pcm("hello.wav"))
    partials = [r["text"] for r in results if not r["final"]]
    assert [r["final"] for r in results].count(True) == 1 and results[-1]["final"]
    assert len(partials) >= 3
    assert all(a != b for a, b in zip(partials, partials[1:], strict=False))  # only changes


def test_reading_with_nothing_new_returns_an_empty_response(asr: Any) -> None:
    handle = _open(asr, "idle")
    try:
        assert list(asr.wrapperRead(handle).list) == []
        frames = list(_frames(pcm("hello.wav")))
        for frame in frames:
            assert asr.wrapperWrite(handle, frame) == 0
        assert _results(asr, handle)[-1]["final"] is True
        assert list(asr.wrapperRead(handle).list) == []
        assert asr.wrapperWrite(handle, frames[-1]) == 14003  # after the last frame
    finally:
        assert asr.wrapperDestroy(handle) == 0


def test_two_interleaved_sessions_each_recognize_their_own_audio(asr: Any) -> None:
    names = sorted(SENTENCES)
    handles = [_open(asr, name) for name in names]
    streams = [list(_frames(pcm(name))) for name in names]
    finals: dict[str, str] = {}
    try:
        for step in range(max(map(len, streams))):
            for name, handle, frames in zip(names, handles, streams, strict=True):
                if step < len(frames):
                    assert asr.wrapperWrite(handle, frames[step]) == 0
                    finals.update((name, r["text"]) for r in _results(asr, handle) if r["final"])
    finally:
        for handle in handles:
            assert asr.wrapperDestroy(handle) == 0
    assert sorted(finals) == names
    for name in names:
        assert word_errors(SENTENCES[name], finals[name]) <= MAX_WRONG_WORDS, finals


def test_destroy_twice_is_harmless_and_the_handle_is_then_unknown(asr: Any) -> None:
    handle = _open(asr, "twice")
    assert asr.wrapperDestroy(handle) == 0
    assert asr.wrapperDestroy(handle) == 0
    frame = next(_frames(pcm("hello.wav")))
    assert asr.wrapperWrite(handle, frame) == 14001
    assert asr.wrapperRead(handle).error_code == 14001
    assert "no open asr session" in asr.wrapperError(14001)


def test_a_frame_with_an_odd_byte_count_is_refused(asr: Any) -> None:
    handle = _open(asr, "odd")
    try:
        assert asr.wrapperWrite(handle, next(_frames(b"\0" * 641, size=641))) == 14002
    finally:
        assert asr.wrapperDestroy(handle) == 0


def test_the_plugin_advertises_a_stream_ability_named_asr(plugin: Plugin) -> None:
    assert (plugin.service_id, plugin.operations()) == ("asr", ["stream"])


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_speech_regenerated_with_espeak_ng_is_recognized_too(asr: Any) -> None:
    for name, sentence in SENTENCES.items():
        with wave.open(str(DATA / name)) as shipped:
            shipped_frames = shipped.getnframes()
        fresh = synthesize(sentence)
        assert abs(len(fresh) - len(pcm(name)) - 44) < 0.1 * shipped_frames * 2
        samples = fresh[44:]  # the canonical 44-byte header wave writes for PCM
        text = _recognize(asr, samples)[-1]["text"]
        assert word_errors(sentence, text) <= MAX_WRONG_WORDS, text


@pytest.fixture
def fresh_asr() -> Iterator[Any]:
    """A wrapper of its own with one pooled decoder, so every session reuses that decoder."""
    loaded = Plugin.load(str(WRAPPER))
    loaded.init({"decoders": "1", "decoders_max": "1"})
    yield loaded.target
    loaded.fini()


@pytest.mark.parametrize("as_sent", ["whole_file", "samples"])
def test_the_nth_session_recognizes_what_the_first_did_with_a_reused_decoder(
        fresh_asr: Any, as_sent: str) -> None:
    # as `athena call --audio @hello.wav --stream` sends it: 1280-byte frames of the whole
    # file, its 44-byte header included. Before reinit_feat a reused decoder kept the live CMN
    # of its earlier sessions: "hello world this is a dead" first, then "to know where all
    # this is a dead" for every later session.
    def audio(name: str) -> bytes:
        return (DATA / name).read_bytes() if as_sent == "whole_file" else pcm(name)

    def final(name: str) -> str:
        text: str = _recognize(fresh_asr, audio(name), CLI_FRAME_BYTES)[-1]["text"]
        return text

    first = final("hello.wav")
    later = [final("hello.wav"), final("coffee.wav"), final("hello.wav"), final("hello.wav")]
    assert later[:1] + later[2:] == [first] * 3
    assert later[1] == final("coffee.wav")
    assert len(fresh_asr._pool) == 1  # one decoder served every session
