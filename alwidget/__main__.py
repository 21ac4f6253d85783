"""``python -m alwidget``: the same as the ``alwidget`` command (see :mod:`alwidget.cli`)."""

import sys

from alwidget.cli import main

if __name__ == "__main__":
    sys.exit(main())
