"""Re-execute the tutorial notebooks in place and store their outputs (maintainers).

    python tools/run_notebooks.py [notebooks/01_....ipynb ...]

Runs each notebook with nbclient from the notebooks folder, then drops the
per-cell execution timestamps so a re-run changes only what really changed.
CI checks the stored outputs with strict nbval, also under another numeric
configuration (see .ci/run).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)  # saved widget state (audio bytes and all): large, and no test reads it
    nbformat.write(nb, path)
    print(f"{path.name}: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for p in paths:
        run(p)
