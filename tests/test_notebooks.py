"""The tutorial notebooks are checked by nbval on every test run; these tests make sure none can slip through.

nbval re-runs every notebook in ``notebooks/`` and compares each cell's output
with the output stored in the file (strict mode, with ``notebooks/sanitize.cfg``).
That check is only as good as what it is given, so here we verify that:

* pytest is configured to run nbval strictly over ``notebooks/`` (not ``--nbval-lax``);
* pytest really collects every notebook in ``notebooks/``;
* every notebook was saved *executed*: top to bottom in one kernel session,
  with outputs stored for every non-empty code cell, no stored errors, and no
  cell skipped by ``NBVAL_SKIP``.

A code cell that deliberately shows nothing must carry the cell tag
``no-output`` (none does so far: print a short confirmation instead).

To refresh the stored outputs after a change::

    jupyter nbconvert --to notebook --execute --inplace notebooks/NAME.ipynb
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
SANITIZE = NOTEBOOK_DIR / "sanitize.cfg"


def _pytest_config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["pytest"]["ini_options"]


def _addopts() -> list[str]:
    addopts = _pytest_config().get("addopts", "")
    return shlex.split(addopts) if isinstance(addopts, str) else list(addopts)


def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def _code_cells(nb: dict) -> list[tuple[int, dict]]:
    """``(position, cell)`` of the non-empty code cells."""
    return [(k, c) for k, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and _source(c).strip()]


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    for expected in (
        "01_active_learning_loop.ipynb",
        "02_label_your_audio.ipynb",
        "03_compare_strategies.ipynb",
        "04_bring_your_own_embedder.ipynb",
    ):
        assert expected in names


def test_pytest_runs_nbval_strictly_over_the_notebooks():
    opts = _addopts()
    assert "--nbval" in opts, f"add --nbval to [tool.pytest.ini_options] addopts in pyproject.toml (have {opts})"
    assert "--nbval-lax" not in opts, "--nbval-lax does not compare outputs; use --nbval"
    assert "--nbval-sanitize-with" in opts, "pass --nbval-sanitize-with notebooks/sanitize.cfg in addopts"
    sanitize = opts[opts.index("--nbval-sanitize-with") + 1]
    assert (ROOT / sanitize).resolve() == SANITIZE.resolve()
    testpaths = [Path(p).as_posix().rstrip("/") for p in _pytest_config().get("testpaths", [])]
    assert "notebooks" in testpaths, f"add 'notebooks' to testpaths in pyproject.toml (have {testpaths})"


def test_sanitize_file_masks_addresses_and_widget_ids():
    text = SANITIZE.read_text()
    assert "at 0x" in text  # '<... object at 0x7f...>' reprs of widgets and figures
    assert "[0-9a-f]{32}" in text  # widget model ids


def test_every_notebook_is_collected():
    """Ask pytest itself (with the project's configuration) which notebook cells it would run."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "notebooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    collected = {line.split("::", 1)[0] for line in proc.stdout.splitlines() if ".ipynb::" in line}
    for path in NOTEBOOKS:
        rel = path.relative_to(ROOT).as_posix()
        assert rel in collected, f"{rel} is not collected by pytest --nbval"
        n_items = sum(1 for line in proc.stdout.splitlines() if line.startswith(rel + "::"))
        n_code = sum(1 for c in _load(path)["cells"] if c["cell_type"] == "code")
        assert n_items == n_code, f"{rel}: pytest collects {n_items} cells, the notebook has {n_code} code cells"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_saved_executed_in_order(path):
    nb = _load(path)
    assert nb.get("metadata", {}).get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: save it with the standard 'python3' kernel (nbval starts the kernel named in the file)"
    )
    cells = _code_cells(nb)
    assert cells, f"{path.name} has no code"
    counts = [c.get("execution_count") for _, c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: code cells must be executed once each, top to bottom, in a fresh kernel; "
        f"execution counts are {counts}"
    )
    for k, cell in cells:
        tags = cell.get("metadata", {}).get("tags", [])
        outputs = cell.get("outputs", [])
        assert outputs or "no-output" in tags, (
            f"{path.name}, cell {k}: no stored output "
            "(re-execute the notebook and save it, or tag the cell 'no-output')"
        )
        errors = [o for o in outputs if o.get("output_type") == "error"]
        assert not errors, f"{path.name}, cell {k}: stored error {errors[0].get('ename')}: {errors[0].get('evalue')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_cell_is_skipped(path):
    for k, cell in enumerate(_load(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        tags = [t.lower() for t in cell.get("metadata", {}).get("tags", [])]
        assert "nbval_skip" not in _source(cell).lower(), f"{path.name}, cell {k}: NBVAL_SKIP hides a cell from nbval"
        assert "nbval-skip" not in tags, f"{path.name}, cell {k}: the nbval-skip tag hides a cell from nbval"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_nbval_markers_are_exact(path):
    """nbval only honours a comment that is exactly the marker: ``# NBVAL_IGNORE_OUTPUT (why)`` is silently ignored."""
    known = {"NBVAL_IGNORE_OUTPUT", "NBVAL_CHECK_OUTPUT", "NBVAL_RAISES_EXCEPTION"}
    for k, cell in _code_cells(_load(path)):
        for line in _source(cell).splitlines():
            text = line.strip()
            if text.startswith("#") and "NBVAL_" in text:
                marker = text.lstrip("#").strip()
                assert marker in known, (
                    f"{path.name}, cell {k}: {text!r} is not an nbval marker nbval recognises; "
                    f"put exactly one of {sorted(known)} on its own comment line (reasons on the next line)"
                )


def test_learning_curves_figure_is_small():
    png = ROOT / "docs" / "learning_curves.png"
    assert png.exists(), "regenerate it: ALWIDGET_WRITE_DOCS=1 jupyter nbconvert --execute ... 03_compare_strategies"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size < 200_000


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_with_a_widget_leaves_one_open_and_journals_its_labels(path):
    """Under Run All the last widget shown stays usable, and what is labelled in it survives a restart."""
    cells = [_source(cell) for _, cell in _code_cells(_load(path))]
    shown = [k for k, src in enumerate(cells) if "LabelingWidget(" in src or "LabelingWidget.resume(" in src]
    if not shown:
        return
    last = cells[shown[-1]]
    later = last[max(last.rfind("LabelingWidget("), last.rfind("LabelingWidget.resume(")) :]
    later += "\n".join(cells[shown[-1] + 1 :])
    assert ".close()" not in later, f"{path.name}: a cell after the last widget closes it; Run All leaves it blank"
    assert "journal" in "\n".join(cells[: shown[-1] + 1]), f"{path.name}: the widget's labels are not journalled"
