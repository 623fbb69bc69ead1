"""wrappers/music: signed calls to a real local HTTP server speaking the identify protocol."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
from aiohttp import web

from .abilities import DATA_ONCE, load_ability, make_request

DATA_TEXT, DATA_AUDIO = 0, 1
KEY, SECRET = "test-key", "test-secret"


@pytest.fixture(scope="module")
def music_module() -> ModuleType:
    return load_ability("music")


@pytest.fixture(scope="module")
def fake_api() -> ModuleType:
    return load_ability("music", "fake_api.py")


@pytest.fixture(scope="module")
def api_url(fake_api: ModuleType) -> Iterator[str]:
    """The fake API served for real on 127.0.0.1, from its own event loop in a thread."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake_api.make_app(KEY, SECRET))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, name="fake-music-api", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{site.port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def _wrapper(music_module: ModuleType, api_url: str, **overrides: str) -> Any:
    config = {"api_url": api_url, "access_key": KEY, "access_secret": SECRET, "timeout_s": "5"}
    wrapper = music_module.Wrapper()
    assert wrapper.wrapperInit({**config, **overrides}) == 0
    return wrapper


def _identify(wrapper: Any, audio: bytes) -> Any:
    request = make_request(("audio", audio, DATA_AUDIO, {"encoding": "wav"}))
    return wrapper.wrapperOnceExec({"sid": "s1"}, request, "", 0)


def _matches(response: Any) -> list[dict[str, Any]]:
    assert response.error_code == 0
    [result] = response.list
    assert (result.key, result.type, result.status) == ("result", DATA_TEXT, DATA_ONCE)
    assert dict(result.desc) == {"encoding": "utf8", "format": "json"}
    matches: list[dict[str, Any]] = json.loads(bytes(result.data))["matches"]
    return matches


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on: bound, read back and released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_class_attributes_name_the_route(music_module: ModuleType) -> None:
    assert (music_module.Wrapper.serviceId, music_module.Wrapper.version) == ("music", "v1")


def test_demo_sample_is_recognised_with_its_title_artist_and_album(
    music_module: ModuleType, fake_api: ModuleType, api_url: str
) -> None:
    response = _identify(_wrapper(music_module, api_url), fake_api.demo_sample())

    assert _matches(response) == [
        {
            "title": "A440 Calibration Tone",
            "artists": ["Athena Mesh"],
            "album": "Test Signals",
            "score": 100,
        }
    ]


def test_demo_sample_is_the_same_bytes_on_every_call(fake_api: ModuleType) -> None:
    assert fake_api.demo_sample() == fake_api.demo_sample()
    assert fake_api.demo_sample().startswith(b"RIFF")


def test_unknown_sample_succeeds_with_no_matches(music_module: ModuleType, api_url: str) -> None:
    response = _identify(_wrapper(music_module, api_url), b"RIFF" + bytes(2000))

    assert _matches(response) == []


def test_wrong_secret_returns_signature_error_code(music_module: ModuleType, api_url: str) -> None:
    wrapper = _wrapper(music_module, api_url, access_secret="not-the-secret")

    response = _identify(wrapper, b"RIFF" + bytes(100))

    assert response.error_code == 12003
    assert "access_secret" in wrapper.wrapperError(12003)


def test_unknown_access_key_returns_access_key_error_code(
    music_module: ModuleType, api_url: str
) -> None:
    wrapper = _wrapper(music_module, api_url, access_key="someone-else")

    response = _identify(wrapper, b"RIFF" + bytes(100))

    assert response.error_code == 12002
    assert "access_key" in wrapper.wrapperError(12002)


def test_empty_sample_returns_fingerprint_error_code(
    music_module: ModuleType, api_url: str
) -> None:
    response = _identify(_wrapper(music_module, api_url), b"")

    assert response.error_code == 12005


def test_request_without_audio_input_returns_code_12001(
    music_module: ModuleType, api_url: str
) -> None:
    wrapper = _wrapper(music_module, api_url)

    response = wrapper.wrapperOnceExec({}, make_request(("voice", b"x", DATA_AUDIO, {})), "", 0)

    assert response.error_code == 12001
    assert "'audio'" in wrapper.wrapperError(12001)


def test_unreachable_api_returns_network_code_naming_the_url(
    music_module: ModuleType, unused_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    wrapper = _wrapper(music_module, url)

    response = _identify(wrapper, b"RIFF" + bytes(100))

    assert response.error_code == 12007
    assert f"{url}/v1/identify" in wrapper.wrapperError(12007)


def test_api_that_never_answers_returns_timeout_code_naming_the_url(
    music_module: ModuleType,
) -> None:
    with socket.socket() as silent:  # accepts connections (via the backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        wrapper = _wrapper(music_module, url, timeout_s="0.2")

        response = _identify(wrapper, b"RIFF" + bytes(100))

    assert response.error_code == 12008
    assert url in wrapper.wrapperError(12008)


def test_server_that_is_not_the_api_returns_bad_answer_code(
    music_module: ModuleType, fake_api: ModuleType, api_url: str
) -> None:
    wrapper = _wrapper(music_module, api_url + "/elsewhere")

    response = _identify(wrapper, fake_api.demo_sample())

    assert response.error_code == 12009
    assert api_url in wrapper.wrapperError(12009)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"api_url": "http://127.0.0.1:1", "access_key": KEY}, "access_secret"),
        ({"api_url": "127.0.0.1:1", "access_key": KEY, "access_secret": SECRET}, "http://"),
        (
            {"api_url": "http://h", "access_key": KEY, "access_secret": SECRET, "timeout_s": "x"},
            "timeout_s",
        ),
    ],
)
def test_invalid_config_fails_init_with_code_12010_naming_the_setting(
    music_module: ModuleType, config: dict[str, str], named: str
) -> None:
    wrapper = music_module.Wrapper()

    assert wrapper.wrapperInit(config) == 12010
    assert named in wrapper.wrapperError(12010)


@pytest.mark.parametrize(("age_s", "code"), [(0, 0), (290, 0), (310, 3014), (-310, 3014)])
def test_fake_api_accepts_signed_timestamps_only_within_300_s(
    fake_api: ModuleType, api_url: str, age_s: int, code: int
) -> None:
    timestamp = str(int(time.time()) - age_s)
    text = f"POST\n/v1/identify\n{KEY}\naudio\n1\n{timestamp}"
    signature = base64.b64encode(hmac.new(SECRET.encode(), text.encode(), hashlib.sha1).digest())
    sample = fake_api.demo_sample()
    fields = {
        "access_key": KEY,
        "data_type": "audio",
        "signature_version": "1",
        "signature": signature.decode(),
        "sample_bytes": str(len(sample)),
        "timestamp": timestamp,
    }

    answer = httpx.post(f"{api_url}/v1/identify", data=fields, files={"sample": sample}).json()

    assert answer["status"]["code"] == code
