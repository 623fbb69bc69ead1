"""The `aiges` compatibility package (loader/compat): the SDK's import forms, its classes'
behaviour, wrappers in each SDK style loaded by the real plugin, logging that leaves the root
logger alone, and a real `aiges` on sys.path winning over ours."""
from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiges_embed
import pytest

from loader.compat import COMPAT_DIR, AigesFallbackFinder, install_aiges_fallback
from loader.plugin import Plugin
from loader.v1 import loader_pb2
from tests.support import ABILITIES

SDK_STYLE = ABILITIES / "sdk_style"
OURS = Path(COMPAT_DIR) / "aiges"


def _is_aiges(name: str) -> bool:
    return name == "aiges" or name.startswith("aiges.")


@pytest.fixture(autouse=True)
def _isolated_imports() -> Iterator[None]:
    """Each test imports `aiges` afresh; sys.path, sys.meta_path and sys.modules come back."""
    saved_path, saved_meta = list(sys.path), list(sys.meta_path)
    stashed = {name: sys.modules.pop(name) for name in list(sys.modules) if _is_aiges(name)}
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if _is_aiges(name) or name.startswith("athena_wrapper_"):
            del sys.modules[name]
    sys.modules.update(stashed)
    sys.path[:] = saved_path
    sys.meta_path[:] = saved_meta


def call(text: bytes = b"", image: bytes | None = None, **inputs: bytes) -> Any:
    """A parsed request as the worker hands it over: Payload views into real wire bytes."""
    data = [loader_pb2.Data(key="text", type=0, status=3, data=text)] if text else []
    if image is not None:
        data.append(loader_pb2.Data(key="img", type=2, status=3, data=image))
    data += [loader_pb2.Data(key=k, type=0, status=3, data=v) for k, v in inputs.items()]
    wire = loader_pb2.CallRequest(inputs=data).SerializeToString()
    return aiges_embed.parse_call(wire).data


def load(folder: str) -> Plugin:
    plugin = Plugin.load(str(ABILITIES / folder / "wrapper.py"))
    plugin.init({})
    return plugin


def once(plugin: Plugin, params: dict[str, str], data: Any) -> Any:
    assert plugin.once is not None
    return plugin.once(params, data, "", 0)


def text_of(response: Any) -> str:
    [out] = response.list
    assert (out.key, out.type, out.status) == ("result", aiges_embed.DataText, aiges_embed.Once)
    return out.data if isinstance(out.data, str) else bytes(out.data).decode("utf-8")


@pytest.mark.parametrize("statement", [
    "from aiges.sdk import WrapperBase, StringParamField, NumberParamField, IntegerParamField, "
    "BooleanParamField, StringBodyField, JsonBodyField, ImageBodyField, AudioBodyField, "
    "StringRespField, ImageRespField, AudioRespField, Field, ParamField, PayloadField",
    "from aiges.sdk import *",
    "from aiges.sdk import SessionManager",
    "from aiges.dto import Response, ResponseData, DataListCls, DataListNode, "
    "SessionCreateResponse, callback",
    "from aiges.utils.log import log, getLogger, getFileLogger",
    "from aiges.utils import log",
    "from aiges.core.types import *",
    "from aiges.types import *",
    "from aiges.stream import StreamHandleThread, SessionManager, WorkerThread",
    "from aiges.errors import *",
    "from aiges import EXIT_SIG",
    "import aiges.core.types as ai_types",
])
def test_every_sdk_import_form_works_once_the_fallback_is_installed(statement: str) -> None:
    assert install_aiges_fallback() is True
    exec(statement, {})
    assert Path(sys.modules["aiges"].__file__ or "").parent == OURS


def test_the_sdk_names_are_the_native_data_classes_the_worker_serialises() -> None:
    install_aiges_fallback()
    sdk_names: dict[str, Any] = {}
    exec("from aiges.sdk import *", sdk_names)
    dto = importlib.import_module("aiges.dto")
    for name in ("Response", "ResponseData", "DataListCls", "DataListNode",
                 "SessionCreateResponse", "callback"):
        assert getattr(dto, name) is getattr(aiges_embed, name)
        assert sdk_names[name] is getattr(aiges_embed, name)


def test_the_type_constants_are_the_native_values_under_both_module_names() -> None:
    install_aiges_fallback()
    core, old = (importlib.import_module(m) for m in ("aiges.core.types", "aiges.types"))
    for module in (core, old):
        assert (module.STRING, module.AUDIO, module.IMAGE, module.VIDEO) == (0, 1, 2, 3)
        for name in ("DataText", "DataAudio", "DataImage", "DataVideo", "DataPer", "DataBegin",
                     "DataContinue", "DataEnd", "DataOnce", "Once"):
            assert getattr(module, name) == getattr(aiges_embed, name)
        assert module.Types == {0: "text", 1: "audio", 2: "image", 3: "video"}
        assert module.Status[module.Once] == "once"
    assert sorted(old.__all__) == sorted(core.__all__)


def test_installing_twice_appends_one_finder_at_the_end_of_meta_path() -> None:
    assert install_aiges_fallback() is True
    assert install_aiges_fallback() is True
    finders = [f for f in sys.meta_path if isinstance(f, AigesFallbackFinder)]
    assert len(finders) == 1 and sys.meta_path[-1] is finders[0]


def test_the_finder_answers_for_aiges_and_its_submodules_only() -> None:
    finder = AigesFallbackFinder()
    assert finder.find_spec("json") is None
    assert finder.find_spec("aigesx") is None
    assert finder.find_spec("aiges.sdk") is None  # no `aiges` package of ours loaded yet
    spec = finder.find_spec("aiges")
    assert spec is not None and Path(spec.origin or "").parent == OURS


def test_a_real_aiges_on_sys_path_wins_and_is_never_mixed_with_ours(tmp_path: Path) -> None:
    real = tmp_path / "aiges"
    real.mkdir()
    (real / "__init__.py").write_text("REAL = True\n")
    (real / "sdk.py").write_text("WrapperBase = 'the real one'\n")
    sys.path.insert(0, str(tmp_path))
    assert install_aiges_fallback() is False
    aiges = importlib.import_module("aiges")
    assert Path(aiges.__file__ or "").parent == real and aiges.REAL is True
    assert importlib.import_module("aiges.sdk").WrapperBase == "the real one"
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("aiges.dto")  # the real SDK lacks it: ours must not fill in


@pytest.mark.parametrize(("folder", "params", "data", "expected"), [
    ("sdk_style", {"mode": "upper", "repeat": "2", "exclaim": "true"},
     lambda: call(b"hi", image=(SDK_STYLE / "test.png").read_bytes()),
     {"text": "HI HI!", "image_bytes": 74, "image_is_png": True}),
    ("sdk_style", {"mode": "lower"}, lambda: call(b"MiXeD"),
     {"text": "mixed", "image_bytes": 0, "image_is_png": False}),
    ("old_types_import", {"sep": "."}, lambda: call(b"abc"), "c.b.a"),
    ("old_types_import", {"reverse": "false", "sep": ""}, lambda: call(b"abc"), "abc"),
    ("str_valued_fields", {"greeting": "hi"}, lambda: call(name=b"Ana"), "hi Ana!"),
    ("str_valued_fields", {}, lambda: call(), "hello wörld!"),
])
def test_a_wrapper_in_each_sdk_style_loads_and_answers_as_it_intends(
        folder: str, params: dict[str, str], data: Any, expected: Any) -> None:
    install_aiges_fallback()
    plugin = load(folder)
    assert plugin.service_id == folder and plugin.version == "v1"
    out = text_of(once(plugin, params, data()))
    assert (json.loads(out) if isinstance(expected, dict) else out) == expected


def test_a_wrapper_error_code_is_described_by_its_wrapper_error() -> None:
    install_aiges_fallback()
    plugin = load("sdk_style")
    response = once(plugin, {}, call(image=b"\x89PNG"))
    assert response.error_code == 100
    assert plugin.error_text(100) == "the text input is missing"


def test_field_paths_are_read_against_the_working_directory_at_import(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SDK_STYLE)
    install_aiges_fallback()
    plugin = load("sdk_style")
    image_field = type(plugin.target).requestCls.input2
    assert image_field.path == "test.png"
    assert image_field.image == (SDK_STYLE / "test.png").read_bytes()


def test_a_missing_field_file_is_a_warning_and_the_wrapper_still_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    install_aiges_fallback()
    with caplog.at_level(logging.WARNING):
        plugin = load("sdk_style")
    [warning] = [r for r in caplog.records if r.name == "aiges"]
    assert "'test.png' not found" in warning.getMessage()
    assert warning.levelno == logging.WARNING
    assert type(plugin.target).requestCls.input2.image == b""


def test_str_field_values_are_kept_as_utf8_bytes_and_other_values_refused() -> None:
    install_aiges_fallback()
    from aiges.sdk import JsonBodyField, StringBodyField

    assert StringBodyField("switch", value="cc").value == b"cc"
    assert StringBodyField("name", value="wörld").test_value == "wörld".encode()
    assert StringBodyField("raw", value=bytearray(b"\x00\x01")).value == b"\x00\x01"
    assert StringBodyField("b64", value="ab", need_base64=True).test_value == b"YWI="
    assert JsonBodyField("cfg", value={"a": 1}).test_value == b'{"a": 1}'
    assert JsonBodyField("cfg", value='{"a": 1}').value == '{"a": 1}'
    with pytest.raises(TypeError, match=r"StringBodyField\('n'\): value must be bytes or str"):
        StringBodyField("n", value=3)  # type: ignore[arg-type]


def test_boolean_params_take_both_the_old_and_the_new_positional_layout() -> None:
    install_aiges_fallback()
    from aiges.sdk import BooleanParamField

    old = BooleanParamField("flag", True, True)  # SDK < 0.8: (key, default, required)
    new = BooleanParamField("flag", "a title", True, False)  # since: (key, title, default, ...)
    assert (old.title, old.default, old.required) == ("", True, True)
    assert (new.title, new.default, new.required) == ("a title", True, False)


def test_fields_have_the_sdk_attribute_names() -> None:
    install_aiges_fallback()
    from aiges.sdk import AudioBodyField, ImageBodyField, NumberParamField, StringParamField

    s = StringParamField("p", minLength=1, maxLength=9, enums=["a"], required=True, value="a",
                         description="d", title="t")
    assert (s.key, s.data_type, s.min_length, s.max_length, s.enums, s.required, s.value,
            s.description, s.title) == ("p", "string", 1, 9, ["a"], True, "a", "d", "t")
    n = NumberParamField("n", minimum=1, maximum=5, value=2)
    assert (n.data_type, n.minimum, n.maximum, n.value, n.required) == ("number", 1, 5, 2, False)
    image = ImageBodyField("img", need_base64=True, encoding="png", status=2)
    assert (image.data_type, image.encoding, image.status, image.need_base64, image.path,
            image.required) == (2, "png", 2, True, "", None)  # unset: the worker's SDK rule
    audio = AudioBodyField("voice", required=False)
    assert (audio.data_type, audio.encoding, audio.format, audio.compress, audio.required) == (
        1, "raw", "plain", "raw", False)
    assert str(audio) == "<AudioBodyField:voice>"


def test_the_metaclass_gathers_declared_fields_into_mappings() -> None:
    install_aiges_fallback()
    wrapper_class = type(load("sdk_style").target)
    mappings = wrapper_class.__mappings__
    assert [f.key for f in mappings["params"]] == ["mode", "scale", "repeat", "exclaim"]
    assert [f.key for f in mappings["inputs"]] == ["text", "img", "options", "voice"]
    assert [f.key for f in mappings["accepts"]] == ["result"]

    class Inherited(wrapper_class):  # type: ignore[misc, valid-type]
        pass

    assert Inherited.__mappings__["inputs"] == mappings["inputs"]


def test_response_fields_in_response_cls_are_accepts_with_their_data_types() -> None:
    install_aiges_fallback()
    from aiges.sdk import (
        AudioRespField,
        ImageRespField,
        StringBodyField,
        StringRespField,
        WrapperBase,
    )

    class Request:
        input1 = StringBodyField("text")

    class Answer:
        text = StringRespField("text_out")
        picture = ImageRespField("picture", encoding="png")
        voice = AudioRespField("voice")
        accept_note = "not a field, skipped"

    class Wrapper(WrapperBase):
        requestCls = Request  # the class itself, as some wrappers write it
        responseCls = Answer()

    assert [(f.key, f.data_type) for f in Wrapper.__mappings__["accepts"]] == [
        ("text_out", 0), ("picture", 2), ("voice", 1)]
    assert [f.key for f in Wrapper.__mappings__["inputs"]] == ["text"]


def test_schema_describes_the_route_params_inputs_and_accepts() -> None:
    install_aiges_fallback()
    schema = json.loads(load("sdk_style").target.schema())
    assert (schema["serviceId"], schema["version"], schema["route"]) == (
        "sdk_style", "v1", "/v1/private/sdk_style")
    assert schema["parameters"]["mode"] == {
        "type": "string", "required": False, "enum": ["upper", "lower"], "default": "upper"}
    assert schema["parameters"]["repeat"] == {
        "type": "integer", "required": False, "minimum": 1, "maximum": 3, "default": 1}
    assert schema["parameters"]["exclaim"] == {
        "type": "boolean", "required": False, "default": False, "title": "add a !"}
    assert schema["required_parameters"] == []
    assert schema["inputs"]["img"] == {
        "dataType": "image", "required": None, "status": 3, "encoding": "jpg"}
    assert schema["inputs"]["voice"] == {
        "dataType": "audio", "required": None, "status": 3, "encoding": "raw", "format": "plain",
        "compress": "raw"}
    assert schema["accepts"] == {"result": {
        "dataType": "text", "required": None, "status": 3, "encoding": "utf8", "format": "plain",
        "compress": "raw"}}


def test_an_input_declared_not_required_says_so_in_the_schema() -> None:
    install_aiges_fallback()
    from aiges.sdk import AudioBodyField, StringBodyField, WrapperBase

    class Request:
        input1 = StringBodyField("text", b"hi", required=True)
        input2 = AudioBodyField("voice", required=False)  # ours: the SDK has no such keyword

    class Wrapper(WrapperBase):
        requestCls = Request()

    inputs = json.loads(Wrapper().schema())["inputs"]
    assert (inputs["text"]["required"], inputs["voice"]["required"]) == (True, False)


def test_a_wrapper_that_skips_the_base_init_still_describes_itself() -> None:
    install_aiges_fallback()
    from aiges.sdk import StringBodyField, WrapperBase

    class Request:
        input1 = StringBodyField("text", b"hi")

    class Wrapper(WrapperBase):
        serviceId = "lazy"
        requestCls = Request()

        def __init__(self) -> None:  # as some public wrappers do, without super().__init__()
            self.model = None

    schema = json.loads(Wrapper().schema())
    assert (schema["route"], list(schema["inputs"])) == ("/v1/private/lazy", ["text"])


def test_without_schema_defaults_kept_no_param_carries_a_default() -> None:
    install_aiges_fallback()
    wrapper_class = type(load("sdk_style").target)
    schema = json.loads(wrapper_class(keep_schema_default_value=False).schema())
    assert all("default" not in p for p in schema["parameters"].values())


def test_wrapper_base_defaults_are_the_sdks() -> None:
    install_aiges_fallback()
    from aiges.sdk import WrapperBase

    class Bare(WrapperBase):
        pass

    bare = Bare(legacy=False, is_aipaas=False, keep_schema_default_value=False)
    assert (bare.legacy, bare.is_aipaas, bare.keep_schema_default_value) == (False, False, False)
    assert (bare.wrapperLoadRes(aiges_embed.DataListCls(), 1), bare.wrapperUnloadRes(1)) == (0, 0)
    assert (bare.wrapperWrite("h", None), bare.wrapperRead("h"), bare.wrapperDestroy("h")) == (
        0, [], 0)
    assert bare.wrapperCreate({}, "sid") is None
    assert (bare.wrapperError(100), bare.wrapperError(1)) == ("This is a  error return", "")
    for unimplemented in (lambda: bare.wrapperInit({}), bare.wrapperFini,
                          lambda: bare.wrapperOnceExec({}, aiges_embed.DataListCls())):
        with pytest.raises(NotImplementedError, match="implement wrapper"):
            unimplemented()
    with pytest.raises(NotImplementedError, match="athena serve"):
        bare.run()
    assert json.loads(bare.schema())["inputs"] == {}


def test_check_resp_accepts_a_good_once_answer_and_names_what_is_wrong(
        caplog: pytest.LogCaptureFixture) -> None:
    install_aiges_fallback()
    wrapper = load("sdk_style").target

    def answer(*keys: str, status: int = aiges_embed.Once) -> Any:
        outputs = []
        for key in keys:
            out = aiges_embed.ResponseData(key, 0, status, aiges_embed.DataText)
            out.setData(b"{}")
            outputs.append(out)
        return aiges_embed.Response(outputs)

    assert wrapper.check_resp(answer("result")) is True
    assert wrapper.check_resp(answer("result", "result")) is False
    assert wrapper.check_resp(answer("other")) is False
    assert wrapper.check_resp(answer("result", status=aiges_embed.DataEnd)) is False
    assert wrapper.check_resp(aiges_embed.Response()) is False
    assert wrapper.check_resp("not a response") is False
    assert "output 'other' is not declared in responseCls" in caplog.text


def test_importing_the_sdk_logger_leaves_the_root_logger_as_it_was() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    install_aiges_fallback()
    from aiges.utils.log import getFileLogger, getLogger, log

    file_logger = getFileLogger()
    named = getFileLogger(level=logging.DEBUG, name="mine")
    assert getLogger() is log and log.name == "aiges"
    assert (file_logger.name, named.name) == ("aiges.wrapper", "aiges.mine")
    assert all(not lg.handlers and lg.level == logging.NOTSET and lg.propagate
               for lg in (log, file_logger, named))
    assert root.handlers == handlers and root.level == level


def test_file_logger_lines_reach_the_worker_logging_at_its_level(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)  # getFileLogger must need no log folder anywhere
    install_aiges_fallback()
    from aiges.utils.log import getFileLogger

    logger = getFileLogger(level=logging.DEBUG)
    with caplog.at_level(logging.INFO):
        logger.info("seen")
        logger.debug("not at the worker's INFO level")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [("aiges.wrapper", "seen")]
    assert os.listdir(tmp_path) == []


def _eventually(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_an_sdk_stream_wrapper_serves_sessions_from_its_pool() -> None:
    install_aiges_fallback()
    plugin = Plugin.load(str(ABILITIES / "sdk_stream" / "wrapper.py"))
    wrapper = plugin.target
    assert wrapper.wrapperInit({"sessions": "1"}) == 0
    results: list[tuple[bytes, int, str]] = []
    delivered = threading.Event()

    def on_result(resp: Any, tag: str) -> int:
        out = resp.list[0]
        results.append((bytes(out.data), out.status, tag))
        if out.status == aiges_embed.DataEnd:
            delivered.set()
        return 0

    aiges_embed.set_hooks(callback=on_result)
    try:
        session = wrapper.wrapperCreate({"k": "v"}, "sid-1")
        assert (session.error_code, session.handle) == (0, "Process-0-Thread-0")
        assert wrapper.wrapperCreate({}, "sid-2").error_code == -1  # the one slot is busy
        for status, text in ((aiges_embed.DataBegin, b"ab"), (aiges_embed.DataEnd, b"cd")):
            frame = aiges_embed.DataListNode(key="text", data=text, len=2, type=0, status=status)
            assert wrapper.wrapperWrite(session.handle, aiges_embed.DataListCls([frame]),
                                        "sid-1") == 0
        assert delivered.wait(5)
        assert results == [(b"AB", aiges_embed.DataBegin, "sid-1"),
                           (b"CD", aiges_embed.DataEnd, "sid-1")]
        slot = wrapper.session.get_session(session.handle)
        assert _eventually(lambda: slot.idle)  # the thread frees its slot after the last frame
        assert wrapper.wrapperCreate({}, "sid-3").handle == session.handle
    finally:
        aiges_embed.clear_hooks()
        assert wrapper.wrapperFini() == 0
