"""Test speech for wrappers/asr: a sentence spoken by espeak-ng, as a 16 kHz 16-bit mono WAV.

Run ``python tests/wrappers/data/make_speech.py`` to rewrite the shipped files (needs the
Debian package ``espeak-ng``; the tests read the files and only regenerate them when it is
there). espeak-ng's Klatt voice ``en-us+klatt2`` is the one pocketsphinx's US English model
reads best of those tried (default, m1, m3, m7, f3, klatt..klatt3, en-gb).
"""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

__all__ = ["SENTENCES", "synthesize"]

HERE = Path(__file__).resolve().parent
RATE = 16_000
VOICE, WORDS_PER_MINUTE = "en-us+klatt2", 140
PAD_S = 0.3  # silence either side, as a microphone stream would have around speech
SENTENCES = {
    "hello.wav": "hello world this is a test",
    "coffee.wav": "i would like a cup of coffee",
}


def synthesize(text: str) -> bytes:
    """The WAV file's bytes: espeak-ng speaks at 22050 Hz, resampled here to 16 kHz."""
    spoken = subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(spoken)) as source:
        rate = source.getframerate()
        samples = np.frombuffer(source.readframes(source.getnframes()), "<i2")
    resampled = resample_poly(samples.astype(np.float64), RATE, rate)
    pad = np.zeros(int(PAD_S * RATE))
    pcm = np.clip(np.round(np.concatenate([pad, resampled, pad])), -32768, 32767)
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setnchannels(1)
        target.setsampwidth(2)
        target.setframerate(RATE)
        target.writeframes(pcm.astype("<i2").tobytes())
    return out.getvalue()


if __name__ == "__main__":
    for name, sentence in SENTENCES.items():
        (HERE / name).write_bytes(synthesize(sentence))
        print(f"{name}: {sentence!r}")
