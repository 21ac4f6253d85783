"""The front end, alwidget/static/widget.js, checked without a browser.

- it parses as an ES module (``node --check``);
- it is built from view pieces that subscribe to model fields only through one helper, ``hooks``, whose
  ``destroy`` undoes every ``model.on`` with its ``model.off``; every piece hands its ``destroy`` back and
  ``render``'s cleanup calls them all;
- every model field it reads or subscribes to is a field of the session (or one of the widget's own traits);
- run in node against a small fake DOM: it renders, draws every field, handles a key, and its cleanup leaves
  no model, window or observer listener behind.

The real-browser checks are in tests/test_browser.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from alwidget.session import FIELDS

WIDGET_JS = Path(__file__).resolve().parents[1] / "alwidget" / "static" / "widget.js"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: the module's syntax is not checked")

# traits of LabelingWidget that are not session fields: the browser writes them
WIDGET_ONLY = {"autoplay"}
# what the browser may write with model.set ("command": commands as a trait, before they became messages)
WRITTEN = WIDGET_ONLY | {"command"}


def _source() -> str:
    return WIDGET_JS.read_text(encoding="utf-8")


def _functions(src: str) -> dict[str, str]:
    """Top-level ``function name(...) {...}`` bodies, by name (the module's functions start in column 0)."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"^(?:async )?function (\w+)\(", src, re.M)]
    ends = [m.start() for m in re.finditer(r"^}", src, re.M)]
    out = {}
    for start, name in starts:
        end = min(e for e in ends if e > start)
        out[name] = src[start : end + 1]
    return out


@needs_node
def test_module_parses():
    r = subprocess.run(
        [NODE, "--input-type=module", "--check"], input=_source(), capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr


def test_every_subscription_is_undone():
    src = _source()
    funcs = _functions(src)
    # model.on is called in one place, the hooks helper, which pushes the matching model.off onto its undo list
    ons = re.findall(r"model\.on\(\s*([^,]+?)\s*,\s*([^)]+?)\s*\)", src)
    assert ons, "no model.on at all?"
    for event, fn in ons:
        assert f"model.off({event}, {fn})" in src, f"model.on({event}, {fn}) is never undone"
    hooks = funcs["hooks"]
    assert len(ons) == 1 and "model.on(" in hooks, "subscribe to model fields through hooks(), nowhere else"
    assert re.search(r"undo\.push\(\(\) => model\.off\(event, fn\)\)", hooks)
    assert re.search(r"destroy\(\)\s*{\s*while \(undo\.length\) undo\.pop\(\)\(\);", hooks)
    # no event names spelled out elsewhere (a subscription that would bypass the helper)
    assert src.count('"change:') == 0 and src.count("'change:") == 0
    assert "addEventListener" not in src.replace(hooks, ""), "DOM listeners also go through hooks().listen"

    # every piece that hooks anything hands its destroy back, and render's cleanup calls every piece's destroy
    pieces = {name: body for name, body in funcs.items() if "= hooks(model)" in body}
    assert len(pieces) >= 8, sorted(pieces)
    for name, body in pieces.items():
        assert "destroy: hook.destroy" in body, f"{name} does not return its destroy"
    render = funcs["render"]
    for name in pieces:
        assert re.search(rf"\b{name}\(ctx\b", render), f"render does not build the piece {name}"
    assert re.search(r"return \(\) => {\s*for \(const piece of pieces\.reverse\(\)\) piece\.destroy\(\);", render)
    # every piece built by render lands in `pieces`: built inline in pieces.push(...) / [...], or named and pushed
    for name in pieces:
        call = re.search(rf"(?:const (\w+) = )?{name}\(ctx", render)
        if call.group(1):
            assert re.search(rf"pieces(?: = \[|\.push\()[^;]*\b{call.group(1)}\b", render), name


def test_fields_are_session_fields():
    src = _source()
    allowed = set(FIELDS) | WIDGET_ONLY
    got = set(re.findall(r"model\.get\(\s*\"(\w+)\"\s*\)", src))
    assert got, "no model.get found"
    assert got <= allowed, f"fields read that the session does not have: {sorted(got - allowed)}"
    assert not re.search(r"model\.get\(\s*[^\"\s]", src), "model.get with a computed name: check it by hand"
    subscribed = {f for names in re.findall(r"hook\.fields\(\"([\w ]+)\"", src) for f in names.split()}
    assert subscribed and subscribed <= allowed, sorted(subscribed - allowed)
    assert not re.search(r"hook\.fields\(\s*[^\"\s]", src), "hook.fields with computed names: check them by hand"
    written = set(re.findall(r"model\.set\(\s*\"(\w+)\"", src))
    assert written <= WRITTEN, sorted(written - WRITTEN)


def test_widget_only_traits_exist():
    """The names allowed besides the session's fields are synced traits of LabelingWidget."""
    widget = pytest.importorskip("alwidget.widget")
    traits = set(widget.LabelingWidget.class_trait_names(sync=True))
    assert WIDGET_ONLY <= traits
    assert set(FIELDS) <= traits


# A fake DOM just big enough for widget.js, and a fake model (FAKE_DOM); FAKE_DOM_RUN renders, feeds every
# field, presses keys, cleans up, and counts what is still hooked up.
FAKE_DOM = r"""
class Node {
  constructor() { this.childNodes = []; this.parentNode = null; this._ls = []; }
  get isConnected() { let n = this; while (n.parentNode) n = n.parentNode; return n === document; }
  contains(x) { for (let n = x; n; n = n.parentNode) if (n === this) return true; return false; }
  get textContent() { return this.childNodes.map((c) => c.textContent).join(""); }
  set textContent(v) {
    for (const c of this.childNodes) c.parentNode = null;
    this.childNodes = [];
    if (v !== "" && v !== null && v !== undefined) this.append(String(v));
  }
  append(...xs) {
    for (let x of xs) {
      if (typeof x === "string") x = new Text(x);
      if (x.parentNode) x.parentNode.childNodes.splice(x.parentNode.childNodes.indexOf(x), 1);
      x.parentNode = this;
      this.childNodes.push(x);
    }
  }
  appendChild(x) { this.append(x); return x; }
  addEventListener(type, fn, opt) { this._ls.push({ type, fn, capture: opt === true || !!(opt && opt.capture) }); live.add(this); }
  removeEventListener(type, fn, opt) {
    const capture = opt === true || !!(opt && opt.capture);
    const i = this._ls.findIndex((l) => l.type === type && l.fn === fn && l.capture === capture);
    if (i >= 0) this._ls.splice(i, 1);
  }
  _fire(e, capture) {
    for (const l of [...this._ls]) if (l.type === e.type && l.capture === capture) { e.currentTarget = this; l.fn(e); }
  }
}
class Text extends Node { constructor(t) { super(); this._t = t; } get textContent() { return this._t; } }
class Element extends Node {
  constructor(tag) {
    super(); this.tagName = tag.toUpperCase(); this.attributes = {}; this.dataset = {}; this.style = {};
    const self = this;
    this.classList = {
      _s: new Set(),
      add(c) { this._s.add(c); }, remove(c) { this._s.delete(c); }, contains(c) { return this._s.has(c); },
      toggle(c, f) { if (f === undefined) f = !this._s.has(c); f ? this._s.add(c) : this._s.delete(c); return f; },
    };
  }
  get className() { return [...this.classList._s].join(" "); }
  set className(v) { this.classList._s = new Set(String(v).split(/\s+/).filter(Boolean)); }
  get children() { return this.childNodes.filter((c) => c instanceof Element); }
  setAttribute(k, v) { this.attributes[k] = String(v); }
  getAttribute(k) { return k in this.attributes ? this.attributes[k] : null; }
  removeAttribute(k) { delete this.attributes[k]; if (k === "src") this.src = ""; }
  hasAttribute(k) { return k in this.attributes; }
  _matches(sel) { return sel.startsWith(".") ? this.classList.contains(sel.slice(1)) : this.tagName === sel.toUpperCase(); }
  closest(sel) { for (let n = this; n instanceof Element; n = n.parentNode) if (n._matches(sel)) return n; return null; }
  querySelectorAll(sel) {
    const out = [];
    const walk = (n) => { for (const c of n.children) { if (sel.split(/,\s*/).some((s) => c._matches(s))) out.push(c); walk(c); } };
    walk(this);
    return out;
  }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
  focus() { document.activeElement = this; }
  getBoundingClientRect() { return { left: 10, top: 0, width: 200, height: 110 }; }
  click() { dispatch(this, { type: "click" }); }
}
class HTMLElement extends Element { get isContentEditable() { return false; } }
class HTMLInputElement extends HTMLElement { constructor(t) { super(t); this.type = "text"; this.value = ""; this.files = null; } }
class HTMLTextAreaElement extends HTMLElement {}
class HTMLSelectElement extends HTMLElement { constructor(t) { super(t); this.value = ""; } }
class HTMLCanvasElement extends HTMLElement {
  getContext() { return { clearRect() {}, putImageData() {}, createImageData: (w, h) => ({ data: new Uint8ClampedArray(w * h * 4) }) }; }
}
class HTMLAudioElement extends HTMLElement {
  constructor(t) { super(t); this.src = ""; this.paused = true; this.currentTime = 0; this.duration = NaN; }
  load() {} pause() { this.paused = true; } play() { return Promise.resolve(); }
}
const kinds = { input: HTMLInputElement, textarea: HTMLTextAreaElement, select: HTMLSelectElement, canvas: HTMLCanvasElement, audio: HTMLAudioElement };
const live = new Set();
const document = new Node();
document.body = new HTMLElement("body");
document.append(document.body);
document.activeElement = document.body;
document.createElement = (tag) => new (kinds[tag] || HTMLElement)(tag);
document.createElementNS = (ns, tag) => new Element(tag);
document.createTextNode = (t) => new Text(t);
const window = new Node();
let observers = 0;
Object.assign(globalThis, {
  Node, Element, HTMLElement, HTMLInputElement, HTMLTextAreaElement, HTMLSelectElement, document, window,
  requestAnimationFrame: (f) => setTimeout(f, 16), cancelAnimationFrame: (id) => clearTimeout(id),
  ResizeObserver: class { constructor(f) { this.f = f; this.on = false; }
    observe() { if (!this.on) observers++; this.on = true; } disconnect() { if (this.on) observers--; this.on = false; } },
});

// capture on window, then target and bubble up to the document, then window: enough for the key handling
function dispatch(target, init) {
  const e = { bubbles: true, key: "", code: "", ctrlKey: false, metaKey: false, altKey: false, shiftKey: false,
    repeat: false, ...init, target, stopped: false, prevented: false };
  e.stopPropagation = () => { e.stopped = true; };
  e.preventDefault = () => { e.prevented = true; };
  window._fire(e, true);
  for (let n = target; n && !e.stopped; n = n.parentNode) n._fire(e, false);
  if (!e.stopped) window._fire(e, false);
  return e;
}

const cbs = new Map();
const sent = [];
const model = {
  attrs: {
    mode: "active", clip: {}, audio: new Uint8Array(0), spectrogram: new Uint8Array(0), guess: [], classes: [],
    progress: {}, training: false, plot: {}, message: "", error: "", blocked: "", demo: false,
    auto: { running: false, left: 0, done: 0 }, search: {}, command: {}, autoplay: true,
  },
  get(k) { return this.attrs[k]; },
  set(k, v) { this.attrs[k] = v; if (k === "command") sent.push(v); },
  save_changes() {},
  send(msg) { if (msg && msg.kind !== "search_audio") sent.push(msg); },  // commands as messages
  on(ev, fn) { if (!cbs.has(ev)) cbs.set(ev, []); cbs.get(ev).push(fn); },
  off(ev, fn) { const l = cbs.get(ev) || []; const i = l.indexOf(fn); if (i >= 0) l.splice(i, 1); },
  change(k, v) { this.attrs[k] = v; for (const fn of [...(cbs.get(`change:${k}`) || [])]) fn(); },
};
const count = () => [...cbs.values()].reduce((a, l) => a + l.length, 0);
// the elements Tab visits, in order (no positive tabindex anywhere: DOM order is Tab order)
const focusables = (node) => node.querySelectorAll("button, input, select, audio")
  .filter((n) => !(n instanceof HTMLInputElement && n.type === "file")).map((n) => n.className || n.tagName);
"""

FAKE_DOM_RUN = (
    FAKE_DOM
    + r"""
const mod = await import(process.argv[2]);
const el = document.createElement("div");
document.body.append(el);
const cleanup = mod.default.render({ model, el });
const root = el.children[0];
const out = { order: root.children.map((c) => c.className), listeners: count() };
out.body = root.querySelector(".alw-body").children.map((c) => c.className);
out.controls = root.querySelector(".alw-controls").children.map((c) => c.className);
out.fields = [...new Set([...cbs.keys()].map((k) => k.slice(7)))].sort();

model.change("classes", ["owl", "wren"]);
model.change("progress", { n_labeled: 2, n_pool: 10, counts: { owl: 2 }, per_minute: 12 });
model.change("spectrogram", new Uint8Array(6).fill(128));
model.attrs.audio = new Uint8Array([82, 73, 70, 70]);
model.change("clip", { index: 3, name: "a.wav", duration: 1.5, n_mels: 2, frames: 3, freq_ticks: [[0, "0"]] });
model.change("guess", [{ label: "owl", p: 0.8 }]);
model.change("plot", { title: "accuracy", x_max: 5, series: [{ key: "active", label: "active", x: [1, 2], y: [0.5, 0.6] }] });
model.change("mode", "review");
model.change("search", { query: "owl", left: 3, total: 8, class: "owl", rule: "p >= 0.5",
  bins: [{ name: "top", lo: 0.9, hi: 1, yes: 1, no: 0, unsure: 0, precision: 1, low: 0.2, high: 1, detected: true }],
  precision: { estimate: 0.9, low: 0.5, high: 1, windows: 3 }, density: { estimate: 0.1, low: 0.05, high: 0.2 } });
model.change("training", true);
model.change("demo", true);
model.change("auto", { running: true, left: 4, done: 0 });
model.change("message", "hello");
model.change("error", "boom");
model.change("blocked", "");
out.text = root.textContent;
out.buttons = root.querySelectorAll(".alw-class").map((b) => b.dataset.class);
out.counts = root.querySelectorAll(".alw-count").map((c) => c.textContent);
out.bins = root.querySelectorAll(".alw-bin").length;
out.dataset = { ...root.dataset };

root.focus();
const one = dispatch(root, { type: "keydown", key: "1" });
const again = dispatch(root, { type: "keydown", key: "2" });  // the same clip: dropped until the next clip
const m = dispatch(root, { type: "keydown", key: "m" });
const ctrl = dispatch(root, { type: "keydown", key: "s", ctrlKey: true });
out.keys = { one: [one.stopped, one.prevented], m: [m.stopped, m.prevented], ctrl: [ctrl.stopped, ctrl.prevented],
  again: again.stopped, suppress: root.getAttribute("data-lm-suppress-shortcuts") };
const input = root.querySelector(".alw-add-input");
input.value = "lark";
input.focus();
const enter = dispatch(input, { type: "keydown", key: "Enter" });
out.enter = [enter.stopped, enter.prevented];
out.sent = sent.map((c) => [c.kind, c.value ?? null, c.clip]);

cleanup();
out.after = { listeners: count(), window: window._ls.length, observers,
  dom: [...live].reduce((a, n) => a + n._ls.length, 0) };
console.log(JSON.stringify(out));
process.exit(0);
"""
)


@needs_node
def test_renders_and_cleans_up_in_a_fake_dom(tmp_path):
    script = tmp_path / "run.mjs"
    script.write_text(FAKE_DOM_RUN, encoding="utf-8")
    r = subprocess.run(
        [NODE, str(script), WIDGET_JS.as_uri()], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["order"] == ["alw-head", "alw-blocked", "alw-body"]
    # reading order: the clip, then its buttons and the rest of the controls, the plot last
    assert out["body"] == ["alw-left", "alw-controls", "alw-right"]
    assert out["controls"] == [
        "alw-classes", "alw-actions", "alw-audio-row", "alw-search", "alw-demo", "alw-status", "alw-error", "alw-help", "alw-credits",
    ]  # fmt: skip
    assert out["listeners"] > 0 and set(out["fields"]) <= set(FIELDS) | WIDGET_ONLY
    assert {"clip", "classes", "progress", "plot", "mode", "search", "message", "blocked"} <= set(out["fields"])
    assert out["buttons"] == ["owl", "wren"] and out["counts"] == ["2", "0"]
    assert out["bins"] == 3 and out["dataset"]["clip"] == "3" and out["dataset"]["mode"] == "review"
    assert "2 / 10 labelled" in out["text"] and "hello" in out["text"] and "boom" in out["text"]
    assert out["keys"]["one"] == [True, True] and out["keys"]["m"] == [True, True]  # handled keys stay in
    assert out["keys"]["ctrl"] == [False, False] and out["keys"]["again"] is True  # Ctrl+S reaches the host
    assert out["keys"]["suppress"] is None  # the last key was Ctrl+S: Lumino may see it
    assert out["enter"] == [True, True]
    assert out["sent"] == [["label", "owl", 3], ["add_class", "lark", 3]]
    assert out["after"] == {"listeners": 0, "window": 0, "observers": 0, "dom": 0}


def _run(tmp_path: Path, script: str) -> dict:
    """Run ``script`` (FAKE_DOM plus a scenario) under node with widget.js; its last line of output, as JSON."""
    path = tmp_path / "scenario.mjs"
    path.write_text(script, encoding="utf-8")
    r = subprocess.run([NODE, str(path), WIDGET_JS.as_uri()], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


PLAYER_RUN = (
    FAKE_DOM
    + r"""
const mod = await import(process.argv[2]);
const el = document.createElement("div");
document.body.append(el);
const cleanup = mod.default.render({ model, el });
const root = el.children[0];
const q = (sel) => root.querySelector(sel);
const texts = (sel) => q(sel).children.map((n) => n.textContent);
const out = {};
const show = (clip) => {
  model.change("spectrogram", new Uint8Array(6).fill(200));
  model.attrs.audio = new Uint8Array([82, 73, 70, 70]);
  model.change("clip", { index: 7, n_mels: 2, frames: 3, freq_ticks: [[0.5, "1k"]], ...clip });
  return { title: q(".alw-clip").textContent, time: texts(".alw-time-axis"), freq: texts(".alw-freq-axis"), level: q(".alw-level").textContent,
    levelShown: q(".alw-level").style.visibility, window: root.dataset.window,
    start: root.querySelectorAll(".alw-tick-start").length, end: root.querySelectorAll(".alw-tick-end").length };
};
// before anything arrives: placeholders hold the places of the guess and the curve
out.before = { guess: q(".alw-guess").textContent, plot: q(".alw-right").textContent };
model.change("classes", ["owl", "wren"]);
out.tab = focusables(root);
out.tabindex = root.querySelectorAll("button, input, select, audio, div, span").map((n) => n.tabIndex).filter((t) => t > 0);
// a window 38-40 s of a recording, played with 1 s around it (37-41 s)
const win = { name: "site1.flac@38", recording: "site1.flac", start: 38, end: 40, duration: 4,
  window_start: 1, window_end: 3, offset: 37, top_hz: 8000, db_range: [-80, 0] };
out.window = show(win);
out.guessEmpty = q(".alw-guess").textContent;
out.minute = show({ ...win, start: 58, end: 60, offset: 57 });
out.noOffset = show({ ...win, offset: undefined, start: 40.5, end: 42.5 });
out.long = show({ ...win, start: 3598, end: 3601, duration: 5, offset: 3597, top_hz: 22050 });
out.plain = show({ name: "a.wav", duration: 1.5 });
// click on the spectrogram (left 10, width 200 px): the audio plays from there
show(win);
const audio = q(".alw-audio");
let played = 0;
audio.play = () => { played++; return Promise.resolve(); };
dispatch(q(".alw-spec"), { type: "click", clientX: 160 });
out.seek = { time: audio.currentTime, played, playhead: root.dataset.playhead, shown: q(".alw-playhead").style.display };
model.change("guess", [{ label: "owl", p: 0.75 }, { label: "wren", p: 0.25 }]);
out.guess = q(".alw-guess").textContent;
model.change("plot", { title: "accuracy", x_max: 5, series: [], empty: "the curve appears after the first labels" });
out.plotEmpty = q(".alw-right").textContent;
model.change("plot", { title: "accuracy", x_max: 5, series: [{ key: "active", label: "active", x: [1, 2], y: [0.5, 0.6] }] });
out.plot = q(".alw-right").textContent;
cleanup();
console.log(JSON.stringify(out));
process.exit(0);
"""
)

GUESS_HINT = "the model's guess appears after the first labels"
PLOT_HINT = "the accuracy curve appears once enough clips are checked"


@pytest.fixture(scope="module")
def player_run(tmp_path_factory):
    if NODE is None:
        pytest.skip("node is not installed")
    return _run(tmp_path_factory.mktemp("player"), PLAYER_RUN)


@needs_node
def test_a_window_is_named_once_in_the_recordings_clock(player_run):
    w = player_run["window"]
    assert w["title"] == "site1.flac \u00b7 0:38\u20130:40 #7" and w["title"].count("site1.flac") == 1
    assert w["time"] == ["0:37", "0:38", "0:39", "0:40", "0:41"]  # the played 37-41 s, not 0-4 s
    assert w["start"] == 1 and w["end"] == 1 and w["window"] == "0.250-0.750"
    m = player_run["minute"]
    assert m["title"].startswith("site1.flac \u00b7 0:58\u20131:00 ")  # one format for both ends
    assert m["time"] == ["0:57", "0:58", "0:59", "1:00", "1:01"]
    # a session that sends no offset: the window's start less its place in the played audio
    no_offset = player_run["noOffset"]  # plays 39.5-43.5 s: ticks on whole seconds, none at the left edge
    assert no_offset["time"] == ["0:40", "0:41", "0:42", "0:43"] and no_offset["start"] == 0
    long = player_run["long"]
    assert long["title"].startswith("site1.flac \u00b7 0:59:58\u20131:00:01 ")  # the hour on both ends
    assert long["time"] == ["0:59:58", "1:00:00", "1:00:02"]  # long labels: fewer ticks
    p = player_run["plain"]
    assert p["title"] == "a.wav #7 \u00b7 1.5 s" and p["time"] == ["0 s", "0.5", "1", "1.5"]


@needs_node
def test_the_spectrogram_has_its_top_frequency_and_colour_scale(player_run):
    w = player_run["window"]
    assert w["freq"] == ["1k", "8 kHz"] and player_run["long"]["freq"] == ["1k", "22 kHz"]
    assert w["level"] == "\u221280 dB0 dB re max" and w["levelShown"] == "visible"
    p = player_run["plain"]  # a session that sends neither: no label made up, the space kept
    assert p["freq"] == ["1k"] and p["level"] == "" and p["levelShown"] == "hidden"


@needs_node
def test_a_click_on_the_spectrogram_plays_from_there(player_run):
    # clientX 160 on a spectrogram drawn from x=10, 200 px wide: 75% of the 4 s played
    assert player_run["seek"] == {"time": 3, "played": 1, "playhead": "0.750", "shown": "block"}


@needs_node
def test_placeholders_hold_the_places_of_the_guess_and_the_curve(player_run):
    before = player_run["before"]
    assert GUESS_HINT in before["guess"] and PLOT_HINT in before["plot"]
    assert GUESS_HINT in player_run["guessEmpty"]
    assert GUESS_HINT not in player_run["guess"] and "owl75%" in player_run["guess"]
    # the session's own hint wins over the general one; a curve replaces both
    assert (
        "the curve appears after the first labels" in player_run["plotEmpty"]
        and PLOT_HINT not in player_run["plotEmpty"]
    )
    assert PLOT_HINT not in player_run["plot"] and "active" in player_run["plot"]


@needs_node
def test_tab_reaches_the_class_buttons_before_the_audio(player_run):
    tab = player_run["tab"]
    assert tab[:2] == ["alw-btn alw-class", "alw-btn alw-class"]
    first_audio = tab.index("alw-audio")
    for cls in ("alw-btn alw-skip", "alw-btn alw-unsure", "alw-btn alw-undo"):
        assert tab.index(cls) < first_audio
    assert tab[first_audio + 1] == "alw-btn alw-replay"  # the audio controls stay together
    assert player_run["tabindex"] == []  # DOM order, no positive tabindex


def test_the_playhead_is_drawn_apart_from_the_window_outline():
    css = WIDGET_JS.with_name("widget.css").read_text(encoding="utf-8")

    def rule(selector: str) -> dict[str, str]:
        body = re.search(rf"^{re.escape(selector)} \{{([^}}]*)\}}", css, re.M).group(1)
        return dict(re.findall(r"([\w-]+):\s*([^;]+);", body))

    head, box = rule(".alw-playhead"), rule(".alw-window")
    assert int(head["z-index"]) > int(box["z-index"])  # above the outline
    assert head["background"] not in box["border"] and "#ffffff" in box["border"]
    assert float(head["width"].removesuffix("px")) > 2  # thicker than the outline's 2 px border


def test_the_plot_goes_last_on_a_narrow_panel():
    css = WIDGET_JS.with_name("widget.css").read_text(encoding="utf-8")
    narrow = re.search(r"@container \(max-width: 640px\) \{(.*?)\n\}", css, re.S).group(1)
    # one column, every part auto-placed: DOM order (left, controls, right) is the order on screen
    assert "grid-template-columns: minmax(0, 1fr);" in narrow
    assert re.search(r"\.alw-left, \.alw-right, \.alw-controls \{ grid-column: 1; grid-row: auto; \}", narrow)


# issue 28: the detection review's yes / no keys and buttons, and "/" to label with any class by name
KEYS_SCENARIO = r"""
const mod = await import(process.argv[2]);
const el = document.createElement("div");
document.body.append(el);
const cleanup = mod.default.render({ model, el });
const root = el.children[0];
const out = {};
const names = ["owl", "wren", "jay", "kite", "lark", "rook", "crow", "tit", "finch", "nightjar", "nuthatch"];
let n = 0;
const nextClip = () => model.change("clip", { index: ++n, name: `c${n}.wav`, duration: 1, n_mels: 2, frames: 3, freq_ticks: [] });
const key = (k, target) => dispatch(target || root, { type: "keydown", key: k });
const help = () => root.querySelector(".alw-help").textContent;
const answerBox = () => root.querySelector(".alw-answer");
model.change("classes", names);
nextClip();
out.help = help();
out.tenth = root.querySelectorAll(".alw-class")[9].querySelectorAll("kbd").length;
root.focus();
key("y"); key("n");  // active learning: no question is asked, y and n do nothing
out.activeSent = sent.length;
out.activeAnswer = answerBox().style.display;

model.change("mode", "review");
model.change("search", { query: "detections of owl", class: "owl", rule: "predicted owl", left: 3, total: 3, bins: [] });
out.question = answerBox().textContent;
out.shown = answerBox().style.display;
out.reviewHelp = help();
key("y");
nextClip();
key("n");
nextClip();
root.querySelector(".alw-no").click();  // the button does what the key does
nextClip();
key("?");
model.change("search", { query: "detections of owl", class: "owl", rule: "predicted owl", left: 0, total: 3, bins: [], done: true });
out.doneShown = answerBox().style.display;
nextClip();
key("y");  // the review is done: no answer

model.change("mode", "active");
model.change("search", {});
nextClip();
const slash = key("/");
const picker = root.querySelector(".alw-pick-input");
out.picker = [slash.prevented, picker.style.display, document.activeElement === picker];
picker.value = "NUT";
const enter = key("Enter", picker);
out.pickEnter = [enter.stopped, enter.prevented, picker.style.display, document.activeElement === root];
nextClip();
key("/");
picker.value = "zebra";  // no such class: nothing sent, the box stays open
key("Enter", picker);
out.pickMissing = picker.style.display;
out.sent = sent.map((c) => [c.kind, c.value ?? null, c.clip]);
cleanup();
out.after = count();
console.log(JSON.stringify(out));
process.exit(0);
"""
KEYS_RUN = FAKE_DOM_RUN.split("const mod = await import(process.argv[2]);")[0] + KEYS_SCENARIO


@needs_node
def test_detection_review_keys_and_the_class_picker_in_a_fake_dom(tmp_path):
    script = tmp_path / "keys.mjs"
    script.write_text(KEYS_RUN, encoding="utf-8")
    r = subprocess.run(
        [NODE, str(script), WIDGET_JS.as_uri()], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert "/ then the start of a name + Enter" in out["help"] and "y yes" not in out["help"]
    assert out["tenth"] == 0  # no number key for the tenth class: "/" reaches it
    assert out["activeSent"] == 0 and out["activeAnswer"] == "none"
    assert out["question"].startswith("is this an owl?") and out["shown"] == ""
    assert out["reviewHelp"].startswith("keys: y yes \u00b7 n no \u00b7 ? unsure")
    assert out["doneShown"] == "none"
    assert out["picker"] == [True, "", True]
    assert out["pickEnter"] == [True, True, "none", True]
    assert out["pickMissing"] == ""
    assert out["sent"] == [
        ["answer", "yes", 1], ["answer", "no", 2], ["answer", "no", 3], ["unsure", None, 4], ["label", "nuthatch", 6],
    ]  # fmt: skip
    assert out["after"] == 0


# issue 28 / 26: header words, the plot's note, why a label is doubted, and the end of the pool
END_SCENARIO = r"""
const mod = await import(process.argv[2]);
const el = document.createElement("div");
document.body.append(el);
const cleanup = mod.default.render({ model, el });
const root = el.children[0];
const q = (sel) => root.querySelector(sel);
const out = {};
model.change("classes", ["owl", "wren"]);
model.change("clip", { index: 3, name: "a.wav", duration: 1, n_mels: 2, frames: 3, freq_ticks: [],
  given: "owl", doubt: "held-out model says wren (81%)" });
out.title = q(".alw-clip").textContent;
const progress = { n_labeled: 4, n_pool: 10, open: 6, counts: { owl: 3, wren: 1 }, per_minute: 129,
  rate: "", model: "model trained on 4 labels", summary: {} };
model.change("progress", progress);
out.rateEarly = q(".alw-rate").textContent;
out.model = q(".alw-model").textContent;
model.change("progress", { ...progress, rate: "12 labels/min" });
out.rate = q(".alw-rate").textContent;
model.change("plot", { title: "accuracy on the whole pool", x_max: 5, note: "not enough audits yet (3 of 8)",
  series: [{ key: "active", label: "true accuracy, active learning (margin)", x: [1, 2], y: [0.5, 0.6] }] });
out.legend = q(".alw-legend").textContent;
out.credits = [[q(".alw-credits").textContent, q(".alw-credits").hidden]];
model.change("credits", "aiSFX embeddings: Ma and Lerch; weights licensed CC BY 4.0\nsecond part");
out.credits.push([q(".alw-credits").textContent, q(".alw-credits").hidden]);
out.endBefore = [q(".alw-end").style.display, root.dataset.poolDone];
// the end of the pool: a summary in place of the clip, the label buttons off, undo still on
model.change("clip", {});
model.change("progress", { ...progress, n_labeled: 9, open: 0, summary: { title: "every clip is labelled or set aside",
  lines: ["9 labels: owl 5 \u00b7 wren 4", "estimated accuracy: 0.83 (95%: 0.71\u20130.91), from 12 audit clips"],
  next: ["review your labels, most doubtful first", "export the labels: learner.export_labels('labels.csv')"] } });
out.end = [q(".alw-end").style.display, root.dataset.poolDone, q(".alw-end").textContent];
out.disabled = root.querySelectorAll(".alw-btn").filter((b) => b.disabled).map((b) => b.className);
q(".alw-end-review").click();
q(".alw-undo").click();
out.sent = sent.map((c) => c.kind);
model.change("clip", { index: 4, name: "b.wav", duration: 1, n_mels: 2, frames: 3, freq_ticks: [] });  // undo
model.change("progress", progress);
out.endAfter = [q(".alw-end").style.display, root.dataset.poolDone];
out.disabledAfter = root.querySelectorAll(".alw-btn").filter((b) => b.disabled).map((b) => b.className);
cleanup();
out.after = count();
console.log(JSON.stringify(out));
process.exit(0);
"""


@needs_node
def test_header_plot_review_and_end_of_pool_words_in_a_fake_dom(tmp_path):
    out = _run(tmp_path, FAKE_DOM + END_SCENARIO)
    assert out["title"].endswith(" \u00b7 labelled owl \u00b7 held-out model says wren (81%)")
    assert out["rateEarly"] == "" and out["rate"] == "12 labels/min"  # per_minute alone is not shown
    assert out["model"] == "model trained on 4 labels"
    assert out["legend"].endswith("not enough audits yet (3 of 8)")
    # the pretrained features' attribution, shown only when there is one
    assert out["credits"] == [
        ["", True],
        ["features: aiSFX embeddings: Ma and Lerch; weights licensed CC BY 4.0 \u00b7 second part", False],
    ]
    assert out["endBefore"] == ["none", "0"]
    display, done, text = out["end"]
    assert display == "" and done == "1"
    for words in ("every clip is labelled", "owl 5", "0.83 (95%: 0.71", "what next", "export_labels", "review labels"):
        assert words in text, (words, text)
    # off at the end of the pool, on again when a clip is back (other buttons keep their own state)
    turned_off = set(out["disabled"]) - set(out["disabledAfter"])
    assert turned_off >= {"alw-btn alw-class", "alw-btn alw-skip", "alw-btn alw-unsure"}
    assert not turned_off & {"alw-btn alw-undo", "alw-btn alw-add", "alw-btn alw-end-review"}
    assert out["disabled"].count("alw-btn alw-class") == 2 and "alw-btn alw-undo" not in out["disabled"]
    assert out["sent"][-2:] == ["review", "undo"]
    assert out["endAfter"] == ["none", "0"] and "alw-btn alw-class" not in out["disabledAfter"]
    assert out["after"] == 0
