"""The server stops cleanly on SIGTERM (what systemd or a container sends), even mid-training:
exit status 0, no abort, the run's best weights saved in one folder, no half-written folder left."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test_browser import ARGS, CHROMIUM, free_port, require_browser

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def start_server(models: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, ATTENTION_EXPLORER_THREADS="1", ATTENTION_EXPLORER_MODELS_DIR=str(models))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"streamlit did not start:\n{proc.communicate()[0].decode(errors='replace')[-2000:]}")
            time.sleep(0.3)


def test_sigterm_during_training_exits_zero_and_keeps_the_best_weights(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    models = tmp_path / "models"
    proc, url = start_server(models)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(url + "/train")
            page.locator(".st-key-train_steps input").fill("20000")     # far longer than the test
            page.locator(".st-key-train_steps input").press("Enter")
            page.wait_for_timeout(1000)
            page.locator(".st-key-train_start button").click(timeout=90_000)
            page.get_by_text("validation").first.wait_for(timeout=90_000)  # a first report: weights to keep
            proc.send_signal(signal.SIGTERM)
            output = proc.communicate(timeout=90)[0].decode(errors="replace")
            browser.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "terminate called" not in output and "Aborted" not in output, output[-2000:]
    assert proc.returncode == 0, output[-2000:]
    folders = sorted(p.name for p in models.iterdir())
    assert len(folders) == 1 and not folders[0].startswith("."), folders   # no half-written temporaries
    info = json.loads((models / folders[0] / "config.json").read_text())["info"]
    assert info["status"] == "stopped" and 0 < info["steps"] < 20_000
