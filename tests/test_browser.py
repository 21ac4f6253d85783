"""End to end: the labelling widget in JupyterLab, driven by headless Chromium.

Starts JupyterLab on 127.0.0.1 (free port, stopped at the end), runs a notebook
that shows a LabelingWidget over generated sounds (demo mode, with a journal),
clicks class buttons and presses number keys (and some of JupyterLab's
command-mode shortcut keys), then checks that the labels
reached the kernel (the journal it wrote), that JupyterLab's cells were not
changed by the keys, that an ``<audio>`` element holds the clip and that the
plot was redrawn. Saves a screenshot (to ``$ALWIDGET_SCREENSHOT``, e.g. ``docs/widget.png``, if set).

Needs Chromium (``apt-get install chromium``), Playwright for Python and
JupyterLab; skipped without them, except when ``CI=true``, where it fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Set ALWIDGET_SCREENSHOT=docs/widget.png to refresh the README's picture; by
# default the screenshot goes to the test's temporary folder.
SCREENSHOT = os.environ.get("ALWIDGET_SCREENSHOT")
N_PER_CLASS = 10
N_AUTO = 12

NOTEBOOK_CODE = f"""\
import json
from pathlib import Path
from alwidget import ActiveLearner
from alwidget.datasets import make_sounds
from alwidget.widget import LabelingWidget

ds = make_sounds(n_per_class={N_PER_CLASS}, seed=0)
X = ds.embed(progress=False, cache_dir=False)
learner = ActiveLearner(X, sorted(set(ds.labels)))
Path("meta.json").write_text(json.dumps({{"n_pool": X.shape[0], "dim": X.shape[1], "labels": ds.labels}}))
widget = LabelingWidget(learner, ds, oracle=ds.labels, journal="journal.jsonl")
widget"""


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install playwright; never `playwright install`)"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return "Chromium is not installed (apt-get install -y chromium)"
    if importlib.util.find_spec("jupyterlab") is None:
        return "JupyterLab is not installed (pip install jupyterlab)"
    return None


@pytest.fixture(scope="module")
def browser_ready():
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CODE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _lab_settings(root: Path) -> Path:
    """User settings that switch off JupyterLab's kernel and news dialogs."""
    settings = root / "lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    notes = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    notes.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"autoStartDefaultKernel": True}))
    notes.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return settings


@contextlib.contextmanager
def jupyterlab(workdir: Path):
    """Run JupyterLab on a free port of 127.0.0.1; yield (base url, token); stop it at the end."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(_lab_settings(workdir)),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
    )
    log = open(workdir / "jupyterlab.log", "wb")  # closed in the finally below
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
        "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={workdir / 'nb'}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir / "nb")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited at start:\n{(workdir / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer within 60 s")
            time.sleep(0.3)
        yield base, token
    finally:
        proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _wait_clip_change(page, before: str, timeout: float = 15_000) -> str:
    page.wait_for_function(
        "b => { const r = document.querySelector('.alw-root'); return r && r.dataset.clip && r.dataset.clip !== b; }",
        arg=before,
        timeout=timeout,
    )
    return page.evaluate("document.querySelector('.alw-root').dataset.clip")


def _cells(page) -> list[tuple[str, str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c => [
            c.classList.contains('jp-MarkdownCell') ? 'markdown' : c.classList.contains('jp-CodeCell') ? 'code' : 'raw',
            (c.querySelector('.jp-InputArea-editor .cm-content') || {}).innerText || ''])"""
    )


def test_label_in_jupyterlab_with_clicks_and_keys(browser_ready, tmp_path):
    from playwright.sync_api import sync_playwright

    (tmp_path / "nb").mkdir()
    _write_notebook(tmp_path / "nb" / "widget.ipynb")
    with jupyterlab(tmp_path) as (base, token), sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            page = ctx.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base}/lab/tree/widget.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_function(
                "() => (document.querySelector('#jp-main-statusbar') || {}).innerText?.includes('Idle')",
                timeout=60_000,
            )
            dialog = page.locator(".jp-Dialog-button.jp-mod-accept")
            if dialog.count():
                dialog.first.click()
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            page.wait_for_function(
                "() => { const r = document.querySelector('.alw-root'); return r && r.dataset.clip; }",
                timeout=90_000,
            )
            cells_before = _cells(page)
            assert cells_before and all(kind == "code" for kind, _ in cells_before)
            # the widget takes focus when shown and says so
            page.wait_for_function(
                "() => document.activeElement && document.activeElement.closest('.alw-root') !== null", timeout=5_000
            )
            assert "keys active" in page.inner_text(".alw-focus")
            plot_before = page.get_attribute(".alw-plot", "src")

            meta = json.loads((tmp_path / "nb" / "meta.json").read_text())  # written by the kernel
            truth, classes = meta["labels"], sorted(set(meta["labels"]))
            clip = page.evaluate("document.querySelector('.alw-root').dataset.clip")
            for _ in range(2):  # click the class buttons (the true class of the clip on screen)
                page.locator(f'.alw-class[data-class="{truth[int(clip)]}"]').click()
                clip = _wait_clip_change(page, clip)
            assert page.evaluate("document.activeElement.closest('.alw-root') !== null")  # focus stays
            for _ in range(4):  # number keys
                page.keyboard.press(str(classes.index(truth[int(clip)]) + 1))
                clip = _wait_clip_change(page, clip)
            skipped = clip
            page.keyboard.press("s")
            clip = _wait_clip_change(page, clip)
            page.keyboard.press("u")  # undo the skip: that clip comes back
            clip = _wait_clip_change(page, clip)
            assert clip == skipped
            page.wait_for_function(
                "() => document.querySelector('.alw-progress').innerText.startsWith('6 / 60 labelled')"
            )

            # keys that are JupyterLab command-mode shortcuts (to markdown, insert above / below)
            # do nothing while the widget has focus
            for key in ("m", "a", "b"):
                page.keyboard.press(key)
            page.wait_for_timeout(300)
            # JupyterLab's cells were not touched by the keys (no heading, no new or deleted cell)
            assert _cells(page) == cells_before
            assert page.evaluate("document.querySelector('.alw-root').dataset.clip") == clip
            # the clip's audio is loaded in an <audio> element
            page.wait_for_function(
                "() => { const a = document.querySelector('audio.alw-audio');"
                " return a && a.src.startsWith('blob:') && a.readyState >= 1 && a.duration > 0; }"
            )
            # demo mode: auto-label a few clips from the oracle, animating the curve
            page.fill(".alw-auto-n", str(N_AUTO))
            page.click(".alw-auto")
            page.wait_for_function(
                f"() => document.querySelector('.alw-auto-text').innerText === 'auto-labelled {N_AUTO}'",
                timeout=90_000,
            )
            page.wait_for_function("() => document.querySelector('.alw-root').dataset.training === '0'")
            page.wait_for_function(
                "() => document.querySelector('.alw-guess-row') !== null"
            )  # the model's guess is shown
            assert page.get_attribute(".alw-plot", "src") != plot_before
            assert page.inner_text(".alw-model").startswith("model v")
            assert page.inner_text(".alw-error-text") == ""
            shot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "widget.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.locator(".alw-root").screenshot(path=str(shot))
        finally:
            ctx.close()

    assert 10_000 < shot.stat().st_size < 300_000  # a real picture, not a blank box, small enough for the README
    # the labels reached the kernel: replay the journal it wrote
    from alwidget import ActiveLearner

    replayed = ActiveLearner.from_journal(
        tmp_path / "nb" / "journal.jsonl", np.zeros((meta["n_pool"], meta["dim"]), dtype=np.float32)
    )
    try:
        labels = replayed.labels
        assert len(labels) == 6 + N_AUTO
        kinds = [e.kind for e in replayed.history]
        assert kinds.count("teach") == 6 + N_AUTO and kinds.count("skip") == 1 and kinds.count("undo") == 1
        assert all(truth[i] == y for i, y in labels.items())  # each label went to the clip it was given for
    finally:
        replayed.close_journal()
