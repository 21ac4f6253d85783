"""The pictures the docs show exist, and each one is made by something in the repository.

The widget screenshots in ``docs/`` are written by the browser tests
(``ALWIDGET_SCREENSHOT_DIR=docs pytest tests/test_browser.py``, names in
``SCREENSHOTS`` there); plots by a notebook or a benchmark script that names
the file. A picture nobody makes would go stale silently: fail instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted((ROOT / "benchmarks").glob("*.md"))]
# where plots may be made: notebooks, benchmark scripts, tools (not the tests: a test that merely names a file
# does not make it; the browser test's SCREENSHOTS are read separately)
MAKERS = [("notebooks", "*.ipynb"), ("benchmarks", "*.py"), ("tools", "*.py")]  # (folder, pattern), searched below
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _browser_screenshots() -> dict[tuple[str, str], str]:
    """``SCREENSHOTS`` of tests/test_browser.py: (host, theme) -> file name in docs/ (read, not imported)."""
    tree = ast.parse((ROOT / "tests" / "test_browser.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "SCREENSHOTS" for t in node.targets):
            return ast.literal_eval(node.value)
    pytest.fail("tests/test_browser.py has no SCREENSHOTS table (host, theme) -> docs/ file name")


def _shown(page: Path) -> list[Path]:
    """Local PNGs a Markdown page shows (``![alt](path.png)`` or ``<img src="path.png">``)."""
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"!\[[^\]]*\]\(\s*<?([^)\s>]+\.png)", text) + re.findall(
        r"<img[^>]*\ssrc=[\"']([^\"']+\.png)", text
    )
    return [(page.parent / t).resolve() for t in targets if "://" not in t]


def _pictures() -> list[Path]:
    shown = {p for page in PAGES for p in _shown(page)}
    return sorted(shown | set(DOCS.glob("*.png")))


def _maker(picture: Path) -> str | None:
    if picture.parent == DOCS and picture.name in _browser_screenshots().values():
        return "tests/test_browser.py"
    for folder, pattern in MAKERS:
        for path in sorted((ROOT / folder).rglob(pattern)):
            try:
                if picture.name in path.read_text(encoding="utf-8", errors="replace"):
                    return str(path.relative_to(ROOT))
            except OSError:  # moved or removed meanwhile
                continue
    return None


def test_readme_shows_the_widget_screenshot():
    readme = _shown(ROOT / "README.md")
    assert DOCS / "widget.png" in readme, "README.md no longer shows docs/widget.png"
    assert _browser_screenshots()["lab", "light"] == "widget.png"  # the README's picture: JupyterLab, light theme


@pytest.mark.parametrize("picture", _pictures(), ids=lambda p: str(p.relative_to(ROOT)))
def test_picture_exists_and_is_made_by_the_repository(picture):
    where = [str(page.relative_to(ROOT)) for page in PAGES if picture in _shown(page)] or ["docs/"]
    assert picture.is_file(), f"{', '.join(where)} shows {picture.relative_to(ROOT)}, which does not exist"
    data = picture.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000, f"{picture.name} is not a real PNG picture"
    assert _maker(picture), (
        f"nothing makes {picture.relative_to(ROOT)}: add it to SCREENSHOTS in tests/test_browser.py "
        "(widget screenshots) or save it from a notebook or benchmark script"
    )


def test_every_browser_screenshot_is_in_docs():
    """Each screenshot the browser tests write with ALWIDGET_SCREENSHOT_DIR=docs is there (none renamed away)."""
    names = _browser_screenshots()
    assert len(set(names.values())) == len(names)  # one file per host and theme
    missing = [n for n in names.values() if not (DOCS / n).is_file()]
    assert not missing, f"run ALWIDGET_SCREENSHOT_DIR=docs pytest tests/test_browser.py to make {missing}"
