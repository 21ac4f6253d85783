"""alwidget.errors: every error is also the built-in one expected, and IPython shows it as one line."""

from __future__ import annotations

import pytest

from alwidget import errors
from alwidget.errors import AlwidgetError, InvalidInputError, JournalLockedError, UnknownClassError


@pytest.mark.parametrize("cls", [getattr(errors, name) for name in errors.__all__])
def test_every_error_renders_in_ipython_as_its_class_and_message(cls):
    text = "the journal j.jsonl is open in another running session (labels.ipynb, pid 41); close it first"
    assert cls(text)._render_traceback_() == [f"{cls.__name__}: {text}"]


def test_render_traceback_has_no_traceback_and_no_quotes():
    try:
        raise UnknownClassError("'owl' is not a class; add it first")
    except AlwidgetError as exc:
        lines = exc._render_traceback_()
    assert lines == ["UnknownClassError: 'owl' is not a class; add it first"]  # KeyError would quote it
    assert not any("Traceback" in line or "File " in line for line in lines)


def test_plain_exceptions_keep_their_traceback():
    assert not hasattr(ValueError("x"), "_render_traceback_")
    assert issubclass(JournalLockedError, RuntimeError) and issubclass(InvalidInputError, ValueError)


def test_ipython_shows_the_message_not_the_traceback(capsys):
    ipython = pytest.importorskip("IPython.core.interactiveshell")
    shell = ipython.InteractiveShell.instance()
    try:
        shell.run_cell(
            "from alwidget.errors import JournalLockedError\n"
            "def open_it():\n"
            "    raise JournalLockedError('the journal j.jsonl is open in another running session (a.ipynb, pid 7)')\n"
            "open_it()\n"
        )
    finally:
        ipython.InteractiveShell.clear_instance()
    out = capsys.readouterr()
    text = out.out + out.err
    assert "JournalLockedError: the journal j.jsonl is open in another running session (a.ipynb, pid 7)" in text
    assert "open_it" not in text and "Traceback" not in text


def test_a_journal_held_by_another_notebook_is_named_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    from alwidget._journal import JournalWriter

    path = tmp_path / "labels.jsonl"
    holder = (
        "import sys\n"
        "from alwidget._journal import JournalWriter\n"
        f"w = JournalWriter({str(path)!r})\n"
        "w.commit()\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    env = dict(os.environ, JPY_SESSION_NAME="field season.ipynb")
    child = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(JournalLockedError) as caught:
            JournalWriter(path)
        (line,) = caught.value._render_traceback_()
        assert line.startswith("JournalLockedError: the journal") and "field season.ipynb" in line
    finally:
        child.stdin.close()
        child.wait(timeout=30)
