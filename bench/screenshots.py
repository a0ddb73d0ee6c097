"""Screenshots of pages in a real browser, to look at what we build.

    python bench/screenshots.py attention_head,attention_grid --tokens 143 --out /tmp/shots

Starts `streamlit run app.py` on a free local port, opens each page with the sentence in the link
(the short default, or a ~143-token paragraph with --tokens 143), waits until the script has
finished and saves a full-page PNG per page: OUT/<page>_<tokens>.png. Extra query parameters
(layer=2&head=5) go in --query. Debian's Chromium, driven by Playwright, as the browser test does.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHORT = "Time flies like an arrow."
PARAGRAPH = (
    "The transformer is a deep learning architecture that was developed by researchers at Google and "
    "is based on the multi-head attention mechanism, which was proposed in the 2017 paper Attention Is "
    "All You Need. Text is converted to numerical representations called tokens, and each token is "
    "converted into a vector via lookup from a word embedding table. At each layer, each token is then "
    "contextualized within the scope of the context window with other tokens via a parallel multi-head "
    "attention mechanism, allowing the signal for key tokens to be amplified and less important tokens "
    "to be diminished. Transformers have the advantage of having no recurrent units, therefore "
    "requiring less training time than recurrent neural architectures."
)
SENTENCES = {8: SHORT, 141: PARAGRAPH, 143: PARAGRAPH}   # 141 MiniLM tokens (the issue says 141, older notes 143)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Streamlit marks its root with the script's state ("initial" before the first run, then "running" or
# "notRunning") and the connection's. Settled: connected, the script not running, no spinner or skeleton,
# every visible Plotly chart and hover view drawn (Plotly loads lazily), and the page's elements unchanged
# for QUIET_MS (a figure that Plotly lays out again, a component that asks for one more run).
QUIET_MS = 400
SETTLED = """() => {
  const app = document.querySelector("[data-testid=stApp]");
  const running = !app || app.dataset.testScriptState !== "notRunning"
    || app.dataset.testConnectionState !== "CONNECTED";
  const busy = running || document.querySelector("[data-testid=stSpinner], [data-testid=stSkeleton]");
  const undrawn = Array.from(document.querySelectorAll("[data-testid=stPlotlyChart]"))
    .some(c => c.getClientRects().length && !c.querySelector(".main-svg"))
    || Array.from(document.querySelectorAll(".attention-view")).some(v => !v.querySelector("svg"));
  const count = document.querySelectorAll(
    "[data-testid=stElementContainer], .main-svg, .main-svg text, .attention-view svg").length;
  const now = Date.now(), last = window.__settled || {count: -1, since: now};
  window.__settled = count === last.count && !busy ? last : {count, since: now};
  return !busy && !undrawn && count > 0 && now - window.__settled.since >= %d;
}""" % QUIET_MS


def idle(page) -> None:
    """Until the script has finished (no status widget, no spinner) and the figures have drawn."""
    page.wait_for_function(SETTLED, timeout=300_000, polling=100)


def message_kind(payload) -> str:
    """The kind of one of Streamlit's websocket messages (a ForwardMsg): "new_session" starts a script
    run, "script_finished" ends it, "delta" is an element."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if not isinstance(payload, bytes):
        return ""
    try:
        return ForwardMsg.FromString(payload).WhichOneof("type") or ""
    except Exception:          # anything that is not a ForwardMsg
        return ""


class RunWatch:
    """The script runs of one browser tab, read from Streamlit's own messages on its websocket: a run
    starts with "new_session" and ends with "script_finished". After a link is opened or a page chosen
    in the same session, `settle` waits until a run has started since, every run has ended, no message
    came for QUIET_MS, and the page is drawn (SETTLED): no fixed sleep."""

    def __init__(self, page):
        self.page = page
        self.socket = {"id": 0, "started": 0, "finished": 0, "last": time.monotonic()}
        page.on("websocket", self._opened)

    def _opened(self, websocket) -> None:
        state = {"id": self.socket["id"] + 1, "started": 0, "finished": 0, "last": time.monotonic()}
        self.socket = state          # a new document (a link opened): counts start again

        def received(payload) -> None:
            state["last"] = time.monotonic()
            kind = message_kind(payload)
            if kind == "new_session":
                state["started"] += 1
            elif kind == "script_finished":
                state["finished"] += 1

        websocket.on("framereceived", received)

    def mark(self) -> tuple[int, int]:
        """Where the runs stand now; pass it to settle() after a navigation."""
        return self.socket["id"], self.socket["started"]

    def settle(self, mark: tuple[int, int], timeout_s: float = 300) -> None:
        """Until a run started after `mark` and the page has settled; TimeoutError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            now = self.socket
            ran = now["id"] != mark[0] and now["started"] > 0 or now["started"] > mark[1]
            quiet = time.monotonic() - now["last"] >= QUIET_MS / 1000
            if ran and quiet and now["finished"] >= now["started"] and self.page.evaluate(SETTLED):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page did not settle within {timeout_s:.0f} s")
            self.page.wait_for_timeout(100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", help="comma-separated page names, e.g. attention_head,home")
    parser.add_argument("--tokens", type=int, default=8, choices=sorted(SENTENCES),
                        help="8: the short sentence; 141 (or 143): the paragraph")
    parser.add_argument("--sentence", help="any other sentence (overrides --tokens)")
    parser.add_argument("--query", default="", help="extra query string, e.g. 'layer=2&head=5'")
    parser.add_argument("--out", default="/tmp/shots")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2400,
                        help="viewport height: Streamlit scrolls inside the page, so this is what the PNG holds")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sentence = args.sentence or SENTENCES[args.tokens]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=dict(os.environ, ATTENTION_EXPLORER_THREADS="2"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                              "--disable-background-networking", "--disable-component-update",
                                              "--disable-sync"])
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            # A fresh server's first run loads the model: let the home page take it, then time nothing.
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("textbox", name="Sentence", exact=True).wait_for(timeout=300_000)
            idle(page)
            for name in args.pages.split(","):
                query = "sentence=" + urllib.parse.quote(sentence) + (f"&{args.query}" if args.query else "")
                page.goto(f"http://127.0.0.1:{port}/{'' if name == 'home' else name}?{query}")
                page.get_by_role("textbox", name="Sentence", exact=True).wait_for(timeout=300_000)
                idle(page)
                tag = "custom" if args.sentence else str(args.tokens)
                path = out / f"{name}_{tag}.png"
                page.screenshot(path=str(path), full_page=True)
                print(path, flush=True)
            browser.close()
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
