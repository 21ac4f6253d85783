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


# A fake DOM just big enough for widget.js: render, feed every field, press keys, clean up, and count
# what is still hooked up.
FAKE_DOM_RUN = r"""
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

const mod = await import(process.argv[2]);
const el = document.createElement("div");
document.body.append(el);
const cleanup = mod.default.render({ model, el });
const root = el.children[0];
const out = { order: root.children.map((c) => c.className), listeners: count() };
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


@needs_node
def test_renders_and_cleans_up_in_a_fake_dom(tmp_path):
    script = tmp_path / "run.mjs"
    script.write_text(FAKE_DOM_RUN, encoding="utf-8")
    r = subprocess.run(
        [NODE, str(script), WIDGET_JS.as_uri()], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["order"] == [
        "alw-head", "alw-blocked", "alw-body", "alw-classes", "alw-actions", "alw-search", "alw-demo",
        "alw-status", "alw-error", "alw-help",
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
