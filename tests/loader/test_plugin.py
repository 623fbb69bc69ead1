"""The wrapper plugin (loader/plugin.py) on its own: loading, adapting each signature variant,
the errors a broken wrapper gets, and what a wrapper declares about itself. No gRPC."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import aiges_embed
import pytest

from loader.errors import WrapperLoadError
from loader.metrics import LoaderMetrics
from loader.plugin import OnceCall, Plugin
from loader.servicer import LoaderServicer
from loader.settings import LoaderSettings
from loader.v1 import loader_pb2
from tests.support import ABILITIES

FAULTY = str(ABILITIES / "faulty" / "wrapper.py")
VARIANTS = ABILITIES / "variants"


@pytest.fixture(autouse=True)
def _own_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a wrapper file puts its folder on sys.path: keep that to the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def wrapper_file(folder: Path, source: str, name: str = "wrapper.py") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def data(text: str) -> aiges_embed.DataListCls:
    wire = loader_pb2.CallRequest(
        inputs=[loader_pb2.Data(key="text", type=0, status=3, data=text.encode())]
    ).SerializeToString()
    return aiges_embed.parse_call(wire).data


def once(plugin: Plugin) -> OnceCall:
    assert plugin.once is not None, "the wrapper has no wrapperOnceExec"
    return plugin.once


def output_text(response: aiges_embed.Response) -> str:
    out = response.list[0].data  # setData keeps what the wrapper gave: str or bytes-like
    return out if isinstance(out, str) else bytes(out).decode()


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("two_args_functions.py", "two-args:hi"),
        ("tag_only.py", "tag=tag-7"),
        ("pers_only.py", "pers=42"),
        ("v1_dicts.py", "v1:tag-7:hi"),
    ],
)
def test_each_sync_signature_variant_gets_what_it_asks_for(module: str, expected: str) -> None:
    plugin = Plugin.load(str(VARIANTS / module))
    plugin.init({})
    assert not plugin.once_is_async
    assert output_text(once(plugin)({}, data("hi"), "tag-7", 42)) == expected


async def test_an_async_wrapper_is_adapted_to_a_coroutine_to_await() -> None:
    plugin = Plugin.load(str(VARIANTS / "async_wrapper.py"))
    assert plugin.once_is_async
    assert output_text(await once(plugin)({}, data("hi"), "", 0)) == "async:hi"


def test_a_v1_wrappers_returned_code_becomes_the_responses_error_code() -> None:
    plugin = Plugin.load(str(VARIANTS / "v1_dicts.py"))
    response = once(plugin)({}, data("fail"), "", 0)
    assert (response.error_code, list(response.list)) == (77, [])
    assert plugin.error_text(77) == "v1 error 77"


def test_a_v1_wrappers_output_dicts_become_response_data() -> None:
    out = once(Plugin.load(str(VARIANTS / "v1_dicts.py")))({}, data("hi"), "t", 0).list[0]
    assert (out.key, out.status, out.type, dict(out.desc)) == (
        "result", 3, 0, {"encoding": "utf8"})


def test_failing_wrapper_init_names_the_wrapper_error() -> None:
    plugin = Plugin.load(str(VARIANTS / "init_fails.py"))
    with pytest.raises(WrapperLoadError, match="licence file missing"):
        plugin.init({})


def test_missing_wrapper_file_is_a_clear_load_error() -> None:
    with pytest.raises(WrapperLoadError, match="does not exist"):
        Plugin.load("/nowhere/wrapper.py")


def test_wrapper_init_returning_a_code_names_it_and_the_init_code() -> None:
    plugin = Plugin.load(str(VARIANTS / "init_fails.py"))
    with pytest.raises(WrapperLoadError) as failed:
        plugin.init({})
    assert str(failed.value) == (
        "wrapperInit returned 5: licence file missing: set [wrapper] common.lic (code 10901)")


def test_wrapper_init_raising_names_the_exception(tmp_path: Path) -> None:
    plugin = Plugin.load(wrapper_file(tmp_path / "raising", """
        def wrapperInit(config):
            raise FileNotFoundError("model.bin")

        def wrapperOnceExec(params, reqData):
            pass
    """))
    with pytest.raises(WrapperLoadError) as failed:
        plugin.init({})
    assert str(failed.value) == "wrapperInit raised FileNotFoundError: model.bin"


def test_wrapper_init_gets_the_config_it_was_given(tmp_path: Path) -> None:
    plugin = Plugin.load(wrapper_file(tmp_path / "keeps", """
        class Wrapper:
            def wrapperInit(self, config):
                self.config = config

            def wrapperOnceExec(self, params, reqData):
                pass
    """))
    plugin.init({"model.path": "/models/a"})
    assert plugin.target.config == {"model.path": "/models/a"}


def test_a_wrapper_without_wrapper_init_loads_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Function-style (v1) stream wrappers often define none; AIGES loads them."""
    caplog.set_level("INFO")
    plugin = Plugin.load(wrapper_file(tmp_path / "no_init", """
        def wrapperCreate(usrTag, params, psrIds, psrCnt, errNum):
            return "handle"

        def wrapperDestory(handle):
            return 0
    """))
    plugin.init({"a": "b"})
    assert "defines no wrapperInit" in caplog.text
    assert plugin.operations() == ["stream"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def wrapperInit(config):\n    return 0\n",
         "defines none of wrapperOnceExec, wrapperOnceExecAsync, wrapperCreate and wrapperStream"),
        ("import no_such_module_here\n",
         "raised ModuleNotFoundError: No module named 'no_such_module_here'"),
        ("class Wrapper:\n    def __init__(self):\n        raise RuntimeError('no GPU')\n",
         "Wrapper() raised RuntimeError: no GPU"),
        ("def wrapperInit(config):\n    return 0\n\ndef wrapperOnceExec(params):\n    pass\n",
         "must take at least (params, reqData)"),
        ("def wrapperInit(config):\n    return 0\n\n"
         "def wrapperOnceExec(params, reqData, session):\n    pass\n",
         "parameter 'session' is not one the contract passes"),
    ],
    ids=["no-exec", "import-fails", "constructor-fails", "one-argument",
         "unknown-parameter"],
)
def test_a_broken_wrapper_fails_to_load_with_a_message_saying_why(
    tmp_path: Path, source: str, message: str
) -> None:
    with pytest.raises(WrapperLoadError) as failed:
        Plugin.load(wrapper_file(tmp_path / "broken", source))
    assert message in str(failed.value)


def test_a_named_attribute_the_module_lacks_is_a_load_error(tmp_path: Path) -> None:
    path = wrapper_file(tmp_path / "named", "def wrapperInit(config):\n    return 0\n")
    with pytest.raises(WrapperLoadError, match="module has no attribute 'Missing'"):
        Plugin.load(f"{path}:Missing")


def test_a_named_attribute_is_the_wrapper_loaded(tmp_path: Path) -> None:
    path = wrapper_file(tmp_path / "named", """
        class Ocr:
            serviceId = "ocr"

            def wrapperInit(self, config):
                return 0

            def wrapperOnceExec(self, params, reqData):
                pass
    """)
    assert Plugin.load(f"{path}:Ocr").service_id == "ocr"


def test_service_id_defaults_to_the_wrappers_folder_and_version_to_v1() -> None:
    plugin = Plugin.load(str(VARIANTS / "tag_only.py"))
    assert (plugin.service_id, plugin.version) == ("variants", "v1")


def test_class_attributes_name_the_service_and_its_route(tmp_path: Path) -> None:
    plugin = Plugin.load(wrapper_file(tmp_path / "folder", """
        class Wrapper:
            serviceId = "ocr"
            version = "v2"

            def wrapperInit(self, config):
                return 0

            def wrapperOnceExec(self, params, reqData):
                pass
    """))
    ability = LoaderServicer(plugin, LoaderSettings(wrapper="w"), LoaderMetrics(), None).ability()
    assert (plugin.service_id, plugin.version) == ("ocr", "v2")
    assert ability.route == "/v2/private/ocr"


def test_a_service_id_given_at_load_wins_over_the_wrappers_own() -> None:
    assert Plugin.load(FAULTY, service_id="renamed").service_id == "renamed"


def test_a_configured_route_wins_over_the_default_one() -> None:
    plugin = Plugin.load(FAULTY)
    settings = LoaderSettings(wrapper=FAULTY, route="/custom/faulty")
    ability = LoaderServicer(plugin, settings, LoaderMetrics(), None).ability()
    assert ability.route == "/custom/faulty"


def test_operations_list_the_calls_the_wrapper_defines(tmp_path: Path) -> None:
    both = Plugin.load(wrapper_file(tmp_path / "both", """
        def wrapperInit(config):
            return 0

        def wrapperOnceExec(params, reqData):
            pass

        def wrapperCreate(params, sid):
            pass
    """))
    stream = Plugin.load(wrapper_file(tmp_path / "stream", """
        def wrapperInit(config):
            return 0

        def wrapperCreate(params, sid):
            pass
    """))
    assert Plugin.load(FAULTY).operations() == ["once"]
    assert both.operations() == ["once", "stream"]
    assert (stream.operations(), stream.once) == (["stream"], None)


def test_error_text_is_the_wrappers_own_else_a_generic_one() -> None:
    silent = Plugin.load(str(VARIANTS / "tag_only.py"))
    faulty = Plugin.load(FAULTY)
    assert faulty.error_text(4711) == "the model refused this input: try a shorter text"
    assert silent.error_text(3) == "wrapper error 3"


def test_a_broken_wrapper_error_does_not_hide_the_failure(tmp_path: Path) -> None:
    plugin = Plugin.load(wrapper_file(tmp_path / "brokenerror", """
        def wrapperInit(config):
            return 12

        def wrapperError(code):
            raise LookupError(code)

        def wrapperOnceExec(params, reqData):
            pass
    """))
    assert plugin.error_text(12) == "wrapper error 12 (wrapperError raised LookupError)"
    with pytest.raises(WrapperLoadError) as failed:
        plugin.init({})
    assert str(failed.value) == (
        "wrapperInit returned 12: wrapper error 12 (wrapperError raised LookupError) "
        "(code 10901)")


def test_wrapper_version_is_reported_and_a_failing_one_is_empty(tmp_path: Path) -> None:
    versioned = Plugin.load(wrapper_file(tmp_path / "versioned", """
        def wrapperInit(config):
            return 0

        def wrapperOnceExec(params, reqData):
            pass

        def wrapperVersion():
            return "2.3.1"
    """))
    broken = Plugin.load(wrapper_file(tmp_path / "brokenversion", """
        def wrapperInit(config):
            return 0

        def wrapperOnceExec(params, reqData):
            pass

        def wrapperVersion():
            raise RuntimeError("no version file")
    """))
    assert versioned.wrapper_version() == "2.3.1"
    assert broken.wrapper_version() == ""
    assert Plugin.load(FAULTY).wrapper_version() == ""


def test_a_wrapper_imports_its_sibling_modules_by_bare_name(tmp_path: Path) -> None:
    folder = tmp_path / "siblings"
    wrapper_file(folder, "GREETING = 'from a sibling'\n", name="athena_test_sibling.py")
    plugin = Plugin.load(wrapper_file(folder, """
        import athena_test_sibling

        def wrapperInit(config):
            return 0

        def wrapperOnceExec(params, reqData):
            return athena_test_sibling.GREETING
    """))
    try:
        assert once(plugin)({}, data("x"), "", 0) == "from a sibling"
    finally:
        sys.modules.pop("athena_test_sibling", None)


@pytest.mark.parametrize("sibling", ["loader.py", "gateway/__init__.py"])
def test_a_sibling_module_named_like_athenas_packages_is_warned_about(
        tmp_path: Path, sibling: str, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "shadowing"
    (folder / sibling).parent.mkdir(parents=True, exist_ok=True)
    (folder / sibling).write_text("VALUE = 1\n")
    Plugin.load(wrapper_file(folder, """
        def wrapperInit(config):
            return 0

        def wrapperOnceExec(params, reqData):
            return None
    """))
    name = sibling.split("/")[0].removesuffix(".py")
    assert f"has its own {name!r} module" in caplog.text
    assert "rename" in caplog.text


def test_a_wrapper_without_such_siblings_loads_without_that_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    Plugin.load(FAULTY)
    assert "has its own" not in caplog.text
