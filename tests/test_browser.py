"""End to end: the labelling widget in JupyterLab 4, Notebook 7 and Voila, driven by headless Chromium.

One server per host (free port on 127.0.0.1, stopped at the end) runs a
notebook that shows a LabelingWidget over generated sounds (demo mode, with a
journal). In each host the test

- labels with clicks and number keys, skips, undoes and answers "unsure" (?);
- searches by example (key f), labels the results with the same keys and
  goes back to active learning; reviews the labels (key r) and keeps one;
  checks a class's detections by score bin and sees the bin's tally;
- presses every notebook command-mode shortcut (m, a, b, d d, y, z, x, c, v,
  Enter, Escape) on its own while the widget has focus and checks after each
  that the notebook's cells (Voila: the page and the labels) are unchanged and
  that the widget kept focus;
- types into the class box and the auto-label count (keys go to the box, no
  label is given, the badge says so), and checks that after clicking
  "auto-label" the number keys label again without typing into the box;
- checks that the plot is visible and not clipped at 700 px and 360 px wide,
  with text drawn at its CSS size, and that text has WCAG AA contrast in the
  light and the dark theme;
- re-runs the cell (JupyterLab, Notebook 7) or reloads the page (Voila: a new
  kernel, the old one still holds the journal) and checks that every label is
  back;
- saves a screenshot per host and theme (to ``$ALWIDGET_SCREENSHOT_DIR`` if
  set, names in ``SCREENSHOTS``: ``ALWIDGET_SCREENSHOT_DIR=docs`` refreshes
  the pictures in docs/; tests/test_docs_images.py checks that each one the
  docs show is made here or by a notebook).

One more labels a 6-clip pool to its end in Voila (a skip, a click, number keys):
the session's summary (title, labels per class, accuracy line, skipped count,
next steps, "review labels") replaces the clip, the class buttons are
disabled, and undo (u) brings the last clip back with the buttons.

Two more tests run README.md's Quickstart exactly as written (its code block,
one cell per paragraph, over generated sounds of its classes in its folder):
in Voila, three labels given with key 1 survive a page reload (a new kernel
takes the journal over from the old one) and a second tab (which takes it over
again; the older tab then refuses key 1 and writes nothing); in JupyterLab, a
re-run of the cells, a second tab on the same kernel and a kernel restart.
The journal on disk holds each label once, from one writer.

Needs Chromium (``apt-get install chromium``), Playwright for Python,
JupyterLab, Notebook 7 and Voila; skipped without them, except when
``CI=true``, where it fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from _support import CHROMIUM, CHROMIUM_ARGS, free_port, require

pytestmark = pytest.mark.browser

# Set ALWIDGET_SCREENSHOT_DIR=docs to refresh the README's pictures (JupyterLab:
# widget.png, widget-dark.png; other hosts: widget-<host>[-dark].png); by
# default screenshots go to the test's temporary folder.
SCREENSHOT_DIR = os.environ.get("ALWIDGET_SCREENSHOT_DIR")
N_PER_CLASS = 10
N_POOL = 6 * N_PER_CLASS
SHORTCUTS = ["m", "a", "b", "d d", "y", "z", "x", "c", "v", "Enter", "Escape"]

NOTEBOOK_CODE = f"""\
import json
from pathlib import Path
from alwidget import ActiveLearner
from alwidget.datasets import make_sounds
from alwidget.widget import LabelingWidget

ds = make_sounds(n_per_class={N_PER_CLASS}, seed=0)
X = ds.embed("logmel", progress=False, cache_dir=False)
learner = ActiveLearner(X, sorted(set(ds.labels)))
Path("meta.json").write_text(json.dumps({{"n_pool": X.shape[0], "dim": X.shape[1], "labels": ds.labels}}))
widget = LabelingWidget(learner, ds, oracle=ds.labels, journal="journal.jsonl")
widget"""
SECOND_CELL = "x = 1  # a second cell: a leaked 'd d', 'x' or 'm' would change the notebook"

MODULES = {"lab": "jupyterlab", "notebook": "notebook", "voila": "voila"}


def _missing(host: str) -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install playwright; never `playwright install`)"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return "Chromium is not installed (apt-get install -y chromium)"
    if importlib.util.find_spec(MODULES[host]) is None:
        return f"{MODULES[host]} is not installed (pip install -e .[test])"
    return None


def _require(host: str) -> None:
    require(_missing(host))


def _write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CODE), nbformat.v4.new_code_cell(SECOND_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _lab_settings(root: Path) -> Path:
    """User settings that switch off JupyterLab's / Notebook 7's kernel and news dialogs."""
    settings = root / "lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    notes = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    docs = settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    for path in (tracker, notes, docs):
        path.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"autoStartDefaultKernel": True}))
    notes.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # no autosave: a notebook opened in a second tab starts without the first tab's outputs (its widgets)
    docs.write_text(json.dumps({"autosave": False}))
    return settings


@contextlib.contextmanager
def _server(host: str, workdir: Path, notebook: str = "widget.ipynb", env_extra: dict | None = None):
    """Run ``host`` on a free port of 127.0.0.1 in ``workdir/nb``; yield ``notebook``'s URL; stop it at the end."""
    port, token = free_port(), secrets.token_hex(16)
    nbdir = workdir / "nb"
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(_lab_settings(workdir)),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        **(env_extra or {}),
    )
    common = [
        "--no-browser", f"--port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
    ]  # fmt: skip
    if host == "voila":
        cmd = [
            sys.executable, "-m", "voila", notebook, "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
            "--show_tracebacks=True",  # a failing cell shows its exception, not just "There was an error"
        ]  # fmt: skip
        # Voila answers every page request by starting a kernel that runs the notebook (and opens
        # its journal): poll a URL that starts none. Any HTTP answer means the server is up.
        base, url, status = (
            f"http://127.0.0.1:{port}",
            f"http://127.0.0.1:{port}/",
            f"http://127.0.0.1:{port}/api/status",
        )
    else:
        module = "jupyterlab" if host == "lab" else "notebook"
        cmd = [
            sys.executable, "-m", module, "--allow-root", *common, f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={nbdir}",
        ]  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        path = "lab/tree" if host == "lab" else "notebooks"
        url = f"{base}/{path}/{notebook}?token={token}"
        status = f"{base}/api/status?token={token}"
    log_path = workdir / f"{host}.log"
    log = open(log_path, "wb")  # closed in the finally below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=nbdir)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{host} exited at start:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(status, timeout=2) as r:
                    if r.status == 200:
                        break
            except urllib.error.HTTPError:  # an answer (a login redirect, 404): the server is up
                break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{host} did not answer within 60 s")
            time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for every host (a fresh profile)."""
    _require("lab")
    from playwright.sync_api import sync_playwright

    import tempfile

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield ctx
        finally:
            ctx.close()


# ---------------------------------------------------------------------- page helpers
ROOT = "document.querySelector('.alw-root')"


def _clip(page) -> str:
    return page.evaluate(f"({ROOT} || {{dataset: {{}}}}).dataset.clip || ''")


def _wait_clip_change(page, before: str, timeout: float = 60_000) -> str:
    # generous: this checks behaviour, not speed (benchmarks/perf/bench_widget.py times it); on a loaded
    # 2-core machine the first retrain in a fresh kernel (numba warm-up) can take many seconds
    try:
        page.wait_for_function(
            "b => { const r = document.querySelector('.alw-root'); "
            "return r && r.dataset.clip && r.dataset.clip !== b; }",
            arg=before,
            timeout=timeout,
        )
    except Exception as exc:
        state = page.evaluate(
            "() => { const r = document.querySelector('.alw-root'); if (!r) return 'no widget';"
            " return JSON.stringify({clip: r.dataset.clip, text: r.innerText.slice(0, 600)}); }"
        )
        raise AssertionError(f"the clip on screen stayed {before!r}; widget: {state}") from exc
    return _clip(page)


def _n_labeled(page) -> int:
    return int(page.inner_text(".alw-progress").split("/")[0])


def _wait_n_labeled(page, n: int, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "n => { const p = document.querySelector('.alw-progress'); return p && p.innerText.startsWith(n + ' / '); }",
        arg=n,
        timeout=timeout,
    )


def _cells(page) -> list[tuple[str, str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c => [
            c.classList.contains('jp-MarkdownCell') ? 'markdown' : c.classList.contains('jp-CodeCell') ? 'code' : 'raw',
            (c.querySelector('.jp-InputArea-editor .cm-content') || {}).innerText || ''])"""
    )


def _focus_in_widget(page) -> bool:
    return page.evaluate("() => !!(document.activeElement && document.activeElement.closest('.alw-root'))")


def _run_all(page) -> None:
    """Run every cell from the Run menu (JupyterLab and Notebook 7 share it)."""
    dialog = page.locator(".jp-Dialog-button.jp-mod-accept")
    if dialog.count():
        dialog.first.click()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


# JupyterLab: the status bar says "| Idle"; Notebook 7: the toolbar's execution indicator
KERNEL_IDLE_JS = """host => {
    if (host === 'lab') return ((document.querySelector('#jp-main-statusbar') || {}).innerText || '').includes('Idle');
    const i = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return !!i && i.dataset.status === 'idle';
}"""


# the first cell is running or has run: its prompt shows [*] or [1]
STARTED_JS = """() => {
    const prompt = document.querySelector('.jp-Notebook .jp-Cell .jp-InputPrompt');
    return /\\[(\\*|\\d+)\\]/.test((prompt || {}).innerText || '');
}"""


def _open(page, host: str, url: str) -> None:
    page.goto(url)
    if host != "voila":
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_function(KERNEL_IDLE_JS, arg=host, timeout=60_000)
        for attempt in range(3):  # a "Run All" sent while the kernel is still connecting can be lost: check
            _run_all(page)
            try:
                page.wait_for_function(STARTED_JS, timeout=15_000)
                break
            except Exception:
                if attempt == 2:
                    raise
    page.wait_for_function(f"() => {{ const r = {ROOT}; return r && r.dataset.clip; }}", timeout=120_000)


def _set_dark(page, host: str, url: str) -> None:
    if host != "voila":  # Voila: the page was reloaded with ?theme=dark above
        page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
        page.locator(".lm-Menu-itemLabel", has_text="JupyterLab Dark").first.click()
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_timeout(300)


TRAINING_LOG_JS = """() => {
    const root = document.querySelector('.alw-root');
    window.__alwTraining = [[performance.now(), root.dataset.trainingShown || '0']];
    new MutationObserver(() => {
        const log = window.__alwTraining, v = root.dataset.trainingShown;
        if (log[log.length - 1][1] !== v) log.push([performance.now(), v]);
    }).observe(root, { attributes: true, attributeFilter: ['data-training-shown'] });
}"""

CONTRAST_JS = """
() => {
  const parse = (c) => {
    const m = c.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bgOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const out = {};
  const root = document.querySelector('.alw-root');
  root.focus();
  for (const sel of ['.alw-focus', '.alw-progress', '.alw-rate', '.alw-model', '.alw-count', '.alw-key',
                     '.alw-class-name', '.alw-help', '.alw-clip-index', '.alw-guess-title', '.alw-legend-item',
                     '.alw-freq-axis .alw-tick', '.alw-plot .alw-axis-text']) {
    const el = root.querySelector(sel);
    if (!el || !el.getClientRects().length) continue;
    const cs = getComputedStyle(el);
    let fg = parse(el instanceof SVGElement ? cs.fill : cs.color);
    const bg = sel.includes('alw-tick') ? null : bgOf(el);
    if (!bg) continue;  // tick labels sit on the panel background too
    if (fg[3] < 1) fg = fg.map((v, i) => i < 3 ? v * fg[3] + bg[i] * (1 - fg[3]) : 1);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out[sel] = Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100;
  }
  return out;
}
"""

LAYOUT_JS = """
() => {
  const root = document.querySelector('.alw-root');
  const svg = root.querySelector('svg.alw-plot');
  const r = root.getBoundingClientRect(), p = svg.getBoundingClientRect();
  const vb = svg.viewBox.baseVal;
  const text = svg.querySelector('.alw-axis-text');
  let clipper = null;  // nearest ancestor that clips overflow
  for (let e = root.parentElement; e; e = e.parentElement) {
    const o = getComputedStyle(e);
    if (o.overflowX !== 'visible') { clipper = e.getBoundingClientRect(); break; }
  }
  return {
    root: [r.left, r.right], plot: [p.left, p.right, p.width, p.height], vw: innerWidth,
    clip: clipper ? [clipper.left, clipper.right] : [0, innerWidth],
    overflow: root.scrollWidth - root.clientWidth, scale: vb && vb.width ? p.width / vb.width : 0,
    font: text ? parseFloat(getComputedStyle(text).fontSize) : 0,
    columns: getComputedStyle(root.querySelector('.alw-body')).gridTemplateColumns.split(' ').length,
  };
}
"""


def _check_layout(page, width: int) -> dict:
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_timeout(400)
    page.locator(".alw-root").scroll_into_view_if_needed()
    m = page.evaluate(LAYOUT_JS)
    left, right = max(m["clip"][0], 0), min(m["clip"][1], m["vw"])
    assert m["plot"][2] > 150 and m["plot"][3] > 100, m  # visible, not squashed
    assert left - 1 <= m["plot"][0] and m["plot"][1] <= right + 1, m  # not clipped
    assert m["root"][1] <= right + 1 and m["overflow"] <= 1, m  # nothing sticks out of the panel
    assert 0.95 < m["scale"] < 1.05 and m["font"] >= 11, m  # drawn at CSS size: 11 px text, not a shrunk picture
    return m


# The screenshot each host and theme saves: with ALWIDGET_SCREENSHOT_DIR=docs these are the files in docs/
# (tests/test_docs_images.py checks that every picture README.md shows is one of them, or made by a notebook).
SCREENSHOTS = {
    ("lab", "light"): "widget.png",
    ("lab", "dark"): "widget-dark.png",
    ("notebook", "light"): "widget-notebook.png",
    ("notebook", "dark"): "widget-notebook-dark.png",
    ("voila", "light"): "widget-voila.png",
    ("voila", "dark"): "widget-voila-dark.png",
}


def _screenshot(page, host: str, theme: str, tmp_path: Path) -> Path:
    name = SCREENSHOTS[host, theme]
    shot = Path(SCREENSHOT_DIR) / name if SCREENSHOT_DIR else tmp_path / name
    shot.parent.mkdir(parents=True, exist_ok=True)
    # a calm picture: no "training…" for a second and a half (a retrain can start right after one ends)
    page.evaluate("() => { window.__alwCalmSince = performance.now(); }")
    page.wait_for_function(
        f"""() => {{ const now = performance.now();
                    if ({ROOT}.dataset.trainingShown !== '0') {{ window.__alwCalmSince = now; return false; }}
                    return now - window.__alwCalmSince > 1500; }}""",
        timeout=60_000,
    )
    page.locator(".alw-root").screenshot(path=str(shot))
    assert 10_000 < shot.stat().st_size < 400_000  # a real picture, not a blank box
    return shot


# ---------------------------------------------------------------------- the test, once per host
@pytest.mark.parametrize("host", ["lab", "notebook", "voila"])
def test_widget_in_host(browser, host, tmp_path):
    _require(host)
    (tmp_path / "nb").mkdir()
    _write_notebook(tmp_path / "nb" / "widget.ipynb")
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.set_viewport_size({"width": 1280, "height": 1000})
    try:
        with _server(host, tmp_path) as url:
            n = _exercise(page, host, url, tmp_path)
    finally:
        page.close()

    # the labels reached the kernel: replay the journal it wrote (the server is stopped: the lock is free)
    from alwidget import ActiveLearner

    meta = json.loads((tmp_path / "nb" / "meta.json").read_text())
    truth = meta["labels"]
    replayed = ActiveLearner.from_journal(
        tmp_path / "nb" / "journal.jsonl", np.zeros((meta["n_pool"], meta["dim"]), dtype=np.float32)
    )
    try:
        labels = replayed.labels
        assert len(labels) == n
        kinds = [e.kind for e in replayed.history]
        assert kinds.count("skip") == 1 and kinds.count("undo") == 1 and kinds.count("unsure") == 1
        assert all(truth[i] == y for i, y in labels.items())  # each label went to the clip it was given for
        assert list(replayed.label_modes.values()).count("search") == 2  # the search results, with their mode
    finally:
        replayed.close_journal()


def _exercise(page, host: str, url: str, tmp_path: Path) -> int:
    """Every check in one host; returns the number of labels given."""
    _open(page, host, url)
    cells_before = _cells(page) if host != "voila" else []
    if host != "voila":
        assert len(cells_before) == 2 and all(kind == "code" for kind, _ in cells_before)
    # the widget takes focus when shown and says so
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.closest('.alw-root') !== null", timeout=5_000
    )
    assert "keys active" in page.inner_text(".alw-focus")

    # record when "training…" is shown and hidden (it must never flash for less than 500 ms)
    page.evaluate(TRAINING_LOG_JS)
    meta = json.loads((tmp_path / "nb" / "meta.json").read_text())  # written by the kernel
    truth, classes = meta["labels"], sorted(set(meta["labels"]))
    clip = _clip(page)
    for _ in range(2):  # click the class buttons (the true class of the clip on screen)
        page.locator(f'.alw-class[data-class="{truth[int(clip)]}"]').click()
        clip = _wait_clip_change(page, clip)
    assert _focus_in_widget(page)  # focus stays
    for _ in range(2):  # number keys
        page.keyboard.press(str(classes.index(truth[int(clip)]) + 1))
        clip = _wait_clip_change(page, clip)
    skipped = clip
    page.keyboard.press("s")
    clip = _wait_clip_change(page, clip)
    page.keyboard.press("u")  # undo the skip: that clip comes back
    clip = _wait_clip_change(page, clip)
    assert clip == skipped
    _wait_n_labeled(page, 4)
    page.keyboard.press("?")  # "unsure": the next clip comes, the progress line counts it
    clip = _wait_clip_change(page, clip)
    page.wait_for_function("() => document.querySelector('.alw-progress').innerText.includes('1 unsure')")

    # every notebook shortcut, one at a time, while the widget has focus: nothing changes
    for key in SHORTCUTS:
        for k in key.split():
            page.keyboard.press(k)
        page.wait_for_timeout(150)
        if host != "voila":
            assert _cells(page) == cells_before, f"{key!r} changed the notebook in {host}"
            assert not page.evaluate("() => !!document.querySelector('.jp-Notebook.jp-mod-editMode')"), key
        assert _focus_in_widget(page), f"{key!r} took focus away from the widget in {host}"
        assert _n_labeled(page) == 4 and _clip(page) == clip, key
        assert page.evaluate("document.querySelectorAll('.alw-root').length") == 1

    # text boxes keep their keys: typing a class name never labels, and the badge says where keys go
    page.click(".alw-add-input")
    assert page.evaluate(f"{ROOT}.dataset.keys") == "typing" and "typing" in page.inner_text(".alw-focus")
    page.keyboard.type("m1s2 dd")
    assert page.input_value(".alw-add-input") == "m1s2 dd"
    assert _n_labeled(page) == 4 and _clip(page) == clip
    if host != "voila":
        assert _cells(page) == cells_before
    page.keyboard.press("Escape")  # back to label keys
    assert page.evaluate(f"{ROOT}.dataset.keys") == "widget" and "keys active" in page.inner_text(".alw-focus")
    page.fill(".alw-add-input", "")

    # demo: type a count, click auto-label: the keys go back to the widget, not into the count box
    page.fill(".alw-auto-n", "3")
    assert page.evaluate(f"{ROOT}.dataset.keys") == "typing"
    page.click(".alw-auto")
    page.wait_for_function("() => document.querySelector('.alw-auto-text').innerText === 'auto-labelled 3'")
    assert page.evaluate(f"{ROOT}.dataset.keys") == "widget"
    clip = _clip(page)
    page.keyboard.press(str(classes.index(truth[int(clip)]) + 1))
    clip = _wait_clip_change(page, clip)
    _wait_n_labeled(page, 8)
    assert page.input_value(".alw-auto-n") == "3"  # not "31"
    page.wait_for_function("() => document.querySelector('.alw-guess-row') !== null")  # the model's guess
    page.wait_for_function(f"() => Number({ROOT}.dataset.plotSeries) >= 2")  # accuracy and baseline curves
    assert page.inner_text(".alw-model").startswith("model trained on ")
    assert page.inner_text(".alw-error-text") == ""
    # the spectrogram has its axes
    assert page.locator(".alw-time-axis .alw-tick").count() >= 2
    assert page.locator(".alw-freq-axis .alw-tick").count() >= 2
    page.keyboard.press(" ")  # replay: the playhead follows the audio
    page.wait_for_function(f"() => {ROOT}.dataset.playhead !== ''")

    page.wait_for_function(f"() => {ROOT}.dataset.trainingShown === '0'")
    shown = page.evaluate(
        """() => { const log = window.__alwTraining, out = [];
                   for (let i = 1; i < log.length; i++) if (log[i - 1][1] === '1') out.push(log[i][0] - log[i - 1][0]);
                   return out; }"""
    )
    assert all(ms >= 480 for ms in shown), shown  # timers may fire a few ms early

    # search mode: "find more like this" (f) on the clip on screen, label with the same keys, then back
    clip = _clip(page)
    n = _n_labeled(page)
    page.keyboard.press("f")
    page.wait_for_function(f"() => {ROOT}.dataset.mode === 'search'", timeout=60_000)
    if host != "voila":
        assert _cells(page) == cells_before, f"'f' changed the notebook in {host}"
    clip = _wait_clip_change(page, clip)  # the first result replaces the query on screen
    assert "search: like clip" in page.inner_text(".alw-search")
    page.keyboard.press(str(classes.index(truth[int(clip)]) + 1))  # a search result
    clip = _wait_clip_change(page, clip)
    page.keyboard.press(str(classes.index(truth[int(clip)]) + 1))  # and the next one
    clip = _wait_clip_change(page, clip)
    _wait_n_labeled(page, n + 2)
    assert page.evaluate(f"{ROOT}.dataset.mode") == "search" and _focus_in_widget(page)
    page.click(".alw-back")
    page.wait_for_function(f"() => {ROOT}.dataset.mode === 'active'")
    page.locator(".alw-root").focus()

    # label review (r): the labels given so far, most doubtful first; the right class keeps or fixes each
    n = _n_labeled(page)
    page.keyboard.press("r")
    page.wait_for_function(f"() => {ROOT}.dataset.mode === 'review'", timeout=60_000)
    assert "label review:" in page.inner_text(".alw-search") and "labelled" in page.inner_text(".alw-given")
    clip = _clip(page)
    page.keyboard.press(str(classes.index(truth[int(clip)]) + 1))  # the true class: kept (or fixed)
    _wait_clip_change(page, clip)
    assert _n_labeled(page) == n
    page.click(".alw-back")
    page.wait_for_function(f"() => {ROOT}.dataset.mode === 'active'")

    # detection review: pick a class, check a sample of its detections by score bin, answer with a class key
    page.select_option(".alw-detect-class", classes[0])
    page.click(".alw-detect")
    page.wait_for_function(
        f"() => {ROOT}.dataset.mode === 'review' && document.querySelectorAll('.alw-bin').length >= 3"
    )
    assert page.inner_text(".alw-bin-all").startswith(f"precision of detections (predicted {classes[0]}): ")
    assert "detection review:" in page.inner_text(".alw-search")
    clip = _clip(page)
    answer = truth[int(clip)]
    page.keyboard.press(str(classes.index(answer) + 1))
    _wait_clip_change(page, clip)
    said = "1 yes" if answer == classes[0] else "1 no"
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.alw-bin')].some(b => b.innerText.includes('{said}'))"
    )
    _wait_n_labeled(page, n + 1)
    page.click(".alw-back")
    page.wait_for_function(f"() => {ROOT}.dataset.mode === 'active'")
    page.locator(".alw-root").focus()

    # light theme: readable, laid out at three widths, screenshot
    contrast = page.evaluate(CONTRAST_JS)
    assert len(contrast) >= 8 and min(contrast.values()) >= 4.5, contrast
    _screenshot(page, host, "light", tmp_path)
    wide = _check_layout(page, 700)  # JupyterLab: with the file browser open beside the notebook
    if host == "lab":  # at 360 px the file browser would take the whole width: close it, with its own shortcut
        assert page.evaluate("() => !document.querySelector('#jp-left-stack').classList.contains('lm-mod-hidden')")
        page.keyboard.press("Control+b")  # Ctrl / Cmd combinations still reach JupyterLab from the widget
        page.wait_for_function("() => document.querySelector('#jp-left-stack').classList.contains('lm-mod-hidden')")
    narrow = _check_layout(page, 360)
    assert narrow["columns"] == 1  # one column on a narrow panel
    assert wide["plot"][2] > 150
    page.set_viewport_size({"width": 1280, "height": 1000})

    # resume: re-run the cell (a new widget in the same kernel) or reload the page (a new kernel)
    n = _n_labeled(page)
    if host == "voila":
        # a second tab: a new kernel, which takes the journal over from this page's kernel and resumes
        other = page.context.new_page()
        try:
            other.goto(url)
            other.wait_for_function(f"() => {{ const r = {ROOT}; return r && r.dataset.clip; }}", timeout=120_000)
            _wait_n_labeled(other, n)
            assert other.inner_text(".alw-blocked") == ""
        finally:
            other.close()
        # this page is stale now: a key press is refused, and the widget says why and what to do
        page.bring_to_front()
        page.locator(".alw-root").focus()
        page.keyboard.press("1")
        page.wait_for_selector(".alw-blocked.alw-on")
        stale = page.inner_text(".alw-blocked")
        assert "taken over" in stale and ("newest session" in stale or "reload" in stale), stale
        assert _n_labeled(page) == n
        page.goto(url + "?theme=dark")  # reload this page (in the dark theme, which is checked below)
        page.wait_for_function(f"() => {{ const r = {ROOT}; return r && r.dataset.clip; }}", timeout=120_000)
    else:
        page.evaluate(f"{ROOT}.dataset.old = '1'")
        _run_all(page)
        page.wait_for_function(
            "() => { const r = document.querySelector('.alw-root'); return r && !r.dataset.old && r.dataset.clip; }",
            timeout=120_000,
        )
    _wait_n_labeled(page, n)
    assert page.inner_text(".alw-blocked") == "" and page.inner_text(".alw-error-text") == ""
    # the curve is rebuilt from the journal (a point per few labels, not just the newest model's) and so is the rate
    # the curve is rebuilt in the background after the reload; with a benchmark on the other core it took over 30 s
    page.wait_for_function(
        "() => document.querySelectorAll('.alw-plot .alw-series-active circle').length >= 5", timeout=120_000
    )
    # the rate goes on from the journal (tests/test_session.py); it is shown once 10 labels took 2 minutes
    rate = page.inner_text(".alw-rate")
    assert rate == "" or rate.endswith("labels/min"), rate
    clip = _clip(page)
    page.keyboard.press(str(classes.index(truth[int(clip)]) + 1))  # and labelling goes on
    _wait_n_labeled(page, n + 1)

    # dark theme
    _set_dark(page, host, url)
    _wait_n_labeled(page, n + 1)
    # the curve is rebuilt in the background after the reload; with a benchmark on the other core it took over 30 s
    page.wait_for_function(
        "() => document.querySelectorAll('.alw-plot .alw-series-active circle').length >= 5", timeout=120_000
    )
    contrast = page.evaluate(CONTRAST_JS)
    assert len(contrast) >= 8 and min(contrast.values()) >= 4.5, contrast
    _screenshot(page, host, "dark", tmp_path)

    return n + 1


# ---------------------------------------------------------------------- the end of the pool, in Voila
POOL_END_NB = "pool_end.ipynb"
POOL_END_CODE = """\
import json
from pathlib import Path
from alwidget import ActiveLearner
from alwidget.datasets import make_sounds
from alwidget.widget import LabelingWidget

ds = make_sounds(n_per_class=2, classes=["bird", "bell", "engine"], seed=0)
X = ds.embed("logmel", progress=False, cache_dir=False)
learner = ActiveLearner(X, sorted(set(ds.labels)))
Path("meta.json").write_text(json.dumps({"labels": ds.labels, "classes": list(learner.classes)}))
LabelingWidget(learner, ds)"""


def test_pool_end_summary_in_voila(browser, tmp_path):
    """A 6-clip pool labelled to its end in Voila: the summary replaces the clip, the class buttons are disabled,
    and undo brings the last clip back (the session's words: alwidget/session/_summary.py)."""
    import nbformat

    _require("voila")
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(POOL_END_CODE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbdir / POOL_END_NB)
    page = browser.new_page()
    page.set_default_timeout(30_000)
    try:
        with _server("voila", tmp_path, POOL_END_NB) as url:
            page.goto(url)
            _wait_widget(page, "first load")
            meta = json.loads((nbdir / "meta.json").read_text())  # written by the kernel
            truth, classes = meta["labels"], meta["classes"]
            assert len(truth) == 6
            assert page.evaluate(f"{ROOT}.dataset.poolDone") == "0" and not page.locator(".alw-end").is_visible()
            page.locator(".alw-root").focus()
            clip = _clip(page)
            page.keyboard.press("s")  # one clip set aside
            clip = _wait_clip_change(page, clip)
            labelled = [truth[int(clip)]]
            page.locator(f'.alw-class[data-class="{labelled[0]}"]').click()  # one label by a click
            clip = _wait_clip_change(page, clip)
            for _ in range(3):  # and number keys, up to the last clip
                labelled.append(truth[int(clip)])
                page.keyboard.press(str(classes.index(labelled[-1]) + 1))
                clip = _wait_clip_change(page, clip)
            last = clip
            labelled.append(truth[int(last)])
            page.keyboard.press(str(classes.index(labelled[-1]) + 1))  # the last clip: the pool is done
            page.wait_for_selector(".alw-end .alw-end-title", state="visible", timeout=60_000)

            # the summary, in the session's words, in place of the clip
            assert page.evaluate(f"{ROOT}.dataset.poolDone") == "1" and _clip(page) == ""
            assert page.inner_text(".alw-clip") == "pool finished"
            assert page.inner_text(".alw-end-title") == "every clip is labelled or set aside"
            lines = page.locator(".alw-end-line").all_inner_texts()
            per_class = " \u00b7 ".join(f"{c} {labelled.count(c)}" for c in classes)
            assert lines[0] == f"5 labels: {per_class}", lines
            assert "accuracy" in lines[1], lines  # an estimate, or why there is none
            assert lines[-1] == "1 clip skipped", lines
            steps = page.locator(".alw-end-step").all_inner_texts()
            assert "what next" in page.inner_text(".alw-end-next")
            assert any("review your labels" in t for t in steps) and any("export_labels" in t for t in steps), steps
            assert any("revisit the 1 skipped clip" in t for t in steps), steps
            assert page.locator(".alw-end-review").is_visible() and page.locator(".alw-end-review").is_enabled()
            # nothing to label: the class buttons (and skip) are disabled, a number key does nothing
            buttons = page.locator(".alw-class")
            assert buttons.count() == len(classes)
            assert all(buttons.nth(k).is_disabled() for k in range(len(classes)))
            assert page.locator(".alw-skip").is_disabled() and page.locator(".alw-undo").is_enabled()
            page.locator(".alw-root").focus()
            page.keyboard.press("1")
            page.wait_for_timeout(300)
            assert _n_labeled(page) == 5 and page.locator(".alw-end").is_visible()

            # undo (key u): the last clip comes back, the summary goes, the class buttons work again
            page.keyboard.press("u")
            page.wait_for_function(f"c => {ROOT}.dataset.clip === c", arg=last, timeout=60_000)
            page.wait_for_selector(".alw-end", state="hidden")
            assert page.evaluate(f"{ROOT}.dataset.poolDone") == "0"
            _wait_n_labeled(page, 4)
            assert page.locator(".alw-clip-name").is_visible()
            assert all(buttons.nth(k).is_enabled() for k in range(len(classes)))
            page.locator(f'.alw-class[data-class="{labelled[-1]}"]').click()  # and labelling it again ends it again
            page.wait_for_selector(".alw-end .alw-end-title", state="visible", timeout=60_000)
            _wait_n_labeled(page, 5)
    finally:
        page.close()


# ---------------------------------------------------------------------- README's Quickstart, exactly as written
README = Path(__file__).resolve().parent.parent / "README.md"
QUICKSTART_NB = "quickstart.ipynb"
ERROR_SIGNS = ["There was an error when executing cell", "Traceback (most recent call last)", "JournalLockedError"]


def _quickstart() -> tuple[list[str], dict]:
    """README's Quickstart code, one notebook cell per paragraph, and the folder, classes and journal it names."""
    import ast
    import re

    text = README.read_text(encoding="utf-8")
    assert "\n## Quickstart\n" in text, "README.md has no '## Quickstart' section"
    match = re.search(r"```python\n(.*?)```", text.split("\n## Quickstart\n", 1)[1], re.S)
    assert match, "README.md's Quickstart has no ```python block"
    code = match.group(1)
    cells = [c.strip("\n") for c in re.split(r"\n[ \t]*\n", code) if c.strip()]
    names: dict = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            f = node.func
            called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if called == "from_folder":
                names["folder"] = ast.literal_eval(node.args[0])
            elif called == "ActiveLearner":
                names["classes"] = ast.literal_eval(node.args[1])
                names["journal"] = ast.literal_eval(next(k.value for k in node.keywords if k.arg == "journal"))
    assert set(names) == {"folder", "classes", "journal"}, f"the Quickstart changed shape; found {names}"
    shows = [
        c for c in cells
        if isinstance(last := ast.parse(c).body[-1], ast.Expr)
        and isinstance(last.value, ast.Call)
        and getattr(last.value.func, "id", "") == "LabelingWidget"
    ]  # fmt: skip
    assert len(shows) == 1, f"no Quickstart paragraph ends with LabelingWidget(...), so no cell shows it: {cells}"
    return cells, names


def _quickstart_setup(tmp_path: Path) -> tuple[dict, Path, dict]:
    """The Quickstart's folder filled with generated sounds of its classes, and its cells as a notebook."""
    import nbformat

    from alwidget import make_sounds

    cells, names = _quickstart()
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_sounds(n_per_class=8, classes=names["classes"], path=nbdir / names["folder"], seed=0)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbdir / QUICKSTART_NB)
    env = {"ALWIDGET_CACHE_DIR": str(tmp_path / "cache")}  # ds.embed("logmel")'s disk cache: not in the home folder
    return names, nbdir / names["journal"], env


def _wait_widget(page, what: str, timeout: float = 180_000) -> None:
    """Wait until a widget shows a clip; fail at once, with the page's error, if a cell raised instead."""
    page.wait_for_function(
        """signs => { const r = document.querySelector('.alw-root:not([data-old])');
                     if (r && r.dataset.clip) return true;
                     const t = (document.body || {}).innerText || '';
                     return signs.some(s => t.includes(s)); }""",
        arg=ERROR_SIGNS,
        timeout=timeout,
    )
    text = page.evaluate("() => document.body.innerText")
    if page.evaluate("() => !document.querySelector('.alw-root:not([data-old])')"):
        start = min((text.find(s) for s in ERROR_SIGNS if s in text), default=0)
        shown = text[max(start - 300, 0) : start + 2500]
        pytest.fail(f"{what}: the widget did not come back; the page shows:\n{shown}")
    assert not any(s in text for s in ERROR_SIGNS), f"{what}: the page shows an error:\n{text[-2500:]}"
    assert page.inner_text(".alw-root:not([data-old]) .alw-error-text") == "", what


def _journal(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _wait_journal(path: Path, n_labels: int, timeout: float = 30) -> list[dict]:
    """The journal once it holds ``n_labels`` labels; checks that it holds each one once, from one writer."""
    deadline = time.monotonic() + timeout
    while True:
        records = _journal(path) if path.exists() else []
        teach = [r for r in records if r["kind"] == "teach"]
        if len(teach) >= n_labels or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    kinds = [r["kind"] for r in records]
    assert kinds.count("header") == 1 and set(kinds) <= {"header", "teach"}, records
    ids = [i for r in teach for i in r["ids"]]
    assert len(ids) == n_labels and len(set(ids)) == n_labels, records  # each label once
    seqs = [r["seq"] for r in teach]
    assert seqs == list(range(n_labels)), records  # one writer: every event number once, in order
    return records


def _label_with_key(page, n: int, key: str = "1") -> None:
    """Press ``key`` ``n`` times with the widget focused, each time waiting for the next clip."""
    page.locator(".alw-root:not([data-old])").focus()
    for _ in range(n):
        clip = _clip(page)
        page.keyboard.press(key)
        _wait_clip_change(page, clip)


def _refuses(page, journal: Path) -> None:
    """The page's widget lost the journal to a newer one: key 1 is refused, says so, and writes nothing."""
    before = journal.read_bytes()
    n = _n_labeled(page)
    page.bring_to_front()
    page.locator(".alw-root").focus()
    page.keyboard.press("1")
    page.wait_for_selector(".alw-blocked.alw-on", timeout=30_000)
    stale = page.inner_text(".alw-blocked")
    # another kernel took it ("taken over") or a newer learner of this kernel did ("no longer writes"): either way
    # the message says where to go on
    assert ("taken over" in stale or "no longer writes" in stale) and "newest" in stale, stale
    page.wait_for_timeout(1_000)  # a write that slipped through would be on disk by now
    assert _n_labeled(page) == n
    assert journal.read_bytes() == before, "the old page wrote to the journal after it was taken over"


def test_readme_quickstart_voila_reload_and_second_tab(browser, tmp_path):
    """README's Quickstart in Voila: labels survive a reload, and a second tab takes the journal over."""
    _require("voila")
    names, journal, env = _quickstart_setup(tmp_path)
    page = browser.new_page()
    page.set_default_timeout(30_000)
    other = None
    try:
        with _server("voila", tmp_path, QUICKSTART_NB, env) as url:
            page.goto(url)
            _wait_widget(page, "first load")
            _label_with_key(page, 3)
            _wait_n_labeled(page, 3)
            _wait_journal(journal, 3)
            assert page.inner_text(".alw-progress").startswith("3 / ")

            # reload: a new kernel runs the Quickstart again while the old one still holds the journal
            page.reload()
            _wait_widget(page, "after a reload")
            _wait_n_labeled(page, 3)
            assert page.inner_text(".alw-blocked") == ""
            _wait_journal(journal, 3)
            exported = tmp_path / "nb" / "labels.csv"  # the Quickstart's last line, run by the new kernel
            deadline = time.monotonic() + 60
            while not (exported.exists() and len(exported.read_text().splitlines()) == 4):
                assert time.monotonic() < deadline, exported.read_text() if exported.exists() else "no labels.csv"
                time.sleep(0.3)

            # a second tab on the same URL: a third kernel takes the journal over, with every label
            other = page.context.new_page()
            other.set_default_timeout(30_000)
            other.goto(url)
            _wait_widget(other, "in a second tab")
            _wait_n_labeled(other, 3)
            assert other.inner_text(".alw-blocked") == ""
            _refuses(page, journal)  # never two writers: the older tab refuses
            _wait_journal(journal, 3)
            other.bring_to_front()
            _label_with_key(other, 1)  # the newest tab writes
            _wait_n_labeled(other, 4)
            _wait_journal(journal, 4)
    finally:
        if other is not None:
            other.close()
        page.close()
    assert {r["labels"][0] for r in _journal(journal) if r["kind"] == "teach"} == {names["classes"][0]}  # key 1


def _run_all_lab(page, what: str, url: str | None = None) -> None:
    """Open ``url`` (if given) in JupyterLab, run every cell, and wait for a new widget."""
    if url is not None:
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE_JS, arg="lab", timeout=60_000)
    page.evaluate("() => document.querySelectorAll('.alw-root').forEach(r => { r.dataset.old = '1'; })")
    for attempt in range(3):  # a "Run All" sent while the kernel is still connecting can be lost: check
        _run_all(page)
        try:
            page.wait_for_function(STARTED_JS, timeout=15_000)
            break
        except Exception:
            if attempt == 2:
                raise
    _wait_widget(page, what)


def test_readme_quickstart_lab_rerun_second_tab_restart(browser, tmp_path):
    """README's Quickstart in JupyterLab: a re-run cell resumes, a second tab takes over, a kernel restart resumes."""
    _require("lab")
    names, journal, env = _quickstart_setup(tmp_path)
    page = browser.new_page()
    page.set_default_timeout(30_000)
    other = None
    try:
        with _server("lab", tmp_path, QUICKSTART_NB, env) as url:
            _run_all_lab(page, "first run", url)
            cells = _cells(page)
            _label_with_key(page, 3)
            _wait_n_labeled(page, 3)
            _wait_journal(journal, 3)
            assert _cells(page) == cells  # the keys went to the widget, not to the notebook

            # "re-running resumes": the same kernel, a new learner opens the journal the old one holds
            _run_all_lab(page, "after re-running the cells")
            _wait_n_labeled(page, 3)
            assert page.inner_text(".alw-blocked") == ""
            _wait_journal(journal, 3)

            # a second tab on the same notebook shares the kernel; running the cells there takes the journal over
            other = page.context.new_page()
            other.set_default_timeout(30_000)
            _run_all_lab(other, "in a second tab", url)
            _wait_n_labeled(other, 3)
            assert other.inner_text(".alw-blocked") == ""
            _refuses(page, journal)  # never two writers: the first tab's widget refuses
            _wait_journal(journal, 3)

            # restart the kernel from the second tab and run everything again: every label is back
            other.bring_to_front()
            other.evaluate("() => document.querySelectorAll('.alw-root').forEach(r => { r.dataset.old = '1'; })")
            other.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()
            other.locator(".lm-Menu-itemLabel", has_text="Restart Kernel and Run All Cells").first.click()
            other.locator(".jp-Dialog-button.jp-mod-accept").first.click()
            _wait_widget(other, "after a kernel restart")
            _wait_n_labeled(other, 3)
            assert other.inner_text(".alw-blocked") == ""
            _label_with_key(other, 1)  # and labelling goes on, in the newest kernel only
            _wait_n_labeled(other, 4)
            _wait_journal(journal, 4)
    finally:
        if other is not None:
            other.close()
        page.close()
    assert {r["labels"][0] for r in _journal(journal) if r["kind"] == "teach"} == {names["classes"][0]}  # key 1
