"""Benchmark the labelling widget: click -> next clip shown, in a real browser.

Run by hand from the repository root (figures are printed, never asserted)::

    python -m benchmarks.perf.bench_widget                     # 10,000-clip pool, 50 clicks
    python -m benchmarks.perf.bench_widget --clicks 100 --gap 0.3
    python -m benchmarks.perf.bench_widget --pool 5000 --model ungated   # every fit with 4,950 pseudo-labels

Needs Chromium (``apt-get install chromium``), Playwright for Python and Voila.

Voila serves a notebook that builds a ``--pool``-clip pool (default 10,000;
synthetic 128-d embeddings in 6 Gaussian blobs; audio: generated
``make_sounds`` clips, tiled so every pool row has a 1-2 s clip of its class)
and shows a :class:`~alwidget.widget.LabelingWidget` over an
``ActiveLearner`` with ``--model`` (default: the learner's default,
``"spread"``, which uses its graph on pools of up to 5,000 clips).
Headless Chromium then clicks the button of the true class of the clip on
screen ``--clicks`` times, ``--gap`` seconds apart (a very fast person), while
the kernel retrains and re-queries in the background.

Latency is measured inside the page, from the button's click event to:

* ``clip in DOM`` - the new clip's name, audio source, spectrogram and guess
  are in the page (the widget's ``data-clip`` attribute changed);
* ``next frame`` - the browser's next animation frame after that (painted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import _common as C

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

NOTEBOOK = """\
import json
from pathlib import Path
import numpy as np
from alwidget import ActiveLearner, SpreadRegression
from alwidget.datasets import make_sounds
from alwidget.widget import LabelingWidget

N, DIM = {pool}, 128
rng = np.random.default_rng(0)
y = rng.integers(0, 6, N)
centres = rng.normal(size=(6, DIM)).astype(np.float32) * 0.35
X = centres[y] + rng.normal(size=(N, DIM)).astype(np.float32)
base = make_sounds(n_per_class=10, seed=0)
classes = sorted(set(base.labels))
members = [[i for i, c in enumerate(base.labels) if c == k] for k in classes]


class TiledSounds:
    # pool row i plays a generated clip of class y[i]
    def __init__(self):
        self.names = [f"clip_{{i:05d}}" for i in range(N)]

    def _src(self, i):
        m = members[y[i]]
        return m[i % len(m)]

    def __len__(self):
        return N

    def __getitem__(self, i):
        return base[self._src(i)]

    def wav_bytes(self, i):
        return base.wav_bytes(self._src(i))

    def duration(self, i):
        return base.duration(self._src(i))

    def clip_id(self, i):
        return str(i)


Path("meta.json").write_text(json.dumps({{"labels": [classes[k] for k in y]}}))
learner = ActiveLearner(X, classes, model={model})
widget = LabelingWidget(learner, TiledSounds())
widget"""

CLICK_JS = """(name) => new Promise((resolve) => {
  const root = document.querySelector('.alw-root');
  const before = root.dataset.clip;
  const training = root.dataset.training === '1';
  const button = root.querySelector(`.alw-class[data-class="${name}"]`);
  let t0 = 0;
  const obs = new MutationObserver(() => {
    if (root.dataset.clip === before) return;
    obs.disconnect();
    const dom = performance.now() - t0;
    requestAnimationFrame(() => resolve({dom, frame: performance.now() - t0, training}));
  });
  obs.observe(root, {attributes: true, attributeFilter: ['data-clip']});
  t0 = performance.now();
  button.click();
})"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def voila(notebook: Path):
    """Serve ``notebook`` with Voila on a free port of 127.0.0.1; yield its URL; stop it at the end."""
    port = free_port()
    cmd = [sys.executable, "-m", "voila", notebook.name, f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1"]
    log = open(notebook.parent / "voila.log", "wb")  # closed in the finally below
    proc = subprocess.Popen(cmd, cwd=notebook.parent, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited:\n{(notebook.parent / 'voila.log').read_text()[-3000:]}")
            try:  # a TCP connection only: every GET of the notebook would start a kernel
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("voila did not answer within 60 s") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


MODELS = {"default": '"spread"', "linear": '"linear"', "ungated": "SpreadRegression(gate=False)"}


def write_notebook(path: Path, pool: int, model: str = "default") -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK.format(pool=pool, model=MODELS[model]))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=10_000, help="pool size (default 10000)")
    parser.add_argument("--clicks", type=int, default=50, help="clicks measured (default 50)")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between clicks (default 0.5)")
    parser.add_argument(
        "--model",
        choices=list(MODELS),
        default="default",
        help='the learner\'s model: the default ("spread", gated), "linear", or "spread" without its gate',
    )
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nb = tmp / "bench.ipynb"
        write_notebook(nb, args.pool, args.model)
        with voila(nb) as url, sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = ctx.new_page()
            start = time.monotonic()
            page.goto(url, timeout=120_000)
            page.wait_for_function(
                "() => { const r = document.querySelector('.alw-root'); return r && r.dataset.clip; }",
                timeout=180_000,
            )
            print(f"widget shown {time.monotonic() - start:.1f} s after the page was opened")
            truth = json.loads((tmp / "meta.json").read_text())["labels"]
            page.wait_for_timeout(1000)
            results = []
            for _ in range(args.clicks):
                clip = int(page.evaluate("document.querySelector('.alw-root').dataset.clip"))
                results.append(page.evaluate(CLICK_JS, truth[clip]))
                page.wait_for_timeout(args.gap * 1000)
            progress = page.inner_text(".alw-progress")
            model = page.inner_text(".alw-model")
            errors = page.inner_text(".alw-error-text")
            ctx.close()

    dom = np.array([r["dom"] for r in results])
    frame = np.array([r["frame"] for r in results])
    during = sum(r["training"] for r in results)
    print(
        f"\nclick -> next clip shown: Voila + headless Chromium, pool {args.pool:,} clips, model {args.model}, "
        f"{args.clicks} clicks {args.gap} s apart"
    )
    print(f"Machine: {C.machine('voila', 'playwright')}")
    print(f"{'':20s}{'p50':>9s}{'p95':>9s}{'max':>9s}")
    for name, v in (("clip in DOM", dom), ("next frame", frame)):
        p50, p95, mx = np.percentile(v, 50), np.percentile(v, 95), v.max()
        print(f"{name:20s}{p50:7.1f}ms{p95:7.1f}ms{mx:7.1f}ms")
    print(f"clicks made while the model was training: {during} of {args.clicks}")
    print(f"at the end: {progress}; {model}" + (f"; ERROR: {errors}" if errors else ""))


if __name__ == "__main__":
    main()
