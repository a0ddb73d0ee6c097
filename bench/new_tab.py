"""A cached page opened in a new browser tab: how long until its figure is drawn, and where the time goes.

    python bench/new_tab.py [--page attention_grid] [--tokens 141] [--repeat 5] [--port 8671]

Starts `streamlit run app.py`, opens the page once with the sentence in the link (the trace is computed
and cached, Plotly's code is in the browser's cache), then opens it again `--repeat` times, each in a
fresh tab of the same browser (what a person does with a shared link or a middle click), in turn in a
fresh private profile (Playwright's default) and in a profile kept on disk (a person's browser), and times:

  * html      the page's HTML and Streamlit's code loaded (DOMContentLoaded);
  * socket    Streamlit's websocket open;
  * run       the server started the script run (its first message; "runs" counts them: a rerun costs twice);
  * figure    the figure's message arrived (the largest websocket frame: its size is printed);
  * finished  the script run ended (Streamlit's script_finished message);
  * plotly_js Plotly's code (Streamlit loads it lazily, on the first chart) was read from the browser's cache
              (nan: the page loaded none; All heads draws its grid on a canvas);
  * drawn     All heads' canvas painted every thumbnail, or every heatmap of the first Plotly figure
              painted (the figure is drawn): the time reported;
  * server_cpu, browser_cpu  CPU seconds (user + system) each side spent until then: on a busy
              machine these say what the page costs better than the wall time does.

Between "run" and "figure" the server runs the script up to the chart (the frame, the page, the figure's
JSON); between "figure" and "drawn" the browser loads Plotly's code, parses the message and Plotly draws.
The target (issue 26): All heads at 141 tokens drawn in under 1.5 s. Median of the repeats; the machine may be shared
(the load average is printed), so compare runs made one after the other.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.screenshots import PARAGRAPH, SETTLED, SHORT, message_kind  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# The figure is drawn: All heads' canvas has painted every thumbnail (ui/components/attention_view), or the
# first visible Plotly figure has painted every heatmap it holds (Plotly draws each as an <image>).
DRAWN = """() => {
  if (document.querySelector(".attention-view[data-mode=grid] canvas[data-drawn]")) return true;
  const plot = Array.from(document.querySelectorAll(".js-plotly-plot")).find(p => p.getClientRects().length);
  if (!plot || !plot._fullData || !plot.querySelector(".main-svg")) return false;
  const heatmaps = plot._fullData.filter(t => t.type === "heatmap" && t.visible !== false).length;
  return plot.querySelectorAll(".hm image").length >= Math.max(heatmaps, 1);
}"""


# Playwright's default context is a fresh, private profile (its caches in memory); a person's browser keeps
# a profile on disk, where Chromium also keeps the compiled code of scripts it has run (Plotly's 4.7 MB).
PROFILES = ("fresh private profile", "profile on disk")


def start_server(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=dict(os.environ, ATTENTION_EXPLORER_THREADS="2"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    raise SystemExit("the server did not start")


def tree_cpu_seconds(root: int, leave_out: int | None = None) -> float:
    """CPU time (user + system) used so far by process `root` and its descendants, less the subtree of
    `leave_out`: less sensitive than wall time to a machine shared with other work."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))   # ppid, utime+stime
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in parents.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid == leave_out or pid not in parents:
            continue
        total += parents[pid][1]
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


def one_new_tab(context, url: str, server: int) -> dict:
    """Open url in a fresh tab and time its milestones (seconds from the click), and the CPU time the
    server and the browser spent until the figure was drawn."""
    cpu_before = tree_cpu_seconds(server), tree_cpu_seconds(os.getpid(), leave_out=server)
    tab = context.new_page()
    frames: list[tuple[float, int]] = []
    marks: dict[str, float] = {"runs": 0}
    start = time.perf_counter()

    def on_frame(payload) -> None:
        now = time.perf_counter() - start
        frames.append((now, len(payload)))
        kind = message_kind(payload)
        if kind == "new_session":
            marks["runs"] += 1
            marks.setdefault("run", now)
        elif kind == "script_finished":
            marks["finished"] = now

    def on_socket(socket) -> None:
        marks.setdefault("socket", time.perf_counter() - start)
        socket.on("framereceived", on_frame)

    def on_script(request) -> None:
        if "PlotlyChart" in request.url:
            marks.setdefault("plotly_js", time.perf_counter() - start)

    tab.on("websocket", on_socket)
    tab.on("requestfinished", on_script)
    tab.on("domcontentloaded", lambda _: marks.setdefault("html", time.perf_counter() - start))
    tab.goto(url, wait_until="commit")
    tab.wait_for_function(DRAWN, timeout=120_000, polling="raf")
    marks["drawn"] = time.perf_counter() - start
    marks["server_cpu"] = tree_cpu_seconds(server) - cpu_before[0]
    marks["browser_cpu"] = tree_cpu_seconds(os.getpid(), leave_out=server) - cpu_before[1]   # and this script
    biggest = max(frames, key=lambda f: f[1]) if frames else (float("nan"), 0)
    marks["figure"], marks["figure_bytes"] = biggest
    marks["all_bytes"] = sum(size for _, size in frames)
    tab.wait_for_function(SETTLED, timeout=120_000, polling=400)       # let the run end before the tab closes
    marks.setdefault("plotly_js", float("nan"))
    marks.setdefault("finished", float("nan"))
    tab.close()
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--page", default="attention_grid")
    parser.add_argument("--tokens", type=int, default=141, choices=(8, 141))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port", type=int, default=8671)
    parser.add_argument("--query", default="", help="extra query string, e.g. 'cb=1'")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    sentence = PARAGRAPH if args.tokens == 141 else SHORT
    url = (f"http://127.0.0.1:{args.port}/{args.page}?sentence={urllib.parse.quote(sentence)}"
           + (f"&{args.query}" if args.query else ""))
    server = start_server(args.port)
    runs: dict[str, list[dict]] = {PROFILES[0]: [], PROFILES[1]: []}
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            viewport = {"width": 1440, "height": 1000}
            contexts = {PROFILES[0]: browser.new_context(viewport=viewport),
                        PROFILES[1]: p.chromium.launch_persistent_context(
                            profile, executable_path=CHROMIUM, args=ARGS, viewport=viewport)}
            for context in contexts.values():
                first = context.new_page()
                first.goto(url)                                # computes and caches the trace; warms the caches
                first.wait_for_function(SETTLED, timeout=300_000, polling=400)
                first.close()
            for i in range(args.repeat):                       # the two kinds of browser one after the other
                for kind, context in contexts.items():
                    marks = one_new_tab(context, url, server.pid)
                    runs[kind].append(marks)
                    print(f"{kind}, run {i + 1}: " + ", ".join(
                        f"{k} {v / 1e6:.2f} MB" if k.endswith("bytes") else f"{k} {v:.0f}" if k == "runs"
                        else f"{k} {v:.2f} s" for k, v in marks.items()), flush=True)
            for context in contexts.values():
                context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    for kind, kept in runs.items():
        median = {k: statistics.median(r[k] for r in kept) for k in kept[0]}
        print(f"{args.page}, {args.tokens} tokens, new tab of a {kind}, median of {len(kept)}: "
              f"html {median['html']:.2f} s, socket {median['socket']:.2f} s, run {median['run']:.2f} s "
              f"({median['runs']:.0f} run(s)), figure message {median['figure']:.2f} s "
              f"({median['figure_bytes'] / 1e6:.2f} MB of {median['all_bytes'] / 1e6:.2f} MB), "
              f"script finished {median['finished']:.2f} s, Plotly's code {median['plotly_js']:.2f} s, "
              f"drawn {median['drawn']:.2f} s; CPU until drawn: server {median['server_cpu']:.2f} s, "
              f"browser {median['browser_cpu']:.2f} s  (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
