"""Start-up and the app frame: work done once per process, and pages kept inside app.py's frame.

`start()` is the first thing app.py does on every run (cheap after the first). A page
script calls `require_frame()` first: a shared link that is a fresh server's very first
request can run a page file on its own (see below), and this sends it through app.py.
"""
from __future__ import annotations

import atexit
import ctypes
import gc
import inspect
import logging
import os
import sys
import threading
import time
from pathlib import Path

import streamlit as st
from streamlit import runtime
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from models.registry import mark_failed
from models.saved import models_dir, remove_stale_temporaries
from ui import url
from ui.intros import write_header
from ui.sections import SECTIONS
from ui.state import DEFAULT_MODEL, current_model_name, model_choices

FRAMED = "_framed"          # session-state mark: this session's runs go through app.py
FAILED_MODEL = "_failed_model"   # set when a picked model broke a page (shown once, on the rerun)
UNEXPECTED = "This page hit an unexpected error"
_threads_lock = threading.Lock()
_threads_set = False
_models_cleaned = False
_exit_hook_set = False
_libc = None
_last_collect = 0.0
COLLECT_AFTER_S = 0.3   # after a run ends: long enough for Streamlit to send the run's last elements first
log = logging.getLogger("attention_explorer")


def configure_threads(threads: int | None = None) -> None:
    """Fix torch's thread count once per process, before the first model runs.

    Changing it while other sessions compute is unsafe; with a fixed count, concurrent
    sessions share the cores instead of each starting a full set of threads.
    """
    global _threads_set
    with _threads_lock:
        if _threads_set:
            return
        import torch

        n = threads or int(os.environ.get("ATTENTION_EXPLORER_THREADS", "0")) or min(4, os.cpu_count() or 1)
        torch.set_num_threads(n)
        configure_memory()
        _threads_set = True


def _leave_pages_folder_mode() -> bool:
    """Streamlit treats a `pages/` folder beside the main script as its old multipage layout
    until the first `st.navigation` call: a fresh server's first request would then run a
    page file alone, with the old sidebar listing file names. Turn that mode off for the
    whole process; True when it was on (this run is in that mode).

    The one use of a Streamlit internal (PagesManager) in ui/, pages/ and app.py: Streamlit has no
    public switch for this mode, and without it a shared link that is a fresh server's first request
    opens outside the frame (tests/test_browser.py)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        return True
    return False


M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8      # glibc's mallopt parameter numbers


def configure_memory() -> None:
    """Give freed trace memory back to the system (glibc only; elsewhere nothing to do).

    A trace is made of tensors of tens of megabytes. By default glibc raises its mmap threshold
    after the first such block is freed, so later ones come from per-thread arenas (up to 8 per
    core, and every script run is a new thread) that keep freed memory: a served app grew by
    ~250 MB per new long sentence although its caches held a fixed budget. Large blocks from
    mmap go back to the system when freed, and two arenas are enough for two cores.
    """
    global _libc
    try:
        _libc = ctypes.CDLL("libc.so.6")
        _libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)
        _libc.mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        _libc = None


def release_memory() -> None:
    """Free what the run just finished left in reference cycles, and hand it back to the system.

    A script run ends in exceptions and frames that point at each other (Streamlit's own rerun
    and stop, the page's module), and through them at a trace and its figures. Python's cycle
    collector runs by object count, and a 100 MB array counts as one object, so such garbage
    piled up at ~35 MB per run in a served app. A full collection after each run (at most one a
    second) keeps memory at the cache's budget.

    The collection runs on its own thread a moment after the run, not at its end: it holds the GIL
    for its whole length (60 ms on a quiet machine, 400 ms on a busy one, with ~380,000 objects
    tracked), and at the run's end Streamlit has not yet sent the page's last elements, which then
    waited for it (issue 26: All heads' grid is near the end of its page).
    """
    global _last_collect
    now = time.monotonic()
    if now - _last_collect < 1.0:
        return
    _last_collect = now
    timer = threading.Timer(COLLECT_AFTER_S, _collect)
    timer.daemon = True
    timer.start()


def _collect() -> None:
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)


def clean_models_folder() -> None:
    """Half-written folders of a save that was killed are removed once, when the server starts."""
    global _models_cleaned
    with _threads_lock:
        if _models_cleaned:
            return
        _models_cleaned = True
    removed = remove_stale_temporaries(models_dir())
    if removed:
        log.warning("removed %d half-written model folder(s) left by an interrupted save: %s",
                    len(removed), ", ".join(removed))


# -- a clean stop (SIGTERM from systemd or a container, Ctrl+C) ------------------------------------------
SCRIPT_THREAD = "ScriptRunner.scriptThread"   # Streamlit's name for the daemon thread of each script run
DEFAULT_STOP_WAIT_S = 60


def stop_wait_s() -> float:
    """$ATTENTION_EXPLORER_STOP_WAIT_S: how long a stop waits for running scripts (default 60 s)."""
    raw = os.environ.get("ATTENTION_EXPLORER_STOP_WAIT_S", "")
    return float(raw) if raw.replace(".", "", 1).isdigit() else DEFAULT_STOP_WAIT_S


def finish_script_runs() -> None:
    """At exit, let every script run end before Python tears itself down.

    Script runs are daemon threads. On SIGTERM Streamlit asks each session to stop and its
    main thread returns at once; Python then ends daemon threads wherever they are, and one in
    the middle of torch's C++ (a training step's backward) died in `std::terminate`: the server
    printed "terminate called without an active exception" and `Aborted` (status 134).
    Waiting here lets a training run meet the stop at its next step and save its best weights
    (ui/training.py), and a half-done save finish or remove its temporary folder. A run still
    busy after the wait (a long computation with no Streamlit call) is left behind by an
    immediate exit with status 0 rather than an abort.

    A real server then always ends here, after the other exit handlers: with every script run done,
    Python's own teardown still aborted about one stop in three after a training run ("terminate
    called without an active exception" once Python had finished: a C++ library's static thread pool
    destroyed while joinable). Nothing is left to write at that point, so the process exits with 0
    instead of running those destructors."""
    deadline = time.monotonic() + stop_wait_s()
    me = threading.current_thread()

    def running() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t is not me and t.name == SCRIPT_THREAD and t.is_alive()]
    # Asked again after each join: a run that ends on the stop may start another (a rerun) meanwhile.
    busy = running()
    while busy and time.monotonic() < deadline:
        for thread in busy:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = running()
    # Only a real server exits early: under AppTest (a mocked runtime) the exit status is pytest's.
    if not (runtime.exists() and type(runtime.get_instance()) is runtime.Runtime):
        return
    if busy:
        log.warning("stopping with %d script run(s) still busy after %.0f s", len(busy), stop_wait_s())
    atexit.unregister(finish_script_runs)
    atexit._run_exitfuncs()          # the handlers registered before this one (they would run after it)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def clean_exit_on_stop() -> None:
    """Register finish_script_runs once per process (atexit runs it after the server has stopped)."""
    global _exit_hook_set
    with _threads_lock:
        if _exit_hook_set:
            return
        _exit_hook_set = True
    atexit.register(finish_script_runs)


def start() -> None:
    """app.py's start-up: threads, the models folder and a clean stop once, the old pages-folder
    mode off, this session marked."""
    configure_threads()
    clean_models_folder()
    clean_exit_on_stop()
    was_on = _leave_pages_folder_mode()
    st.session_state[FRAMED] = True
    if was_on:   # this very run started in the old mode: run app.py again, now as the frame
        st.rerun()


def require_frame() -> str:
    """First call of every page: a page that the old pages-folder mode ran on its own (no
    app.py, so no sidebar and the link's sentence ignored) reruns through app.py, which
    opens the same page. A page run alone on purpose (AppTest) is left alone. The page's file names
    its controls' keys (ui/url.py) when the frame has not named the page (a page run alone), and
    that name is returned: `PAGE = require_frame()`. The page's title and introduction come first
    (ui/intros.py), so the script holds only what is its own."""
    caller = inspect.currentframe().f_back       # the page script itself
    if caller is not None and caller.f_globals.get("__file__"):
        url.page_file(caller.f_globals["__file__"])
    ctx = get_script_run_ctx()
    if not st.session_state.get(FRAMED) and ctx is not None and Path(ctx.main_script_path).name == "app.py":
        _leave_pages_folder_mode()
        st.rerun()
    page = url.page_name()
    write_header(page)       # the page's title and introduction (ui/intros.py)
    return page


def page_file_name(page) -> str:
    """The page's file name ("attention_head"): st.navigation's url_path, "" for the default page."""
    default = Path(next(iter(SECTIONS.values()))[0][0]).stem
    return getattr(page, "url_path", "") or default


def run_page(page) -> None:
    """Run the chosen page, its controls keyed and linked by its file name (ui/url.py); an unexpected
    error becomes a short message, with the details in the server's log (never a traceback with server
    paths for a visitor). A shared link whose settings make the page fail opens it again on its own
    settings. A model other than MiniLM that makes a page fail leaves the picker of every session until
    its files change (models.registry.mark_failed), and the page runs again, once, on MiniLM."""
    url.set_page(page_file_name(page))
    url.link_notice()
    failed_model = st.session_state.pop(FAILED_MODEL, None)
    if failed_model:
        st.warning(f"The model you had picked ({failed_model}) failed on that page; it was removed from "
                   "the model picker and MiniLM is shown instead.")
    try:
        page.run()
        url.check_link()
    except Exception as exc:   # Streamlit's own stop and rerun are BaseExceptions and pass through
        if url.undo_link():        # a shared link's settings did not fit: the page again, on its own settings
            log.warning("a link's page settings failed on %r (%s); dropped", getattr(page, "title", page), exc)
            st.rerun()
        log.exception("page %r failed", getattr(page, "title", page))
        name = current_model_name()
        if name != DEFAULT_MODEL and not failed_model:   # fall back once: never a loop of reruns
            label = model_choices().get(name) or "a model"   # its picker label: never a server path
            mark_failed(name)
            st.session_state.get("extra_models", {}).pop(name, None)
            st.session_state[FAILED_MODEL] = f"{label}: {type(exc).__name__}"
            st.rerun()
        st.error(f"{UNEXPECTED} ({type(exc).__name__}). The details are in the server's log; "
                 "try another sentence or another page.")
    finally:
        release_memory()
