"""Write docs/api.md, the API reference, from the docstrings of alwidget's public names (maintainers).

    python tools/gen_api.py           # rewrite docs/api.md
    python tools/gen_api.py --check   # exit 1 if docs/api.md is not what the docstrings give

tests/test_docs.py runs the check, so the reference never goes stale: after
changing a public docstring or signature, run this script and commit the file.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "api.md"

# (heading, module, names): the top-level names first, then the modules users import from
SECTIONS = [
    ("Pool and learner", "alwidget", ["ActiveLearner", "Event", "simulate", "LearningCurves"]),
    ("Audio and features", "alwidget", ["AudioDataset", "make_sounds", "register_embedder", "available_embedders"]),
    ("Labelling", "alwidget", ["LabelingSession", "LabelingWidget"]),
    ("Models", "alwidget", ["SoftmaxRegression", "SpreadRegression", "MLPClassifier"]),
    ("Strategies (`alwidget.strategies`)", "alwidget.strategies", None),
    ("Search (`alwidget.search`)", "alwidget.search", None),
    ("Review (`alwidget.review`)", "alwidget.review", None),
    ("Export (`alwidget.export`)", "alwidget.export", None),
    ("Errors (`alwidget.errors`)", "alwidget.errors", None),
]


def _signature(obj) -> str:
    """The signature as source would spell it: annotations unquoted, the same text on every Python."""
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"
    text = re.sub(r"ForwardRef\('([^']*)'(?:, module='[^']*')?\)", r"\1", text)
    return re.sub(r"(: |-> )'([^']*)'", r"\1\2", text)


def _doc(obj) -> str:
    doc = inspect.getdoc(obj) or "(no docstring)"
    return f"```text\n{doc}\n```\n"


def _members(cls) -> list[tuple[str, object]]:
    """Public methods and properties defined by ``cls`` or its alwidget bases, in source order."""
    out, seen = [], set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("alwidget"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            if isinstance(value, (property, classmethod, staticmethod)) or inspect.isfunction(value):
                seen.add(name)
                out.append((name, value))
    return out


def _render(name: str, obj) -> list[str]:
    lines: list[str] = []
    if inspect.isclass(obj):
        bases = [b.__name__ for b in obj.__bases__ if b is not object]
        suffix = f" ({', '.join(bases)})" if bases else ""
        if issubclass(obj, BaseException):
            return [f"### `{name}`{suffix}", "", _doc(obj)]
        lines += [f"### `{name}{_signature(obj)}`{suffix}", "", _doc(obj)]
        for member, value in _members(obj):
            if isinstance(value, property):
                lines += [f"#### `{name}.{member}` (property)", "", _doc(value)]
            else:
                func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                lines += [f"#### `{name}.{member}{_signature(func)}`", "", _doc(func)]
    elif callable(obj):
        lines += [f"### `{name}{_signature(obj)}`", "", _doc(obj)]
    else:
        lines += [f"### `{name}`", "", f"```python\n{name} = {obj!r}\n```\n"]
    return lines


def render() -> str:
    lines = [
        "# alwidget API reference",
        "",
        "Generated from the docstrings by `python tools/gen_api.py`; do not edit by hand.",
        "The [user guide](guide.md) shows the workflows; the [README](../README.md) the first steps.",
        "",
    ]
    for heading, module_name, names in SECTIONS:
        module = importlib.import_module(module_name)
        if names is None:
            names = list(getattr(module, "__all__", []))
        lines += [f"## {heading}", ""]
        for name in names:
            lines += _render(name, getattr(module, name))
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run python tools/gen_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
