"""The ``alwidget`` command: the labelling app in one command.

::

    alwidget demo  [--port P] [--no-browser] [--ip IP]
    alwidget label PATH [--classes a,b,c] [--window S [--hop S]] [--embedder NAME] [--journal FILE]
                        [--port P] [--no-browser] [--ip IP]
    alwidget export JOURNAL_OR_PATH --to labels.csv | table.txt | raven/ [--window S] [--data FOLDER]

``demo`` and ``label`` write a one-cell notebook (see :mod:`alwidget._app`) into
a private temporary folder and serve it with Voila, on 127.0.0.1 with a random
token in the URL, as Jupyter does; Ctrl-C stops Voila, which shuts its
kernels down (any kernel left after that is killed by its process id).
``export`` writes a journal's labels without a notebook.

Bad input (a missing folder, no audio in it, a port in use, a journal of
another pool, ...) is reported in one line, and the command exits with
status 2; it never shows a traceback for it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import http.client
import importlib.util
import ipaddress
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import webbrowser
from pathlib import Path

from alwidget import __version__
from alwidget._app_data import AppInputError

__all__ = ["main"]

PROG = "alwidget"
DEFAULT_PORT = 8866  # Voila's
PORT_TRIES = 20  # without --port: the first free port from DEFAULT_PORT on
DEMO_CLIPS_PER_CLASS = 50
READY_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20
EXIT_USAGE = 2
CULL_IDLE_S = 1800  # a kernel that no page is connected to is shut down after 30 min without activity
CULL_INTERVAL_S = 60


class _ServerError(Exception):
    """The server could not start or run: its message is printed, and the command exits with status 1."""


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop the server as Ctrl-C does."""


# ---------------------------------------------------------------------- arguments


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=_port, help=f"port to serve on (default: the first free one from {DEFAULT_PORT})")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser; just print the URL")
    p.add_argument(
        "--ip",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only). Another address lets anyone who can "
        "reach it and has the URL label your data and hear your audio",
    )
    p.add_argument("--verbose", action="store_true", help="show Voila's and the kernels' log in the terminal")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Active learning for audio: label the clips that matter most, in your browser.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,label,export}")

    demo = sub.add_parser(
        "demo",
        help="the labelling app on built-in demo sounds (auto-label with the true labels, random baseline)",
        description="Open the labelling app on synthetic demo sounds, in demo mode: 'auto-label' answers with "
        "the true labels and the plot shows a random baseline. Labels are kept until the command stops.",
    )
    demo.add_argument(
        "--clips-per-class",
        type=_positive_int,
        default=DEMO_CLIPS_PER_CLASS,
        help=f"demo sounds per class, six classes (default {DEMO_CLIPS_PER_CLASS})",
    )
    _add_server_options(demo)

    label = sub.add_parser(
        "label",
        help="the labelling app on a folder of clips, or on long recordings cut into windows (--window)",
        description="Open the labelling app on PATH: a folder of clips (its subfolders' names are the classes, "
        "unless --classes says otherwise), or with --window a folder of long recordings (or one recording) cut "
        f"into windows. Labels are saved as they are given, by default in PATH/{'alwidget.labels.jsonl'}; "
        "running the same command again resumes.",
    )
    label.add_argument("path", metavar="PATH", help="folder of clips, or of recordings with --window")
    label.add_argument("--classes", help="class names separated by commas, e.g. bird,frog,noise")
    label.add_argument("--window", type=_seconds, help="cut recordings into windows of this many seconds")
    label.add_argument("--hop", type=_seconds, help="seconds between window starts (default: --window)")
    label.add_argument(
        "--embedder",
        help="features to learn from (default auto: logmel+aisfx where aiSFX's weights are installed, else logmel)",
    )
    label.add_argument("--journal", help="file the labels are saved in (default: beside the data)")
    _add_server_options(label)

    export = sub.add_parser(
        "export",
        help="write a journal's labels as CSV or Raven Pro selection tables, without a notebook",
        description="Write the labels saved in a journal: --to labels.csv (id,index,label,mode), --to table.txt "
        "(one Raven Pro selection table) or --to raven/ (one Raven table per recording).",
    )
    export.add_argument(
        "source",
        metavar="JOURNAL_OR_PATH",
        help="the journal, or the folder (or recording) given to alwidget label",
    )
    export.add_argument("--to", required=True, help="labels.csv, table.txt or a folder such as raven/")
    export.add_argument("--window", type=_seconds, help="window length in seconds (default: as alwidget label used)")
    export.add_argument("--data", help="folder the clips were labelled in (default: as alwidget label used)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns its exit status (2 for bad input)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "label":
            return _label(args)
        return _export(args)
    except AppInputError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except _ServerError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- demo and label


def _demo(args) -> int:
    from alwidget import _app

    port, ip = _check_server(args)
    with _workdir() as work:
        journal = work / "demo.labels.jsonl"  # outside the folder Voila serves; gone when the command stops
        code = _app.demo_code(n_per_class=args.clips_per_class, journal=str(journal))
        _note(f"demo: {6 * args.clips_per_class} synthetic clips of six classes; labels kept until you stop this")
        return _serve(code, work=work, port=port, ip=ip, open_browser=not args.no_browser, verbose=args.verbose)


def _label(args) -> int:
    from alwidget import _app, _app_data

    if args.hop is not None and args.window is None:
        raise AppInputError("--hop needs --window (the window length in seconds)")
    journal = _journal_path(args)
    settings = _app_data.read_settings(journal)
    window, hop = args.window, args.hop
    if window is None and settings.get("window"):  # a re-run resumes with the windows it labelled
        window, hop = float(settings["window"]), float(settings.get("hop") or settings["window"])
        _note(f"cutting recordings into {window:g} s windows (hop {hop:g} s), as when these labels were started")
    hop = window if hop is None and window is not None else hop
    embedder = args.embedder or settings.get("embedder") or "auto"
    _check_embedder(embedder)
    if embedder == "auto":
        _note_default_features()
    pool = _app_data.find_pool(args.path, windowed=window is not None)
    if args.journal is None:
        journal = _app_data.default_journal(pool.path)
    _app_data.check_writable(journal)
    journal_classes = _app_data.check_journal(
        journal, pool, embedder=embedder, settings=settings, window=window, hop=hop
    )
    labels_from = None
    if args.classes is not None:
        classes = _app_data.parse_classes(args.classes)
    elif pool.subfolders:
        classes, labels_from = pool.subfolders, "subfolder"
        _note(f"classes from the subfolders' names: {', '.join(classes)} (--classes to choose others)")
    elif journal_classes or settings.get("classes"):
        classes = journal_classes or list(settings["classes"])
        _note(f"classes from the journal: {', '.join(classes)}")
    else:
        raise AppInputError(
            f"which classes? {args.path} has no subfolders to name them: pass --classes, e.g. --classes bird,frog,noise"
        )
    port, ip = _check_server(args)
    n = len(pool.files)
    what = f"{n} recording{'s' * (n != 1)} cut into {window:g} s windows" if window else f"{n} clip{'s' * (n != 1)}"
    resumed = "resuming the labels in" if journal.exists() and journal.stat().st_size else "labels are saved to"
    _note(f"{what} in {pool.path}; {resumed} {journal}")
    _app_data.write_settings(
        journal,
        {
            "data": str(pool.path),
            "window": window,
            "hop": hop,
            "embedder": embedder,
            "classes": classes,
        },
    )
    code = _app.label_code(
        path=str(pool.path),
        classes=classes,
        journal=str(journal),
        embedder=embedder,
        window=window,
        hop=hop,
        labels_from=labels_from,
    )
    with _workdir() as work:
        return _serve(code, work=work, port=port, ip=ip, open_browser=not args.no_browser, verbose=args.verbose)


def _journal_path(args) -> Path:
    from alwidget import _app_data

    if args.journal is not None:
        return Path(args.journal).expanduser().absolute()
    p = Path(args.path).expanduser()
    return _app_data.default_journal(p.resolve()) if p.exists() else p / _app_data.JOURNAL_NAME


def _note_default_features() -> None:
    """Say what ``--embedder auto`` (the default) uses here, and how to get aiSFX's weights where they are missing."""
    from alwidget.embedders import default_embedder

    _, why = default_embedder()
    _note(
        why.replace('pass embedder="logmel"', "pass --embedder logmel")
        or "features: log-mel statistics beside the pretrained aiSFX network (weights CC BY 4.0, Ma and Lerch, "
        "ISMIR 2022); --embedder logmel is about 70x faster on long recordings and learns more slowly"
    )


def _check_embedder(name: str) -> None:
    try:
        from alwidget import available_embedders

        known = set(available_embedders())
    except Exception:  # noqa: BLE001 - the kernel checks it again, and says so in the page
        return
    parts = [p.strip() for p in name.split("+")]
    unknown = [p for p in parts if p not in known]
    if name not in known and unknown:
        raise AppInputError(
            f"--embedder {name}: unknown embedder {unknown[0]!r}; choose from {', '.join(sorted(known))}"
        )


# ---------------------------------------------------------------------- export


def _export(args) -> int:
    from alwidget import _app_data

    source = Path(args.source).expanduser()
    if source.is_dir():
        journal = source / _app_data.JOURNAL_NAME
        if not journal.exists():
            raise AppInputError(
                f"no labels in {args.source} (no {_app_data.JOURNAL_NAME}): label it first with "
                f"`alwidget label {args.source}`, or pass the journal file"
            )
    elif source.is_file() and _app_data.is_audio_file(source):
        journal = _app_data.default_journal(source)
        if not journal.exists():
            raise AppInputError(f"no labels for {args.source} (no {journal.name} beside it); pass the journal file")
    elif source.exists():
        journal = source
    else:
        raise AppInputError(f"{args.source}: no such journal or folder")
    kind = _app_data.export_target(args.to)
    settings = _app_data.read_settings(journal)
    labels = _app_data.final_labels(journal)
    for problem in labels.problems:
        _note(f"warning: {problem}")
    to = Path(args.to).expanduser()
    if kind == "csv":
        written = _app_data.write_labels_csv(labels, to)
    else:
        root = _app_data.data_root(journal, settings, args.data)
        window = args.window if args.window is not None else settings.get("window")
        written = _app_data.write_labels_raven(
            labels, to, per_recording=kind == "raven-folder", root=root, window=window
        )
    n = sum(r["mode"] != "unsure" for r in labels.rows)
    where = ", ".join(str(p) for p in written[:3]) + (f" and {len(written) - 3} more" if len(written) > 3 else "")
    _note(f"{n} label(s) from {journal} written to {where or to}")
    return 0


# ---------------------------------------------------------------------- the server


def _check_server(args) -> tuple[int, str]:
    """The port and address to serve on; bad ones (a port in use, an address not of this machine) exit with 2."""
    if importlib.util.find_spec("voila") is None:
        raise AppInputError('the app is served by Voila, which is not installed: pip install "voila>=0.5"')
    ip = args.ip.strip()
    if ip in ("", "*"):
        ip = "0.0.0.0"
    if not _is_loopback(ip):
        _note(
            f"WARNING: listening on {ip}, not only on this machine: anyone who can reach {ip} and has the URL (its "
            "token) can label your data and play your audio. Use this on a trusted network only."
        )
    if args.port is not None:
        problem = _bind_problem(ip, args.port)
        if problem:
            raise AppInputError(f"cannot serve on {ip} port {args.port}: {problem}; choose another with --port")
        return args.port, ip
    for port in range(DEFAULT_PORT, DEFAULT_PORT + PORT_TRIES):
        problem = _bind_problem(ip, port)
        if problem is None:
            return port, ip
        if "in use" not in problem:
            raise AppInputError(f"cannot serve on {ip}: {problem}")
    raise AppInputError(f"ports {DEFAULT_PORT}-{DEFAULT_PORT + PORT_TRIES - 1} are all in use; choose one with --port")


def _is_loopback(ip: str) -> bool:
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def _bind_problem(ip: str, port: int) -> str | None:
    """None if ``ip:port`` can be listened on now, else why not (as tornado binds: with SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(ip, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"{ip!r} is not an address ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
            s.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "the port is in use"
            if exc.errno == errno.EACCES:
                return "permission denied (ports below 1024 need privileges)"
            return f"{exc.strerror or exc} (is {ip} an address of this machine?)"
    return None


@contextlib.contextmanager
def _workdir():
    """A private folder (mode 0700) for the notebook, Voila's log and the kernel spec; removed at the end."""
    work = Path(tempfile.mkdtemp(prefix="alwidget-app-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _url_host(ip: str) -> str:
    if ip in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{ip}]" if ":" in ip else ip


def _serve(code: str, *, work: Path, port: int, ip: str, open_browser: bool, verbose: bool) -> int:
    """Serve ``code`` as a one-cell notebook with Voila until Ctrl-C (or SIGTERM, SIGHUP); returns the exit status.

    Layout of ``work``: ``app/alwidget.ipynb`` is all Voila's root holds
    (and its file handler serves nothing: its allowlist matches no path);
    ``jupyter/kernels/alwidget/kernel.json`` makes the kernel run this very
    Python; ``voila.log`` keeps Voila's output. The token reaches Voila in its
    environment (``JUPYTER_TOKEN``), not on its command line, where other
    users of the machine could read it.
    """
    from alwidget import _app

    app = work / "app"
    app.mkdir()
    notebook = app / "alwidget.ipynb"
    notebook.write_text(json.dumps(_app.notebook(code, kernel="alwidget"), indent=1), encoding="utf-8")
    spec = work / "jupyter" / "kernels" / "alwidget"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps(
            # the kernel (and its worker processes) need not know the server's token
            {"argv": argv, "display_name": "Python 3 (alwidget)", "language": "python", "env": {"JUPYTER_TOKEN": ""}}
        ),
        encoding="utf-8",
    )
    token = secrets.token_hex(24)
    env = dict(os.environ)
    env.pop("JUPYTER_TOKEN_FILE", None)
    env["JUPYTER_TOKEN"] = token
    env["JUPYTER_PATH"] = os.pathsep.join([str(work / "jupyter"), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [
        sys.executable, "-m", "voila", str(notebook),
        "--no-browser",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--Voila.ip={ip}",
        f"--Voila.root_dir={app}",
        "--Voila.auto_token=True",  # the token comes from JUPYTER_TOKEN
        # /voila/files/ serves nothing: its allowlist is a pattern that matches no path, its denylist every path
        # (the audio reaches the page over the kernel's websocket, inside the widget's messages)
        "--VoilaConfiguration.file_allowlist=a^",
        "--VoilaConfiguration.file_denylist=.*",
        "--VoilaConfiguration.show_tracebacks=True",
        # a reloaded or closed page leaves its kernel behind (Voila's own shutdown request on leaving the page
        # lacks the XSRF check's value once a token is set): shut down kernels that no page is connected to after
        # CULL_IDLE_S without activity; a page that is open keeps its kernel
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_S}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL_S}",
        "--MappingKernelManager.cull_connected=False",
    ]  # fmt: skip
    log_path = work / "voila.log"
    started = time.monotonic()
    previous = _install_stop_handlers()
    proc = pump = None
    status = 0
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=app,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches this command only; it stops Voila, which stops its kernels
            preexec_fn=_stop_with_parent if sys.platform.startswith("linux") else None,
        )
        pump = threading.Thread(target=_pump, args=(proc, log_path, verbose), daemon=True)
        pump.start()
        _wait_ready(proc, ip, port, log_path)
        url = f"http://{_url_host(ip)}:{port}/?token={token}"
        print(
            f"{PROG}: the labelling app is running (Voila {_voila_version()}). To open it, visit this URL:\n"
            f"    {url}\n"
            f"{PROG}: press Ctrl-C to stop it (labels are saved as you give them).",
            flush=True,
        )
        _note(f"ready in {time.monotonic() - started:.1f} s")
        if not _is_loopback(ip):
            shown = socket.gethostname() if ip in ("0.0.0.0", "::") else _url_host(ip)
            _note(f"from other machines: http://{shown}:{port}/?token={token}")
        if open_browser:
            opener = _redirect_file(url, port)
            threading.Thread(target=_open_browser, args=(opener.as_uri() if opener else url,), daemon=True).start()
        while proc.poll() is None:
            time.sleep(0.25)
        _error(f"Voila stopped by itself (exit status {proc.returncode}); its last lines:\n{_tail(log_path)}")
        status = 1
    except (KeyboardInterrupt, _Stop):
        print(file=sys.stderr)
        _note("stopping the server and its kernels…")
    finally:
        if proc is not None:
            _stop(proc)
        _restore_handlers(previous)
        if pump is not None:
            pump.join(timeout=5)
        if open_browser:
            with contextlib.suppress(OSError, ImportError):
                _redirect_path(port).unlink()
    return status


def _redirect_path(port: int) -> Path:
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir()) / f"alwidget-open-{port}.html"


def _redirect_file(url: str, port: int) -> Path | None:
    """A private page that redirects to ``url``: the browser is opened on it, as Jupyter does, so that the token
    is not on the browser's command line (which other users of the machine can read)."""
    import html

    try:
        path = _redirect_path(port)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(
                f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url='
                f'{html.escape(url)}"><title>alwidget</title></head><body><p>Opening <a href="{html.escape(url)}">'
                "the labelling app</a>…</p></body></html>\n"
            )
        return path
    except (OSError, ImportError):
        return None


def _stop_with_parent() -> None:
    """In Voila's process, before it starts (Linux): SIGTERM when this command dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort: the usual stop is _stop()
        pass


def _voila_version() -> str:
    try:
        from importlib.metadata import version

        return version("voila")
    except Exception:  # noqa: BLE001
        return "?"


def _open_browser(url: str) -> None:
    try:
        webbrowser.open(url, new=2)
    except Exception:  # noqa: BLE001 - no browser: the URL is printed
        pass


_NOISE = (
    "Kernel is running over TCP without encryption",
    "is not trusted",
    "websocket_ping_timeout",
    "_xsrf",  # Voila's shutdown request when a page is left: such kernels are culled instead (see _serve)
)


def _pump(proc: subprocess.Popen, log_path: Path, verbose: bool) -> None:
    """Copy Voila's output (and its kernels') to the log; echo its warnings and errors (all of it with --verbose).

    Tracebacks are not echoed: Voila logs them for requests it refuses (e.g.
    a path outside its static folders), and an error of the app itself is
    shown in the page.
    """
    with open(log_path, "ab") as log:
        for raw in iter(proc.stdout.readline, b""):
            log.write(raw)
            log.flush()
            line = raw.decode("utf-8", "replace").rstrip()
            if verbose or (
                any(m in line for m in ("[W ", "[E ", "[C ", " WARNING ", " ERROR ", " CRITICAL "))
                and not any(n in line for n in _NOISE)
            ):
                print(f"[voila] {line}", file=sys.stderr, flush=True)


def _tail(log_path: Path, n: int = 15) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in lines[-n:])


def _wait_ready(proc: subprocess.Popen, ip: str, port: int, log_path: Path) -> None:
    """Wait until Voila answers HTTP (its login page: no kernel is started for it)."""
    host = _url_host(ip).strip("[]")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
            if "no available port" in text or "already in use" in text:
                raise AppInputError(f"cannot serve on {ip} port {port}: the port is in use; choose another with --port")
            raise _ServerError(
                f"Voila could not start (exit status {proc.returncode}); its last lines:\n{_tail(log_path)}"
            )
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("GET", "/login")
            conn.getresponse().read()
            return
        except OSError:
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline:
            raise _ServerError(f"Voila did not answer within {READY_TIMEOUT_S} s; its last lines:\n{_tail(log_path)}")
        time.sleep(0.2)


def _install_stop_handlers() -> dict:
    def stop(signum, frame):
        raise _Stop(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C stops the server even where SIGINT was ignored when this command started (as a shell does for
        # `alwidget demo &`), as Jupyter's server does
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, stop)
    return previous


def _restore_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _stop(proc: subprocess.Popen) -> None:
    """Stop Voila (SIGTERM: it shuts its kernels down); kill it, and any kernel it left, if that fails.

    Kernels run in sessions of their own (jupyter_client starts them so), so
    they are found before Voila stops, as its child processes, and checked by
    process id and start time afterwards: only processes this command started
    are ever signalled.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
    try:
        children = _children(proc.pid)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _note("Voila did not stop in time; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything else left in Voila's own process group
        deadline = time.monotonic() + 5
        while any(_same_process(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        for child in children:
            if _same_process(child):
                pid = child[0]
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    if os.getpgid(pid) == pid:  # a kernel leads its own group: its workers go with it
                        os.killpg(pid, signal.SIGKILL)
                    else:
                        os.kill(pid, signal.SIGKILL)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _children(root: int) -> list[tuple[int, str]]:
    """``(pid, start time)`` of every descendant of ``root`` (Linux /proc; empty elsewhere)."""
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for pid in parents.get(todo.pop(), []):
            start = _start_time(pid)
            if start is not None:
                found.append((pid, start))
            todo.append(pid)
    return found


def _same_process(child: tuple[int, str]) -> bool:
    pid, start = child
    if _start_time(pid) != start:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


if __name__ == "__main__":
    sys.exit(main())
