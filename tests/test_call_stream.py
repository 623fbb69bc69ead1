"""`athena call --stream`: a file streamed in frames to a real `athena serve` of the stream_echo
test ability, over WebSocket and over the public gRPC Session, results printed as they come."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ABILITIES, ATHENA, ROOT, Stack, serve, stop

STREAM_ECHO = ABILITIES / "stream_echo" / "wrapper.py"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("stream"), [STREAM_ECHO]) as running:
        yield running


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "frames.txt"
    path.write_bytes(b"abcdefghij")  # three frames of 4 bytes: abcd, efgh, ij
    return path


def targets(stack: Stack) -> dict[str, tuple[str, ...]]:
    return {
        "ws": (f"ws://127.0.0.1:{stack.http_port}/v1/private/stream_echo",),
        "http": (f"{stack.base}/v1/private/stream_echo",),  # switched to ws for --stream
        "grpc": (f"grpc://{stack.grpc}", "--ability", "stream_echo"),
    }


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATHENA, "call", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


@pytest.mark.parametrize("transport", ["ws", "http", "grpc"])
def test_stream_prints_each_frames_result_in_order(stack: Stack, text_file: Path,
                                                   transport: str) -> None:
    printed = run(*targets(stack)[transport], "--text", f"@{text_file}", "--stream",
                  "--frame-bytes", "4", "--interval-ms", "5")
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0].startswith("sid: ")
    assert lines[1:] == ["result: ABCD", "result: EFGH", "result: IJ"]


@pytest.mark.parametrize("transport", ["ws", "grpc"])
def test_stream_of_an_input_that_fits_one_frame_is_one_result(stack: Stack,
                                                             transport: str) -> None:
    printed = run(*targets(stack)[transport], "--text", "short", "--stream")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[1:] == ["result: SHORT"]


@pytest.mark.parametrize("transport", ["ws", "grpc"])
def test_stream_results_are_printed_before_the_session_ends(stack: Stack, text_file: Path,
                                                            transport: str) -> None:
    # a frame every 2 s: the first result is on stdout while the rest are still to be sent
    command = [ATHENA, "call", *targets(stack)[transport], "--text", f"@{text_file}",
               "--stream", "--frame-bytes", "4", "--interval-ms", "2000"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, cwd=ROOT) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("sid: ")
            assert process.stdout.readline() == "result: ABCD\n"
            assert process.poll() is None  # still streaming
            assert process.stdout.read().splitlines() == ["result: EFGH", "result: IJ"]
            assert process.wait(30) == 0
        finally:
            stop(process)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", ["ws", "grpc"])
def test_stream_error_prints_the_aiges_code_and_exits_1_after_earlier_results(
        stack: Stack, text_file: Path, transport: str) -> None:
    printed = run(*targets(stack)[transport], "--text", f"@{text_file}", "--stream",
                  "--frame-bytes", "4", "--interval-ms", "0", "--param", "fail_write=efgh")
    assert printed.returncode == 1
    assert printed.stdout.splitlines()[1:] == ["result: ABCD"]
    assert "error 10907: wrapperWrite raised KeyError" in printed.stderr


def test_stream_to_an_unknown_ability_fails_naming_it(stack: Stack) -> None:
    over_grpc = run(f"grpc://{stack.grpc}", "--ability", "nope", "--text", "x", "--stream")
    assert over_grpc.returncode == 1
    assert "error 10404" in over_grpc.stderr and "gRPC NOT_FOUND" in over_grpc.stderr
    over_ws = run(f"{stack.base}/v1/private/nope", "--text", "x", "--stream")
    assert over_ws.returncode == 1
    assert "HTTP 404" in over_ws.stderr


def test_stream_with_out_dir_saves_each_result_numbered(stack: Stack, text_file: Path,
                                                        tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    printed = run(*targets(stack)["ws"], "--text", f"@{text_file}", "--stream",
                  "--frame-bytes", "4", "--interval-ms", "0", "--accept", "result:utf8",
                  "--out-dir", str(out_dir))
    assert printed.returncode == 0, printed.stderr
    saved = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    assert saved == {"result.0.utf8": b"ABCD", "result.1.utf8": b"EFGH", "result.2.utf8": b"IJ"}


def test_stream_refuses_two_inputs_it_could_stream(tmp_path: Path) -> None:
    printed = run("grpc://127.0.0.1:1", "--audio", "a", "--audio", "b", "--stream")
    assert printed.returncode == 1
    assert "one input is streamed" in printed.stderr


def test_a_wav_file_streams_its_samples_not_its_header(tmp_path: Path) -> None:
    import wave

    from gateway.client import parse_input
    from gateway.stream_client import without_wav_header

    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(range(200)))
    item = without_wav_header(parse_input("audio", f"@{path}"))
    assert bytes(item.data) == bytes(range(200))
    assert item.attrs == {"encoding": "raw", "channels": "1", "sample_rate": "16000",
                          "bit_depth": "16"}
    raw = parse_input("audio", "not-a-wav")
    assert without_wav_header(raw) is raw
