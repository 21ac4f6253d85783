"""Print pip constraints that pin each direct dependency to its lowest allowed version.

Reads ``pyproject.toml`` (the ``dependencies`` and the ``test`` extra) and turns
every ``name>=X`` into ``name==X``: pip then resolves the oldest direct
versions the project claims to support (like uv's ``--resolution
lowest-direct``), and the rest of the tree as usual.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

root = Path(__file__).resolve().parent.parent
project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
specs = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
for spec in specs:
    spec = spec.split(";")[0].strip()  # drop environment markers
    match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+?)\s*>=\s*([0-9][^,\s]*)", spec)
    if match:
        name = re.sub(r"\[.*\]", "", match.group(1))
        sys.stdout.write(f"{name}=={match.group(2)}\n")
