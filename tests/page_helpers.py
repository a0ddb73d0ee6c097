"""Running one page under AppTest, as every page test does: the sidebar's sentence and model in
the session state, the page run alone, and small readers for what it showed."""
from __future__ import annotations

import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def scan_components_once() -> None:
    """Every AppTest run rescans the metadata of every installed distribution (about 400 of them) for Streamlit
    components: about 1.8 s per page run on a loaded machine. A running server scans once at start-up; the installed
    packages cannot change within one test or bench process, so the scan is done once and its answer reused."""
    from streamlit.components.v2 import manifest_scanner

    if getattr(manifest_scanner.scan_component_manifests, "scanned_once", False):
        return
    found = manifest_scanner.scan_component_manifests()

    def scanned(max_workers=None):
        return list(found)
    scanned.scanned_once = True
    manifest_scanner.scan_component_manifests = scanned


def compile_pages_once() -> None:
    """AppTest compiles the page script afresh on every run (a new ScriptCache each time: about 27 ms of
    Streamlit's magic parsing for a page at 4,096 tokens). A running server keeps one cache for all its
    reruns; so does this process from now on, and a script whose file changes is compiled again."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import local_script_runner

    if getattr(local_script_runner.ScriptCache, "shared", False):
        return

    class ServerScriptCache(ScriptCache):
        def get_bytecode(self, script_path: str):
            stat = os.stat(script_path)
            stamp = (os.path.abspath(script_path), stat.st_mtime_ns, stat.st_size)
            with self._lock:
                if self._cache.get(("stamp", stamp[0])) != stamp:     # new or changed: compile again
                    self._cache.pop(stamp[0], None)
                    self._cache[("stamp", stamp[0])] = stamp
            return super().get_bytecode(script_path)

    cache = ServerScriptCache()

    def shared() -> ScriptCache:
        return cache
    shared.shared = True
    local_script_runner.ScriptCache = shared


def run_page(page: str, sentence: str | None = None, model: str | None = None, timeout: int = 300,
             **state) -> AppTest:
    """Run `page` ("step_head" or "pages/step_head.py"); `model`, a folder, is added to the picker and chosen."""
    path = ROOT / page if page.endswith(".py") else ROOT / "pages" / f"{page}.py"
    at = AppTest.from_file(str(path), default_timeout=timeout)
    if sentence is not None:
        at.session_state["sentence"] = sentence
    if model is not None:
        at.session_state["extra_models"] = {model: Path(model).name}
        at.session_state["model"] = model
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def spec_array(value):
    """A figure spec's array: a plain list, or Plotly's typed-array form {dtype, bdata, shape}."""
    import base64

    import numpy as np

    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return flat.reshape([int(n) for n in shape.split(",")]) if shape else flat
    return np.asarray(value)
