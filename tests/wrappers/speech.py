"""The shipped test speech for wrappers/asr and how a recognition is scored: shared by the
wrapper's own tests (tests/wrappers/test_asr.py) and the end-to-end ones (tests/test_asr_e2e.py).

Measured with pocketsphinx 5.1.1 on the shipped files' PCM: "hello world this is a test" is
recognized exactly (WER 0/6) and "i would like a cup of coffee" as "i was like a cup of
coffee" (WER 1/7). The bound asserted is at most one wrong word per sentence.
"""

from __future__ import annotations

import wave
from pathlib import Path

from tests.wrappers.data.make_speech import SENTENCES

__all__ = ["DATA", "FRAME", "MAX_WRONG_WORDS", "SENTENCES", "pcm", "word_errors"]

DATA = Path(__file__).resolve().parent / "data"
FRAME = 640  # 20 ms of 16 kHz 16-bit mono
MAX_WRONG_WORDS = 1  # per sentence: substitutions, insertions and deletions together


def pcm(name: str) -> bytes:
    """The samples of a shipped WAV (its header left out), checked to be 16 kHz 16-bit mono."""
    with wave.open(str(DATA / name)) as speech:
        shape = speech.getframerate(), speech.getsampwidth(), speech.getnchannels()
        assert shape == (16000, 2, 1)
        return speech.readframes(speech.getnframes())


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level edit distance: substitutions, insertions and deletions."""
    ref, hyp = reference.split(), hypothesis.split()
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, guess in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != guess))
    return row[-1]
