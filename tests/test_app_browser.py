"""End to end: ``alwidget demo`` in a real headless Chromium.

The command serves the labelling app with Voila (``--no-browser`` on a free
port of 127.0.0.1). The test reads the URL it prints (with its token), opens
it, and checks that

- the embedding's progress bar (tqdm, with the elapsed time and the time
  left) is in the page, above the widget;
- pressing ``1`` three times with the widget focused labels three clips (the
  widget's progress text, ``.alw-progress``, says ``3 / ...``);
- a reload (a new kernel, which takes the journal over from the old one)
  shows the widget again with the three labels;
- Ctrl-C (SIGINT to the command's process group, as a terminal sends it)
  stops the command with status 0 and leaves no server or kernel behind.

Needs Chromium (``apt-get install chromium``), Playwright for Python and
Voila; skipped without them, except when ``CI=true``, where it fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from _support import CHROMIUM, CHROMIUM_ARGS, alive, descendants, free_port, require

pytestmark = pytest.mark.browser

URL = re.compile(r"http://127\.0\.0\.1:\d+/\?token=[0-9a-f]+")
# records, from the first script on, whether a progress bar was ever on the page and what its row said
WATCH_PROGRESS_JS = """
(() => {
  window.__alwProgress = [];
  const look = () => {
    if (document.querySelector('.alw-root')) { observer.disconnect(); return; }
    for (const bar of document.querySelectorAll('.widget-progress, .widget-hprogress')) {
      const row = bar.closest('.widget-hbox') || bar.parentElement;
      const text = (row && row.textContent || '').trim();
      if (text && !window.__alwProgress.includes(text)) window.__alwProgress.push(text);
    }
  };
  const observer = new MutationObserver(look);
  observer.observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install playwright; never `playwright install`)"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return "Chromium is not installed (apt-get install -y chromium)"
    if importlib.util.find_spec("voila") is None:
        return "voila is not installed (pip install -e .[test])"
    return None


def _require() -> None:
    require(_missing())


def _n_labeled(page) -> int:
    return int(page.inner_text(".alw-progress").split("/")[0])


def _wait_n_labeled(page, n: int, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "n => { const p = document.querySelector('.alw-progress'); return p && p.innerText.startsWith(n + ' / '); }",
        arg=n,
        timeout=timeout,
    )


def _wait_widget(page, what: str, timeout: float = 180_000) -> None:
    """Wait until the widget shows a clip; fail at once with the page's message if the app could not start."""
    page.wait_for_function(
        """() => { const r = document.querySelector('.alw-root');
                   return (r && r.dataset.clip) || document.querySelector('.alw-app-error')
                          || (document.body.innerText || '').includes('There was an error'); }""",
        timeout=timeout,
    )
    error = page.evaluate(
        "() => { const e = document.querySelector('.alw-app-error'); return e ? e.innerText : "
        "(document.querySelector('.alw-root') ? '' : document.body.innerText.slice(-2000)); }"
    )
    assert not error, f"{what}: the app did not start; the page shows:\n{error}"


def _clip(page) -> str:
    return page.evaluate("(document.querySelector('.alw-root') || {dataset: {}}).dataset.clip || ''")


def _press_and_wait(page, key: str) -> None:
    before = _clip(page)
    page.keyboard.press(key)
    page.wait_for_function(
        "b => { const r = document.querySelector('.alw-root'); return r && r.dataset.clip && r.dataset.clip !== b; }",
        arg=before,
        timeout=60_000,
    )


def test_demo_labels_three_clips_and_a_reload_keeps_them(tmp_path):
    _require()
    from playwright.sync_api import sync_playwright

    from alwidget.embedders import default_embedder

    port = free_port()
    env = dict(os.environ, ALWIDGET_CACHE_DIR=str(tmp_path / "cache"))  # a fresh cache: the embedding really runs
    err = open(tmp_path / "alwidget.err", "wb")  # closed below
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "alwidget", "demo", "--no-browser", "--port", str(port), "--clips-per-class", "10"],
        stdout=subprocess.PIPE,
        stderr=err,
        env=env,
        start_new_session=True,  # its own process group, as a shell's foreground job is
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    server_pids: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while not any(URL.search(line) for line in lines):
            assert proc.poll() is None, f"alwidget demo exited: {(tmp_path / 'alwidget.err').read_text()}"
            assert time.monotonic() < deadline, "alwidget demo printed no URL within 120 s"
            time.sleep(0.1)
        url = next(URL.search(line)[0] for line in lines if URL.search(line))
        t_url = time.monotonic() - started

        with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 1000},
            )
            try:
                ctx.add_init_script(WATCH_PROGRESS_JS)
                page = ctx.new_page()
                page.set_default_timeout(30_000)
                t0 = time.monotonic()
                page.goto(url)
                _wait_widget(page, "first load")
                t_widget = time.monotonic() - t0
                # the embedding's progress bar is in the page, with the elapsed time and the time left; it stays
                # above the widget when done (whether the page connected early enough to see it move is timing)
                bar_js = (
                    "() => { const b = document.querySelector('.widget-progress, .widget-hprogress');"
                    " const row = b && (b.closest('.widget-hbox') || b.parentElement);"
                    " return row ? row.textContent : ''; }"
                )
                try:
                    page.wait_for_function(f"() => ({bar_js})().includes('100%')", timeout=30_000)
                finally:
                    bar = page.evaluate(bar_js)
                assert "embedding" in bar and "100%" in bar, bar
                assert re.search(r"\d\d:\d\d<\d\d:\d\d", bar), bar  # [elapsed<left]
                progress = page.evaluate("() => window.__alwProgress")  # what the page showed before the widget
                server_pids = descendants(proc.pid)  # Voila and this page's kernel

                # the default features' licence asks for attribution where they are used: under the buttons
                credits = page.locator(".alw-credits")
                if default_embedder()[0] == "logmel+aisfx":
                    assert credits.is_visible() and "CC BY 4.0" in credits.inner_text(), credits.inner_text()
                    assert "Ma and A. Lerch" in credits.inner_text()
                else:
                    assert not credits.is_visible()
                page.locator(".alw-root").focus()
                for _ in range(3):
                    _press_and_wait(page, "1")
                _wait_n_labeled(page, 3)

                page.reload()  # a new kernel takes the journal over and replays it
                _wait_widget(page, "after a reload")
                _wait_n_labeled(page, 3)
                assert page.inner_text(".alw-blocked") == ""
                assert _n_labeled(page) == 3
                server_pids |= descendants(proc.pid)  # and the new kernel
            finally:
                ctx.close()
        print(f"URL after {t_url:.1f} s; widget {t_widget:.1f} s after opening it; progress shown: {progress}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the foreground process group
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            err.close()
    assert code == 0, (tmp_path / "alwidget.err").read_text()
    deadline = time.monotonic() + 10
    while [pid for pid in server_pids if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(server_pids) >= 3, server_pids  # Voila and two kernels were running
    assert not [pid for pid in server_pids if alive(pid)], "server or kernel processes outlived Ctrl-C"
    stderr = (tmp_path / "alwidget.err").read_text()
    assert "Traceback" not in stderr, stderr
