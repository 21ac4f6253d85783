"""What ``alwidget label`` and ``alwidget export`` know about folders and journals.

Everything here runs in the command's own process, before any server starts,
and is cheap: a folder is listed (never decoded), a journal is read (never
taken over). Errors are :class:`AppInputError`, whose message the command
prints before it exits with status 2.

Files next to the data
----------------------
``alwidget label FOLDER`` keeps its labels in ``FOLDER/alwidget.labels.jsonl``
(``alwidget label REC.wav --window S``: ``REC.wav.labels.jsonl``) unless
``--journal`` says otherwise, and the settings it ran with (folder, window,
hop, embedder, classes) beside it, in ``<journal stem>.settings.json``. The
settings let a re-run resume without repeating its options, and let
``alwidget export`` place windows in their recordings (the journal holds
window ids such as ``rec.wav@5.0``, not their length).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from alwidget._files import file_mode

JOURNAL_NAME = "alwidget.labels.jsonl"
SETTINGS_FORMAT = "alwidget-app-settings"
LABEL_KINDS = ("teach", "relabel", "skip", "unsure")
_WINDOW_ID = re.compile(r"(.+)@([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)", re.DOTALL)  # as alwidget.export


class AppInputError(Exception):
    """Bad input to the command line: its message is printed, and the command exits with status 2."""


# ---------------------------------------------------------------------- folders


def audio_extensions() -> frozenset:
    from alwidget.audio import AUDIO_EXTENSIONS

    return frozenset(e.lower() for e in AUDIO_EXTENSIONS)


def list_audio(root: Path) -> list[Path]:
    """Audio files below the folder ``root`` (hidden files and folders skipped), by relative path."""
    ext = audio_extensions()
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in ext]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in audio_extensions()


@dataclass
class Pool:
    """The clips (or recordings) ``alwidget label PATH`` would label: found by listing, nothing decoded."""

    path: Path  # the folder, or the one recording
    root: Path  # the folder that clip ids are relative to
    files: list[Path]
    windowed: bool
    subfolders: list[str] = field(default_factory=list)  # top-level subfolders holding audio (clips only)

    @property
    def ids(self) -> set[str]:
        """Relative paths (posix) of the files: a clip's id, or the recording part of a window's id."""
        return {f.relative_to(self.root).as_posix() for f in self.files}


def find_pool(path: str, *, windowed: bool) -> Pool:
    """List ``path``: a folder of clips, or (``windowed``) a folder of recordings or one recording."""
    p = Path(path).expanduser()
    if not p.exists():
        what = "folder of recordings (or recording)" if windowed else "folder"
        raise AppInputError(f"{path}: no such {what}; pass the folder that holds your audio")
    if p.is_file():
        if not windowed:
            raise AppInputError(
                f"{path} is a file, not a folder: pass the folder that holds your clips, "
                "or cut this recording into windows with --window SECONDS"
            )
        if not is_audio_file(p):
            raise AppInputError(
                f"{path} is not an audio file (expected one of: {', '.join(sorted(audio_extensions()))})"
            )
        p = p.resolve()
        _check_readable([p], path)
        return Pool(path=p, root=p.parent, files=[p], windowed=True)
    if not p.is_dir():
        raise AppInputError(f"{path} is neither a folder nor a file")
    p = p.resolve()
    try:
        files = list_audio(p)
    except OSError as exc:
        raise AppInputError(f"cannot read the folder {path}: {exc.strerror or exc}") from None
    if not files:
        raise AppInputError(
            f"no audio files in {path} or its subfolders (expected extensions: {', '.join(sorted(audio_extensions()))})"
        )
    _check_readable(files, path)
    subfolders = []
    if not windowed:
        subfolders = sorted({f.relative_to(p).parts[0] for f in files if len(f.relative_to(p).parts) > 1})
    return Pool(path=p, root=p, files=files, windowed=windowed, subfolders=subfolders)


def _check_readable(files: list[Path], path: str) -> None:
    """At least one of ``files`` has a header libsndfile reads (checked in order, stopping at the first)."""
    import soundfile as sf

    first = None
    for f in files:
        try:
            sf.info(str(f))
            return
        except (RuntimeError, OSError, ValueError) as exc:  # soundfile raises LibsndfileError (a RuntimeError)
            first = first or (f, exc)
    f, exc = first
    raise AppInputError(
        f"none of the {len(files)} audio file(s) in {path} can be read (e.g. {f}: {exc}); "
        "check the files or their format"
    )


def default_journal(path: Path) -> Path:
    """Where the labels of ``path`` go by default: inside a folder, beside a single recording."""
    return path / JOURNAL_NAME if path.is_dir() else path.with_name(path.name + ".labels.jsonl")


def parse_classes(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",")]
    if not text.strip() or any(not c for c in names):
        raise AppInputError(f"--classes {text!r}: give class names separated by commas, e.g. --classes bird,frog,noise")
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise AppInputError(f"--classes {text!r} names {dup[0]!r} twice; give each class once")
    return names


# ---------------------------------------------------------------------- settings beside the journal


def settings_path(journal: Path) -> Path:
    stem = journal.name[: -len(".jsonl")] if journal.name.endswith(".jsonl") else journal.name
    return journal.with_name(stem + ".settings.json")


def read_settings(journal: Path) -> dict:
    """The settings saved beside ``journal`` by an earlier ``alwidget label``; {} if none (or unreadable)."""
    try:
        data = json.loads(settings_path(journal).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == SETTINGS_FORMAT else {}


def write_settings(journal: Path, settings: dict) -> None:
    target = settings_path(journal)
    data = json.dumps({"format": SETTINGS_FORMAT, "version": 1, **settings}, indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.chmod(tmp, file_mode(target))  # as the other writers: the replaced file's mode, else open()'s
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------- journals


def read_journal(path: Path):
    """The journal's contents (:class:`alwidget._journal.JournalContents`), or an AppInputError saying why not."""
    from alwidget import _journal
    from alwidget.errors import AlwidgetError

    if path.is_dir():
        raise AppInputError(f"the journal {path} is a folder; pass a file, e.g. {path / JOURNAL_NAME}")
    try:
        contents = _journal.read(path)
    except FileNotFoundError:
        raise AppInputError(f"{path}: no such journal") from None
    except OSError as exc:
        raise AppInputError(f"cannot read the journal {path}: {exc.strerror or exc}") from None
    except AlwidgetError as exc:
        raise AppInputError(str(exc)) from None
    if contents.foreign:
        raise AppInputError(
            f"{path} is not an alwidget journal (no journal record in it); it was left unchanged. "
            "Pass --journal with a new file name, or the journal that alwidget wrote"
        )
    return contents


def labelled_ids(records: list[dict]) -> list:
    """Every clip id the journal's events name (labels, skips, unsure answers), in first-seen order."""
    seen: dict = {}
    for r in records:
        if r.get("kind") in LABEL_KINDS:
            for i in r.get("ids", []):
                if isinstance(i, (str, int)) and not isinstance(i, bool):
                    seen.setdefault(i, None)
    return list(seen)


def check_journal(
    journal: Path, pool: Pool, *, embedder: str, settings: dict, window: float | None = None, hop: float | None = None
) -> list[str]:
    """Refuse a journal this pool cannot resume from; return its classes (from its header), if any.

    The kernel's learner would refuse it too, but in the page, after the
    embedding: saying so here, at once, is kinder.
    """
    if not journal.exists():
        return []
    contents = read_journal(journal)
    header = contents.header or {}
    if header.get("ids") == "index":
        raise AppInputError(
            f"the journal {journal} identifies clips by their position in a notebook's pool, not by file name, "
            "so this app cannot match its labels to the files; pass --journal with a new file name"
        )
    previous = settings.get("embedder")
    if previous and previous != embedder and (contents.header is not None or contents.records):
        raise AppInputError(
            f"the journal {journal} was written with --embedder {previous}; its learner needs the same "
            f"features to resume. Run again with --embedder {previous}, or pass --journal with a new file name"
        )
    ids = labelled_ids(contents.records)
    saved = (settings.get("window"), settings.get("hop"))
    if ids and saved[0] and window and (window, hop) != saved:
        raise AppInputError(
            f"the journal {journal} holds windows cut with --window {saved[0]:g} --hop {saved[1]:g}; other windows "
            f"would not match its labels. Run again with those (or without --window), or pass --journal with a new "
            "file name"
        )
    if ids:
        known = pool.ids
        found = [i for i in ids if _recording_of(i, pool.windowed) in known]
        if not found:
            windows = sum(isinstance(i, str) and _WINDOW_ID.fullmatch(i) is not None for i in ids)
            hint = ""
            if windows == len(ids) and not pool.windowed:
                hint = " Its clips are windows of recordings (ids like 'rec.wav@5.0'): add --window SECONDS."
            elif pool.windowed and windows == 0:
                hint = " Its clips are whole files, not windows: leave out --window."
            raise AppInputError(
                f"the journal {journal} belongs to another pool: none of its {len(ids)} clips "
                f"(e.g. {ids[0]!r}) is in {pool.path}.{hint} Pass the folder it was made for, "
                "or --journal with a new file name"
            )
    return [c for c in header.get("classes", []) if isinstance(c, str)]


def _recording_of(clip_id, windowed: bool):
    if windowed and isinstance(clip_id, str):
        m = _WINDOW_ID.fullmatch(clip_id)
        return m[1] if m else None
    return clip_id


def check_writable(journal: Path) -> None:
    """The journal can be created (or appended to) here, or an AppInputError that says where to put it instead."""
    if journal.is_dir():
        raise AppInputError(f"the journal {journal} is a folder; pass a file, e.g. --journal {journal / JOURNAL_NAME}")
    folder = journal.parent
    if not folder.is_dir():
        raise AppInputError(f"cannot write the journal {journal}: the folder {folder} does not exist")
    target = journal if journal.exists() else folder
    if not os.access(target, os.W_OK):
        raise AppInputError(
            f"cannot write the journal {journal} ({target} is read-only); pass --journal FILE in a folder you can write"
        )


# ---------------------------------------------------------------------- export


@dataclass
class Labels:
    """The labels a journal holds in the end (undos applied), as ``alwidget export`` writes them."""

    rows: list[dict]  # id, index, label, mode: labels first-to-last by index, "unsure" answers with label ""
    problems: list[str]


def final_labels(journal: Path) -> Labels:
    """Replay ``journal`` (a private copy of it: the running app keeps its journal) and list its labels.

    The learner's own replay decides what each clip ends up as (undo, relabel,
    unsure, skip), so this export agrees with ``learner.export_labels``. The
    copy's header is rewritten to a pool of exactly the clips the journal
    names, with one feature each: no embeddings are needed.
    """
    import numpy as np

    from alwidget import _journal
    from alwidget.errors import AlwidgetError

    contents = read_journal(journal)
    ids = labelled_ids(contents.records)
    classes = [c for c in (contents.header or {}).get("classes", []) if _is_name(c)]
    for r in contents.records:
        if r.get("kind") in ("teach", "relabel", "add_class"):
            classes += [c for c in r.get("labels", []) if _is_name(c) and c not in classes]
    if not ids or not classes:
        return Labels(rows=[], problems=list(contents.problems))
    index_of: dict = {}
    for r in contents.records:  # the clip's row in the dataset when it was labelled, as export_labels writes it
        if r.get("kind") in LABEL_KINDS:
            for clip, i in zip(r.get("ids", []), r.get("idx", [])):
                index_of[clip] = i
    header = {
        "kind": "header",
        "format": _journal.FORMAT,
        "v": _journal.VERSION,
        "n_pool": len(ids),
        "dim": 1,
        "ids": "clip",
        "classes": list(dict.fromkeys(classes)),
        "t": (contents.header or {}).get("t", 0.0),
    }
    from alwidget import ActiveLearner

    with tempfile.TemporaryDirectory(prefix="alwidget-export-") as tmp:
        copy = Path(tmp) / "journal.jsonl"
        copy.write_bytes(b"".join(_journal.encode(r) for r in [header, *contents.records]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                learner = ActiveLearner(np.zeros((len(ids), 1), np.float32), header["classes"], ids=ids, journal=copy)
            except AlwidgetError as exc:
                raise AppInputError(
                    f"cannot read the labels in {journal}: {str(exc).replace(str(copy), str(journal))}"
                ) from None
            labels, modes, unsure = learner.labels, learner.label_modes, learner.unsure_idx.tolist()
            learner.close_journal()
        problems = list(contents.problems) + [str(w.message).replace(str(copy), str(journal)) for w in caught]
    rows = [
        {"id": ids[i], "index": index_of.get(ids[i], ""), "label": c, "mode": modes.get(i, "active")}
        for i, c in labels.items()
    ]
    rows += [{"id": ids[i], "index": index_of.get(ids[i], ""), "label": "", "mode": "unsure"} for i in unsure]
    rows.sort(key=lambda r: (r["index"] if isinstance(r["index"], int) else math.inf, str(r["id"])))
    return Labels(rows=rows, problems=list(dict.fromkeys(problems)))


def _is_name(value) -> bool:
    """A class name as journals hold them: a string or an integer."""
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def export_target(to: str) -> str:
    """``"csv"``, ``"raven-table"`` (one combined .txt) or ``"raven-folder"`` (one table per recording)."""
    p = Path(to)
    if to.endswith(("/", os.sep)) or p.is_dir():
        return "raven-folder"
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".txt":
        return "raven-table"
    if suffix == "":
        return "raven-folder"
    raise AppInputError(
        f"--to {to}: write labels to a .csv file (labels.csv), a Raven selection table (.txt), "
        "or a folder of Raven tables, one per recording (raven/)"
    )


def write_labels_csv(labels: Labels, to: Path) -> list[Path]:
    """``id,index,label,mode`` (the columns of ``learner.export_labels``), written atomically."""
    import numpy as np

    from alwidget.errors import AlwidgetError
    from alwidget.export import write_csv

    columns = ("id", "index", "label", "mode")
    table = np.empty(len(labels.rows), dtype=[(c, object) for c in columns])
    for k, row in enumerate(labels.rows):
        table[k] = tuple(row[c] for c in columns)
    try:
        write_csv(table, to)
    except AlwidgetError as exc:
        raise AppInputError(str(exc)) from None
    return [to]


def data_root(journal: Path, settings: dict, data: str | None) -> Path | None:
    """The folder that the journal's clip ids are relative to: --data, the saved settings, or the journal's folder."""
    if data is not None:
        root = Path(data).expanduser()
        if not root.is_dir():
            raise AppInputError(f"--data {data}: no such folder")
        return root.resolve()
    saved = settings.get("data")
    if isinstance(saved, str) and saved:
        p = Path(saved)
        return p if p.is_dir() else p.parent
    return journal.resolve().parent


def write_labels_raven(
    labels: Labels, to: Path, *, per_recording: bool, root: Path | None, window: float | None
) -> list[Path]:
    """The labels as Raven Pro selection tables: one selection per labelled clip (answers "unsure" left out).

    A clip is the whole file (0 to its duration); a window ``rec.wav@12.5``
    is ``window`` seconds from 12.5 s, cut at the end of its recording. The
    class column holds the label and the score column 1 (a person's answer).
    Begin Path is the audio file's absolute path, so Raven can open the table
    as a sound selection table. The band is 0 Hz to half the lowest sample
    rate among the files.
    """
    import soundfile as sf

    from alwidget.errors import AlwidgetError
    from alwidget.export import write_raven

    rows = [r for r in labels.rows if r["mode"] != "unsure"]
    info: dict[str, tuple[float, int]] = {}

    def probe(rel: str) -> tuple[float, int]:
        if rel not in info:
            path = (root / rel) if root is not None else Path(rel)
            try:
                meta = sf.info(str(path))
            except (RuntimeError, OSError, ValueError) as exc:
                raise AppInputError(
                    f"cannot read {path}, needed for the times of its labels in a Raven table ({exc}); "
                    "pass --data FOLDER, the folder the clips were labelled in"
                ) from None
            info[rel] = (meta.frames / meta.samplerate, int(meta.samplerate))
        return info[rel]

    table = []
    for r in rows:
        clip = str(r["id"])
        m = _WINDOW_ID.fullmatch(clip)
        if m is not None and not (root is not None and (root / clip).is_file()):
            if window is None:
                raise AppInputError(
                    f"the labels are windows of recordings (ids like {clip!r}) and the journal does not say how long "
                    "a window is: pass --window SECONDS, as given to alwidget label"
                )
            rel, start = m[1], float(m[2])
            duration, _ = probe(rel)
            end = min(start + window, duration) if duration > start else start + window
        else:
            rel, start = clip, 0.0
            end, _ = probe(rel)
        path = (root / rel) if root is not None else Path(rel)
        table.append({"recording": str(path), "start": start, "end": end, "predicted": r["label"], "probability": 1.0})
    rates = [sr for _, sr in info.values()]
    import numpy as np

    dtype = [("recording", object), ("start", float), ("end", float), ("predicted", object), ("probability", float)]
    array = np.empty(len(table), dtype=dtype)
    for k, row in enumerate(table):
        array[k] = tuple(row[name] for name, _ in dtype)
    try:
        if per_recording:
            to.mkdir(exist_ok=True)
        return write_raven(array, to, per_recording=per_recording, sr=min(rates) if rates else 16000)
    except AlwidgetError as exc:
        raise AppInputError(str(exc)) from None
    except OSError as exc:
        raise AppInputError(f"cannot write to {to}: {exc.strerror or exc}") from None
