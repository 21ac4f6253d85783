// Front end of alwidget's LabelingWidget (an anywidget ES module).
//
// State comes from Python through traits (one per LabelingSession field);
// actions go back as messages, model.send({kind, value, clip, view}), and
// `autoplay`; an audio file to search with goes as a custom message with one
// binary buffer ({kind: "search_audio", name}, [ArrayBuffer]). Keys are handled here while the widget has focus, and no
// notebook shortcut fires meanwhile, in every host:
//  - Lumino (JupyterLab 4, Notebook 7) skips its key bindings for events whose
//    target has an ancestor with `data-lm-suppress-shortcuts`; Notebook 7
//    listens on the document in the capture phase, before any listener of
//    ours on the element could stop the event, so the attribute is what works
//    there. It is set on the root for plain keys and removed for Ctrl / Cmd /
//    Alt combinations (Ctrl+S still saves) by a capture listener on `window`,
//    which runs before any listener on the document.
//  - Other hosts: the root stops the propagation of every plain key.
//
// `render` builds the view from small pieces (focus badge, header, blocked banner, player, guess list, pool end, plot,
// class pad, search panel, review bins, auto-label controls, status line, keyboard): each builds its own DOM,
// subscribes to the model fields it shows through `hooks` and returns `{ update, destroy }`; the cleanup
// that `render` returns destroys them all, which undoes every subscription, listener, timer and observer.

const VIRIDIS_STOPS = [
  [68, 1, 84], [72, 35, 116], [64, 67, 135], [52, 94, 141], [41, 120, 142],
  [32, 144, 140], [34, 167, 132], [68, 190, 112], [121, 209, 81], [189, 222, 38], [253, 231, 37],
];
const SVG_NS = "http://www.w3.org/2000/svg";
const TRAINING_DELAY_MS = 300; // "training…" only for trainings longer than this
const TRAINING_MIN_MS = 500; // and then shown at least this long: no flicker
const MAX_QUERY_BYTES = 8 * 1024 * 1024; // Jupyter's websocket drops messages over 10 MiB
const PLOT_PLACEHOLDER = "the accuracy curve appears once enough clips are checked";

function makeLut() {
  const lut = new Uint8ClampedArray(256 * 3);
  const n = VIRIDIS_STOPS.length - 1;
  for (let v = 0; v < 256; v++) {
    const x = (v / 255) * n;
    const k = Math.min(Math.floor(x), n - 1);
    const f = x - k;
    for (let c = 0; c < 3; c++) {
      lut[v * 3 + c] = VIRIDIS_STOPS[k][c] * (1 - f) + VIRIDIS_STOPS[k + 1][c] * f;
    }
  }
  return lut;
}
const LUT = makeLut();

function toBytes(value) {
  if (!value) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(0);
}

function h(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function s(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function isTyping(target) {
  return (
    (target instanceof HTMLInputElement && target.type !== "checkbox" && target.type !== "file") ||
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement ||
    (target instanceof HTMLElement && target.isContentEditable)
  );
}

function plainKey(e) {
  return !(e.ctrlKey || e.metaKey || e.altKey);
}

// A place in a recording, always as m:ss, or h:mm:ss from an hour on or when `hours` is true (pass true for
// every time of a span or an axis that reaches an hour, so that they all read alike): 38 -> "0:38",
// 12.5 -> "0:12.5", 59.999 -> "1:00", 75 -> "1:15", 3725.25 -> "1:02:05.25"; (75, true) -> "0:01:15"
function clock(t, hours = false) {
  const cs = Math.max(0, Math.round(t * 100)); // hundredths of a second
  const hh = Math.floor(cs / 360000);
  const mm = Math.floor((cs % 360000) / 6000);
  const ss = (cs % 6000) / 100;
  const sec = (ss < 10 ? "0" : "") + String(ss);
  return hh || hours ? `${hh}:${String(mm).padStart(2, "0")}:${sec}` : `${mm}:${sec}`;
}

// "0:38–0:40", "0:58–1:00", "0:59:58–1:00:01": both ends in one format
function clockSpan(a, b) {
  const hours = Math.max(a, b) >= 3600 - 0.005;
  return `${clock(a, hours)}\u2013${clock(b, hours)}`;
}

// The top of a spectrogram's frequency axis: 8000 -> "8 kHz", 22050 -> "22 kHz", 500 -> "500 Hz"
function kiloHertz(hz) {
  return hz >= 1000 ? `${Number((hz / 1000).toPrecision(2))} kHz` : `${Math.round(hz)} Hz`;
}

// Where the labelled window lies in the played audio, as fractions: null when it is the whole clip
// (plain clips, and sessions that send no window).
function windowSpan(clip) {
  const dur = clip.duration || 0;
  const a = typeof clip.window_start === "number" ? clip.window_start : 0;
  const b = typeof clip.window_end === "number" ? clip.window_end : dur;
  if (!(dur > 0) || (a <= 1e-3 && b >= dur - 1e-3) || !(b > a)) return null;
  return [Math.max(0, a / dur), Math.min(1, b / dur)];
}

// Where the played audio starts in the recording, in seconds (0 for plain clips): a window's context starts
// before the window itself.
function audioOffset(clip) {
  if (!clip.recording) return 0;
  if (typeof clip.offset === "number") return clip.offset;
  return (Number(clip.start) || 0) - (Number(clip.window_start) || 0);
}

// The time axis under the spectrogram: [[fraction of the width, label], ...]. A window of a recording is
// labelled in the recording's clock (m:ss), a plain clip in seconds from its start ("0 s", "0.5", "1", ...);
// the longer the labels, the fewer the ticks, so that they fit a narrow panel.
function timeTicks(clip) {
  const dur = clip.duration || 0;
  if (!(dur > 0)) return [];
  const offset = audioOffset(clip);
  const inRecording = !!clip.recording;
  const hours = offset + dur >= 3600 - 0.005; // every tick in one format
  const most = !inRecording ? 7 : hours ? 4 : 5;
  const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = steps.find((st) => Math.floor(dur / st + 1e-9) + 1 <= most) || niceStep(dur, most - 1);
  const out = [];
  for (let k = Math.ceil(offset / step - 1e-9); k * step <= offset + dur + 1e-9; k++) {
    const t = Number((k * step).toFixed(2));
    const label = inRecording ? clock(t, hours) : `${t}${t === 0 ? " s" : ""}`;
    out.push([Math.min(1, Math.max(0, (t - offset) / dur)), label]);
  }
  return out;
}

function niceStep(max, target) {
  const raw = max / Math.max(1, target);
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return Math.max(1, m * pow);
  return Math.max(1, 10 * pow);
}

function flash(node) {
  if (!node) return;
  node.classList.add("alw-pressed");
  setTimeout(() => node.classList.remove("alw-pressed"), 150);
}

// ==================================================================== view pieces
// Each piece is a function `piece(ctx, parent, ...)`: it builds its DOM under `parent`, subscribes to the
// model fields it shows through `hooks` (so that its `destroy` undoes every subscription, listener, timer
// and observer it made), draws itself once, and returns `{ update, destroy }` plus the actions other
// pieces may call. `ctx` is what they share: model, root, send(kind, value), focusRoot(), lastSent.

// What a piece hooked up, undone in reverse order by one call.
function hooks(model) {
  const undo = [];
  return {
    // fn runs on a change of any of the space-separated model fields
    fields(names, fn) {
      for (const name of names.split(" ")) {
        const event = `change:${name}`;
        model.on(event, fn);
        undo.push(() => model.off(event, fn));
      }
    },
    listen(target, type, fn, options) {
      target.addEventListener(type, fn, options);
      undo.push(() => target.removeEventListener(type, fn, options));
    },
    cleanup(fn) {
      undo.push(fn);
    },
    destroy() {
      while (undo.length) undo.pop()();
    },
  };
}

// ------------------------------------------------------------------ focus: the badge says where keys go
// (to the widget, to a text box, or elsewhere); the widget takes focus when shown; a click on a button
// gives the keys back to the widget (not to a text box that had focus before), and the button itself
// never keeps focus.
function focusBadge(ctx, parent) {
  const { model, root } = ctx;
  const hook = hooks(model);
  const badge = h("span", "alw-focus", "click here to use keys");
  parent.append(badge);

  function update() {
    const a = document.activeElement;
    const inside = root.contains(a);
    const typing = inside && isTyping(a);
    root.classList.toggle("alw-has-focus", inside && !typing);
    root.classList.toggle("alw-typing", typing);
    badge.textContent = typing
      ? "typing \u00b7 Esc for label keys"
      : inside
        ? "\u25cf keys active"
        : "click here to use keys";
    root.dataset.keys = typing ? "typing" : inside ? "widget" : "off";
  }

  function focusRoot() {
    root.focus({ preventScroll: true });
    update();
  }

  hook.listen(root, "mousedown", (e) => {
    if (e.target instanceof HTMLElement && e.target.closest("button")) e.preventDefault();
  });
  hook.listen(root, "click", (e) => {
    if (e.target instanceof HTMLElement && e.target.closest("button")) focusRoot();
  });
  hook.listen(root, "focusin", update);
  hook.listen(root, "focusout", () => setTimeout(update, 0));

  // Take focus when shown, unless the person is typing somewhere else.
  const timers = [0, 250, 1000].map((ms) =>
    setTimeout(() => {
      const a = document.activeElement;
      if (!root.isConnected || root.contains(a) || (a && isTyping(a))) return;
      if (a && a.closest && a.closest(".jp-Notebook .jp-mod-editMode")) return;
      root.focus({ preventScroll: true });
      update();
    }, ms),
  );
  hook.cleanup(() => timers.forEach(clearTimeout));

  update();
  return { update, focusRoot, destroy: hook.destroy };
}

// ------------------------------------------------------------------ header: progress, rate, model, training…
function header(ctx, parent) {
  const { model, root } = ctx;
  const hook = hooks(model);
  const progressText = h("span", "alw-progress");
  const rateText = h("span", "alw-rate");
  const modelText = h("span", "alw-model");
  const trainingText = h("span", "alw-training", "training\u2026");
  parent.append(progressText, rateText, modelText, trainingText);

  function renderProgress() {
    const p = model.get("progress") || {};
    const n = p.n_labeled ?? 0;
    const skipped =
      (p.n_skipped ? ` \u00b7 ${p.n_skipped} skipped` : "") + (p.n_unsure ? ` \u00b7 ${p.n_unsure} unsure` : "");
    progressText.textContent = `${n} / ${p.n_pool ?? 0} labelled${skipped}`;
    rateText.textContent = p.rate || ""; // the session says it once it means something (enough labels and time)
    modelText.textContent = p.model || "";
  }

  // "training…" appears only if training lasts > 300 ms, then stays >= 500 ms.
  let shownAt = 0;
  let timer = 0;
  root.dataset.trainingShown = "0"; // a short training is never shown at all
  function setVisible(on) {
    trainingText.classList.toggle("alw-on", on);
    root.dataset.trainingShown = on ? "1" : "0";
    shownAt = on ? performance.now() : 0;
  }
  function renderTraining() {
    const on = !!model.get("training");
    root.dataset.training = on ? "1" : "0";
    clearTimeout(timer);
    if (on && !shownAt) {
      timer = setTimeout(() => setVisible(true), TRAINING_DELAY_MS);
    } else if (!on && shownAt) {
      const wait = TRAINING_MIN_MS - (performance.now() - shownAt);
      timer = setTimeout(() => setVisible(false), Math.max(0, wait));
    }
  }

  function update() {
    renderProgress();
    renderTraining();
  }
  hook.fields("progress", renderProgress);
  hook.fields("training", renderTraining);
  hook.cleanup(() => clearTimeout(timer));
  update();
  return { update, destroy: hook.destroy };
}

// ------------------------------------------------------------------ blocked banner (labelling is off, and why)
function blockedBanner(ctx, parent) {
  const { model, root } = ctx;
  const hook = hooks(model);
  const box = h("div", "alw-blocked");
  parent.append(box);

  function update() {
    const blocked = model.get("blocked") || "";
    box.textContent = blocked;
    box.classList.toggle("alw-on", !!blocked);
    root.classList.toggle("alw-is-blocked", !!blocked);
  }
  hook.fields("blocked", update);
  update();
  return { update, destroy: hook.destroy };
}

// ------------------------------------------------------------------ player: clip title, audio, spectrogram, playhead
// The title and the spectrogram go to `parent`; the audio controls (the audio element, replay, autoplay) to
// `controlsParent`, which render places after the class buttons, so that Tab reaches the buttons first.
function player(ctx, parent, controlsParent) {
  const { model, root } = ctx;
  const hook = hooks(model);
  const clipTitle = h("div", "alw-clip");
  const audio = h("audio", "alw-audio");
  audio.controls = true;
  audio.preload = "auto";
  const audioRow = h("div", "alw-audio-row");
  const replayBtn = h("button", "alw-btn alw-replay", "\u21bb replay (space)");
  const autoplayLabel = h("label", "alw-autoplay");
  const autoplayBox = h("input");
  autoplayBox.type = "checkbox";
  autoplayLabel.append(autoplayBox, document.createTextNode(" autoplay"));
  audioRow.append(audio, replayBtn, autoplayLabel);
  const specBox = h("div", "alw-specbox");
  const freqAxis = h("div", "alw-freq-axis");
  const specWrap = h("div", "alw-spec-wrap");
  specWrap.title = "click to play from there";
  const canvas = h("canvas", "alw-spec");
  canvas.width = 1;
  canvas.height = 1;
  const playhead = h("div", "alw-playhead");
  // the context around a window of a long recording is dimmed, the window outlined; the playhead above both
  const dimBefore = h("div", "alw-dim alw-dim-before");
  const dimAfter = h("div", "alw-dim alw-dim-after");
  const windowBox = h("div", "alw-window");
  specWrap.append(canvas, dimBefore, dimAfter, windowBox, playhead);
  const timeAxis = h("div", "alw-time-axis");
  // the colour scale: what the darkest and the brightest pixels mean, in dB
  const levelBox = h("div", "alw-level");
  const levelLow = h("span", "alw-level-low");
  const levelBar = h("span", "alw-level-bar");
  levelBar.style.background = `linear-gradient(to right, ${VIRIDIS_STOPS.map((c) => `rgb(${c.join(",")})`).join(", ")})`;
  const levelHigh = h("span", "alw-level-high");
  levelBox.append(levelLow, levelBar, levelHigh);
  specBox.append(freqAxis, specWrap, h("div", "alw-axis-corner", "Hz"), timeAxis, levelBox);
  parent.append(clipTitle, specBox);
  controlsParent.append(audioRow);

  let audioUrl = null;
  let playFrame = 0;

  function replay(pressed) {
    if (pressed) flash(replayBtn);
    if (!audio.src) return;
    audio.currentTime = 0;
    const p = audio.play();
    if (p && p.catch) p.catch(() => {});
  }

  function drawWindow(clip) {
    const span = windowSpan(clip);
    const pct = (x) => `${(x * 100).toFixed(3)}%`;
    for (const node of [dimBefore, dimAfter, windowBox]) node.style.display = span ? "block" : "none";
    root.dataset.window = span ? `${span[0].toFixed(3)}-${span[1].toFixed(3)}` : "";
    if (!span) return;
    const [a, b] = span;
    dimBefore.style.left = "0%";
    dimBefore.style.width = pct(a);
    dimAfter.style.left = pct(b);
    dimAfter.style.width = pct(1 - b);
    windowBox.style.left = pct(a);
    windowBox.style.width = pct(b - a);
  }

  function drawSpectrogram(clip) {
    drawWindow(clip);
    const rows = clip.n_mels || 0;
    const cols = clip.frames || 0;
    const px = toBytes(model.get("spectrogram"));
    freqAxis.textContent = "";
    timeAxis.textContent = "";
    drawLevels(clip);
    if (!rows || !cols || px.length !== rows * cols) {
      canvas.width = 1;
      canvas.height = 1;
      canvas.getContext("2d").clearRect(0, 0, 1, 1);
      levelBox.style.visibility = "hidden";
      return;
    }
    canvas.width = cols;
    canvas.height = rows;
    const g = canvas.getContext("2d");
    const img = g.createImageData(cols, rows);
    const out = img.data;
    for (let r = 0; r < rows; r++) {
      const y = rows - 1 - r; // lowest band at the bottom
      for (let c = 0; c < cols; c++) {
        const v = px[r * cols + c] * 3;
        const o = (y * cols + c) * 4;
        out[o] = LUT[v];
        out[o + 1] = LUT[v + 1];
        out[o + 2] = LUT[v + 2];
        out[o + 3] = 255;
      }
    }
    g.putImageData(img, 0, 0);
    for (const [frac, label] of clip.freq_ticks || []) {
      const t = h("span", "alw-tick", label);
      t.style.bottom = `${(frac * 100).toFixed(2)}%`;
      freqAxis.append(t);
    }
    if (clip.top_hz > 0) freqAxis.append(h("span", "alw-tick alw-tick-top", kiloHertz(clip.top_hz)));
    for (const [frac, label] of timeTicks(clip)) {
      const tick = h("span", "alw-tick", label);
      tick.style.left = `${(frac * 100).toFixed(2)}%`;
      if (frac < 0.03) tick.classList.add("alw-tick-start");
      else if (frac > 0.97) tick.classList.add("alw-tick-end");
      timeAxis.append(tick);
    }
  }

  // "−80 dB [colours] 0 dB re max": the levels of the darkest and the brightest pixels
  function drawLevels(clip) {
    const range = clip.db_range;
    const known = Array.isArray(range) && range.length === 2 && range.every((v) => typeof v === "number");
    levelBox.style.visibility = known ? "visible" : "hidden"; // hidden, not gone: nothing moves
    const dB = (v) => `${v < 0 ? "\u2212" : ""}${Math.abs(Number(v.toFixed(1)))} dB`;
    levelLow.textContent = known ? dB(range[0]) : "";
    levelHigh.textContent = known ? `${dB(range[1])} re max` : "";
    levelBox.title = known
      ? `colour: level relative to the loudest point of this audio; ${dB(range[0])} or quieter is darkest`
      : "";
  }

  // a click on the spectrogram plays the audio from the time clicked
  function seek(e) {
    const dur = audio.duration || (model.get("clip") || {}).duration || 0;
    const box = specWrap.getBoundingClientRect();
    if (!audio.src || !(dur > 0) || !(box.width > 0)) return;
    const frac = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
    audio.currentTime = frac * dur;
    root.dataset.seek = frac.toFixed(3);
    if (audio.paused) {
      const p = audio.play();
      if (p && p.catch) p.catch(() => {});
    }
    movePlayhead();
  }

  function movePlayhead() {
    const dur = audio.duration || (model.get("clip") || {}).duration || 0;
    const on = dur > 0 && audio.src && (audio.currentTime > 0 || !audio.paused);
    playhead.style.display = on ? "block" : "none";
    if (on) playhead.style.left = `${Math.min(100, (audio.currentTime / dur) * 100).toFixed(3)}%`;
    root.dataset.playhead = on ? (audio.currentTime / dur).toFixed(3) : "";
    playFrame = !audio.paused ? requestAnimationFrame(movePlayhead) : 0;
  }

  function renderClip() {
    const clip = model.get("clip") || {};
    if (clip.index === undefined) {
      clipTitle.textContent = model.get("progress")?.open === 0 ? "pool finished" : "loading\u2026";
      root.dataset.clip = "";
      audio.removeAttribute("src");
      audio.load();
      drawSpectrogram({});
      return;
    }
    // a window of a long recording is named by its recording and its place in it ("site1.flac · 0:38–0:40"),
    // a plain clip by its name and its length ("a.wav #3 · 1.5 s")
    clipTitle.textContent = "";
    if (clip.recording) {
      const a = Number(clip.start) || 0;
      const b = typeof clip.end === "number" ? clip.end : a + (clip.duration || 0);
      clipTitle.append(
        h("b", "alw-clip-name", clip.recording),
        h("span", "alw-clip-when", ` \u00b7 ${clockSpan(a, b)}`),
        h("span", "alw-clip-index", ` #${clip.index}`),
      );
    } else {
      const length = clip.duration ? ` \u00b7 ${clip.duration.toFixed(1)} s` : "";
      clipTitle.append(h("b", "alw-clip-name", clip.name), h("span", "alw-clip-index", ` #${clip.index}${length}`));
    }
    // label review: the label, and why it is doubted ("labelled dog · held-out model says cat (81%)")
    if (clip.given) clipTitle.append(h("span", "alw-given", ` \u00b7 labelled ${clip.given}`));
    if (clip.given && clip.doubt) clipTitle.append(h("span", "alw-doubt", ` \u00b7 ${clip.doubt}`));
    clipTitle.title = clipTitle.textContent;
    const bytes = toBytes(model.get("audio"));
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audioUrl = null;
    if (bytes.length) {
      audioUrl = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
      audio.src = audioUrl;
      if (model.get("autoplay")) {
        const p = audio.play();
        if (p && p.catch) p.catch(() => {});
      }
    } else {
      audio.removeAttribute("src");
      audio.load();
    }
    drawSpectrogram(clip);
    movePlayhead();
    root.dataset.clip = String(clip.index);
    if (ctx.lastSent) root.dataset.latencyMs = (performance.now() - ctx.lastSent).toFixed(1);
  }

  function renderAutoplay() {
    autoplayBox.checked = !!model.get("autoplay");
  }

  function update() {
    renderAutoplay();
    renderClip();
  }
  hook.listen(replayBtn, "click", () => replay(false));
  hook.listen(specWrap, "click", seek);
  hook.listen(autoplayBox, "change", () => {
    model.set("autoplay", autoplayBox.checked);
    model.save_changes();
    ctx.focusRoot();
  });
  for (const ev of ["play", "pause", "seeked", "timeupdate", "ended", "emptied"]) {
    hook.listen(audio, ev, () => {
      if (!playFrame) movePlayhead();
    });
  }
  hook.fields("clip", renderClip);
  hook.fields("autoplay", renderAutoplay);
  hook.cleanup(() => {
    if (playFrame) cancelAnimationFrame(playFrame);
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audio.pause();
  });
  update();
  return { update, replay, destroy: hook.destroy };
}

// ------------------------------------------------------------------ guess list: the model's guess on the clip
function guessList(ctx, parent) {
  const { model, root } = ctx;
  const hook = hooks(model);
  const box = h("div", "alw-guess");
  parent.append(box);

  // the box keeps its height (widget.css) and says what will appear: nothing jumps when the first guess comes
  function update() {
    const guess = model.get("guess") || [];
    box.textContent = "";
    const clip = model.get("clip") || {};
    box.append(h("div", "alw-guess-title", "model's guess"));
    root.dataset.guess = String(guess.length);
    if (!guess.length || clip.index === undefined) {
      box.append(h("div", "alw-placeholder", "the model's guess appears after the first labels"));
      return;
    }
    for (const g of guess) {
      const row = h("div", "alw-guess-row");
      const bar = h("span", "alw-guess-bar");
      bar.style.width = `${Math.round(g.p * 100)}%`;
      const barBox = h("span", "alw-guess-barbox");
      barBox.append(bar);
      row.append(h("span", "alw-guess-label", g.label), barBox, h("span", "alw-guess-p", `${Math.round(g.p * 100)}%`));
      box.append(row);
    }
  }
  hook.fields("guess clip", update);
  update();
  return { update, destroy: hook.destroy };
}

// ------------------------------------------------------------------ plot: the learning curves as SVG, redrawn on resize
function plot(ctx, parent) {
  const { model, root } = ctx;
  const hook = hooks(model);
  const plotTitle = h("div", "alw-plot-title");
  const plotSvg = s("svg", { class: "alw-plot", role: "img" });
  const plotLegend = h("div", "alw-legend");
  parent.append(plotTitle, plotSvg, plotLegend);

  function update() {
    const p = model.get("plot") || {};
    const series = p.series || [];
    plotTitle.textContent = p.title || "";
    plotLegend.textContent = "";
    plotSvg.textContent = "";
    const width = Math.max(200, Math.round(parent.clientWidth || 300));
    const height = 190;
    const m = { l: 38, r: 10, t: 8, b: 30 };
    const w = width - m.l - m.r;
    const hgt = height - m.t - m.b;
    plotSvg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    plotSvg.setAttribute("width", String(width));
    plotSvg.setAttribute("height", String(height));
    plotSvg.setAttribute("aria-label", p.title || "learning curve");
    const xMax = Math.max(1, p.x_max || 1);
    const X = (x) => m.l + (x / xMax) * w;
    const Y = (y) => m.t + (1 - y) * hgt;
    const grid = s("g", { class: "alw-grid" });
    for (const y of [0, 0.25, 0.5, 0.75, 1]) {
      grid.append(s("line", { x1: m.l, x2: m.l + w, y1: Y(y), y2: Y(y) }));
      const t = s("text", { x: m.l - 5, y: Y(y) + 4, "text-anchor": "end", class: "alw-axis-text" });
      t.textContent = y.toFixed(y % 0.5 ? 2 : 1);
      grid.append(t);
    }
    const step = niceStep(xMax, Math.max(2, Math.floor(w / 60)));
    for (let x = 0; x <= xMax + 1e-9; x += step) {
      const t = s("text", { x: X(x), y: m.t + hgt + 16, "text-anchor": "middle", class: "alw-axis-text" });
      t.textContent = String(x);
      grid.append(t);
    }
    const xl = s("text", { x: m.l + w / 2, y: height - 2, "text-anchor": "middle", class: "alw-axis-text" });
    xl.textContent = p.x_label || "labels given";
    grid.append(xl);
    grid.append(s("line", { class: "alw-axis", x1: m.l, x2: m.l + w, y1: Y(0), y2: Y(0) }));
    plotSvg.append(grid);
    if (!series.length) {
      // a quiet placeholder in the space the curve will take (the session's hint, or a general one)
      const hint = p.empty || PLOT_PLACEHOLDER;
      const t = s("text", { x: m.l + w / 2, y: Y(0.625) + 4, "text-anchor": "middle", class: "alw-axis-text" });
      t.textContent = hint;
      plotSvg.append(t);
      // long hints wrap in the legend line instead of being cut off
      if (hint.length * 6 > w) {
        t.textContent = "";
        plotLegend.append(h("span", "alw-legend-empty", hint));
      }
    }
    for (const sr of series) {
      const g = s("g", { class: `alw-series alw-series-${sr.key}` });
      if (sr.lo && sr.hi && sr.x.length) {
        const top = sr.x.map((x, i) => `${X(x).toFixed(1)},${Y(sr.hi[i]).toFixed(1)}`);
        const bottom = sr.x.map((x, i) => `${X(x).toFixed(1)},${Y(sr.lo[i]).toFixed(1)}`).reverse();
        g.append(s("polygon", { class: "alw-band", points: top.concat(bottom).join(" ") }));
      }
      const pts = sr.x.map((x, i) => `${X(x).toFixed(1)},${Y(sr.y[i]).toFixed(1)}`).join(" ");
      g.append(s("polyline", { class: "alw-line", points: pts }));
      if (sr.x.length <= 40) {
        sr.x.forEach((x, i) => g.append(s("circle", { class: "alw-dot", cx: X(x), cy: Y(sr.y[i]), r: 2.5 })));
      }
      plotSvg.append(g);
      const item = h("span", `alw-legend-item alw-series-${sr.key}`);
      item.append(h("span", "alw-swatch"), document.createTextNode(sr.label));
      plotLegend.append(item);
    }
    // why a curve is missing beside the others ("estimate: not enough audits yet (3 of 8)")
    if (p.note && series.length) plotLegend.append(h("span", "alw-legend-note", p.note));
    root.dataset.plotSeries = String(series.length);
    root.dataset.plotWidth = String(width);
  }

  let drawnWidth = 0;
  const resize = new ResizeObserver(() => {
    const wNow = Math.round(parent.clientWidth);
    if (wNow && wNow !== drawnWidth) {
      drawnWidth = wNow;
      update();
    }
  });
  resize.observe(parent);
  hook.cleanup(() => resize.disconnect());
  hook.fields("plot", update);
  update();
  return { update, destroy: hook.destroy };
}

// ------------------------------------------------------------------ class pad: a button per class, skip, unsure,
// undo, add a class. One label or skip per clip: a second press before the next clip arrives is dropped here
// (the kernel would ignore it anyway). Released when the kernel answers, or after 2 s as a safety net.
function classPad(ctx, parent) {
  const { model, send } = ctx;
  const hook = hooks(model);
  const classRow = h("div", "alw-classes");
  const actionRow = h("div", "alw-actions");
  const skipBtn = h("button", "alw-btn alw-skip", "skip (s / \u2192)");
  const unsureBtn = h("button", "alw-btn alw-unsure", "unsure (?)");
  unsureBtn.title = "not sure: saved as such, never used for training, not asked again";
  const undoBtn = h("button", "alw-btn alw-undo", "undo (u / \u232b)");
  const addInput = h("input", "alw-add-input");
  addInput.type = "text";
  addInput.placeholder = "new class name";
  addInput.setAttribute("aria-label", "new class name");
  const addBtn = h("button", "alw-btn alw-add", "+ class");
  // detection review: "is this a <class>?" answered yes (y) / no (n) / unsure (?), as in BirdNET-Analyzer's review
  const answerBox = h("span", "alw-answer");
  const question = h("span", "alw-question");
  const yesBtn = h("button", "alw-btn alw-yes", "yes (y)");
  const noBtn = h("button", "alw-btn alw-no", "no (n)");
  noBtn.title = "not this class: saved as such; undo (u), then press its class to label it";
  answerBox.append(question, yesBtn, noBtn);
  answerBox.style.display = "none";
  // any class by name (the number keys reach the first nine): "/", the start of its name, Enter
  const pickInput = h("input", "alw-pick-input");
  pickInput.type = "text";
  pickInput.placeholder = "class name, Enter labels";
  pickInput.setAttribute("aria-label", "label with the class whose name starts with this");
  pickInput.style.display = "none";
  actionRow.append(answerBox, skipBtn, unsureBtn, undoBtn, pickInput, addInput, addBtn);
  parent.append(classRow, actionRow);

  let awaiting = null; // clip index a label/skip was sent for, until the next clip arrives
  function claim() {
    const clip = model.get("clip") || {};
    if (clip.index === undefined || awaiting === clip.index) return false;
    const index = clip.index;
    awaiting = index;
    setTimeout(() => {
      if (awaiting === index) awaiting = null;
    }, 2000);
    return true;
  }

  function labelWith(name, button) {
    if (!claim()) return;
    flash(button);
    send("label", name);
  }
  // the k-th class (0-based), as number key k + 1 gives it
  function label(k) {
    const names = model.get("classes") || [];
    if (k < names.length) labelWith(names[k], classRow.children[k]);
  }
  // the class a typed name means: the same name (any case), else the first that starts with it, else contains it
  function classNamed(text) {
    const t = text.trim().toLowerCase();
    const names = model.get("classes") || [];
    if (!t) return null;
    for (const test of [(n) => n === t, (n) => n.startsWith(t), (n) => n.includes(t)]) {
      const k = names.findIndex((name) => test(String(name).toLowerCase()));
      if (k >= 0) return k;
    }
    return null;
  }
  function pick() {
    if (model.get("blocked")) return;
    pickInput.style.display = "";
    pickInput.value = "";
    pickInput.focus();
  }
  function closePicker() {
    pickInput.style.display = "none";
    pickInput.value = "";
  }
  function pickEnter() {
    const k = classNamed(pickInput.value);
    if (k === null) {
      pickInput.title = `no class is called ${pickInput.value.trim() || "that"}: Esc closes`;
      flash(pickInput);
      return;
    }
    closePicker();
    ctx.focusRoot();
    label(k);
  }
  function inDetectionReview() {
    const q = model.get("search") || {};
    return model.get("mode") === "review" && q.class !== undefined && !q.done;
  }
  function answer(value) {
    if (!inDetectionReview() || !claim()) return;
    flash(value === "yes" ? yesBtn : noBtn);
    send("answer", value);
  }
  function renderQuestion() {
    const on = inDetectionReview() && (model.get("clip") || {}).index !== undefined;
    answerBox.style.display = on ? "" : "none";
    const cls = String((model.get("search") || {}).class ?? "");
    question.textContent = on ? `is this ${/^[aeiou]/i.test(cls) ? "an" : "a"} ${cls}?` : "";
  }
  function skip() {
    if (!claim()) return;
    flash(skipBtn);
    send("skip");
  }
  function unsure() {
    if (!claim()) return;
    flash(unsureBtn);
    send("unsure");
  }
  function undo() {
    flash(undoBtn);
    send("undo");
  }
  function addClass() {
    const name = addInput.value.trim();
    if (!name) return;
    send("add_class", name);
    addInput.value = "";
    ctx.focusRoot();
  }

  function renderClasses() {
    const names = model.get("classes") || [];
    const counts = (model.get("progress") || {}).counts || {};
    classRow.textContent = "";
    names.forEach((name, k) => {
      const btn = h("button", "alw-btn alw-class");
      btn.dataset.class = name;
      if (k < 9) btn.append(h("kbd", "alw-key", String(k + 1)));
      else btn.title = "press / and type the start of its name, then Enter";
      btn.append(h("span", "alw-class-name", name), h("span", "alw-count", String(counts[name] ?? 0)));
      classRow.append(btn);
    });
    renderBlocked();
  }
  function renderCounts() {
    const counts = (model.get("progress") || {}).counts || {};
    for (const btn of classRow.children) {
      const c = btn.querySelector(".alw-count");
      if (c) c.textContent = String(counts[btn.dataset.class] ?? 0);
    }
  }
  function renderBlocked() {
    const blocked = !!model.get("blocked");
    const finished = !!((model.get("progress") || {}).summary || {}).title; // the end of the pool: nothing to label
    for (const b of [...classRow.children, skipBtn, unsureBtn, yesBtn, noBtn]) b.disabled = blocked || finished;
    for (const b of [undoBtn, addBtn]) b.disabled = blocked;
  }

  // one listener for every class button, however often the row is rebuilt
  hook.listen(classRow, "click", (e) => {
    const btn = e.target instanceof Element ? e.target.closest(".alw-class") : null;
    if (btn && !btn.disabled && classRow.contains(btn)) labelWith(btn.dataset.class, btn);
  });
  hook.listen(skipBtn, "click", skip);
  hook.listen(unsureBtn, "click", unsure);
  hook.listen(undoBtn, "click", undo);
  hook.listen(addBtn, "click", addClass);
  hook.listen(yesBtn, "click", () => answer("yes"));
  hook.listen(noBtn, "click", () => answer("no"));
  hook.listen(pickInput, "keydown", (e) => {
    if (plainKey(e) && e.key === "Enter") {
      e.preventDefault();
      pickEnter();
    }
  });
  hook.listen(pickInput, "blur", closePicker);
  hook.listen(addInput, "keydown", (e) => {
    if (plainKey(e) && e.key === "Enter") {
      e.preventDefault();
      addClass();
    }
  });
  hook.fields("classes", renderClasses);
  hook.fields("progress", renderCounts);
  hook.fields("blocked progress", renderBlocked);
  hook.fields("mode search clip", renderQuestion);
  // a new clip, or any answer of the kernel: a new action may be sent
  hook.fields("clip message error blocked", () => {
    awaiting = null;
  });
  renderClasses();
  renderQuestion();
  return {
    update() {
      renderClasses();
      renderQuestion();
    },
    label, skip, unsure, undo, answer, pick, inDetectionReview, destroy: hook.destroy,
  };
}

// A share or a score, readable however small: 0.74, 0.028, 3.1e-5 (never "0.00" for a tiny non-zero value).
function num(x) {
  if (x === null || x === undefined) return "?";
  if (x === 0 || x >= 0.1) return x.toFixed(2);
  return x >= 0.001 ? x.toPrecision(2) : x.toExponential(1);
}

// A figure with its 95% interval: "0.74 (0.55–0.88)", or "?" while a bin has no answer.
function figure(f) {
  return f ? `${num(f.estimate)} (${num(f.low)}\u2013${num(f.high)})` : "?";
}

// ------------------------------------------------------------------ search panel: find more like this, search
// with a file, label review, detection review (its bins are the next piece), the search banner and the way back
function searchPanel(ctx, parent) {
  const { model, root, send } = ctx;
  const hook = hooks(model);
  const row = h("div", "alw-search");
  const findBtn = h("button", "alw-btn alw-find", "find more like this (f)");
  findBtn.title = "show the clips most like this one next";
  const fileBtn = h("button", "alw-btn alw-file", "search with a file\u2026");
  fileBtn.title = "show the clips most like an audio file of yours";
  const fileInput = h("input", "alw-file-input");
  fileInput.type = "file";
  fileInput.accept = "audio/*";
  fileInput.tabIndex = -1;
  fileInput.setAttribute("aria-label", "audio file to search with");
  const fileText = h("span", "alw-file-text");
  const modeText = h("span", "alw-mode-text");
  const reviewBtn = h("button", "alw-btn alw-review", "review labels (r)");
  reviewBtn.title = "check your labels, most doubtful first: the same class keeps a label, another changes it";
  const backBtn = h("button", "alw-btn alw-back", "back to active learning");
  const detectClass = h("select", "alw-detect-class");
  detectClass.setAttribute("aria-label", "class whose detections to check");
  const detectBtn = h("button", "alw-btn alw-detect", "check detections");
  detectBtn.title = "listen to a sample of the clips the model scores for this class, bin by bin: its precision per bin";
  row.append(findBtn, fileBtn, fileInput, reviewBtn, detectClass, detectBtn, fileText, modeText, backBtn);
  parent.append(row);

  function find() {
    const clip = model.get("clip") || {};
    if (clip.index === undefined || model.get("blocked")) return;
    flash(findBtn);
    send("search"); // {kind: "search", clip: <the clip on screen>, view}
  }
  function review() {
    if (model.get("blocked")) return;
    flash(reviewBtn);
    send("review");
  }
  function checkDetections() {
    if (model.get("blocked") || !detectClass.value) return;
    flash(detectBtn);
    send("review", detectClass.value); // {kind: "review", value: <class>}: detection review by score bin
    ctx.focusRoot();
  }
  function backToActive() {
    flash(backBtn);
    send("mode", "active");
  }

  let fileWaiting = false; // a file was sent and the kernel has not answered yet
  function setFileText(text) {
    fileWaiting = false;
    fileText.textContent = text;
    fileText.title = text;
  }
  // The chosen file goes to the kernel as the buffer of a custom message.
  async function searchWithFile() {
    const file = fileInput.files && fileInput.files[0];
    if (!file) return;
    try {
      if (file.size > MAX_QUERY_BYTES) {
        const mb = (file.size / 1048576).toFixed(1);
        const most = MAX_QUERY_BYTES / 1048576;
        setFileText(`${file.name} is too big (${mb} MB, at most ${most} MB): use a shorter excerpt`);
        return;
      }
      setFileText(`reading ${file.name}\u2026`);
      const buffer = await file.arrayBuffer();
      ctx.lastSent = performance.now();
      model.send({ kind: "search_audio", name: file.name }, undefined, [buffer]);
      setFileText(`searching with ${file.name}\u2026`);
      fileWaiting = true;
      root.dataset.searchFile = file.name;
    } catch (err) {
      setFileText(`cannot read ${file.name}: ${err && err.message ? err.message : err}`);
    } finally {
      fileInput.value = ""; // the same file can be chosen again
      ctx.focusRoot();
    }
  }

  function renderDetectClasses() {
    const names = model.get("classes") || [];
    const keep = detectClass.value;
    detectClass.textContent = "";
    for (const name of names) {
      const opt = h("option", "", name);
      opt.value = name;
      detectClass.append(opt);
    }
    if (names.includes(keep)) detectClass.value = keep;
  }

  function renderBlocked() {
    const blocked = !!model.get("blocked");
    for (const b of [findBtn, fileBtn, backBtn, reviewBtn, detectBtn]) b.disabled = blocked;
  }

  // Search mode: what was searched, how many results are left, and the way back.
  function renderSearch() {
    const mode = model.get("mode") || "active";
    const q = model.get("search") || {};
    const searching = mode !== "active"; // a search or a label review: its own queue, and the way back
    root.dataset.mode = mode;
    root.classList.toggle("alw-mode-search", searching);
    row.classList.toggle("alw-searching", searching);
    backBtn.style.display = searching ? "" : "none";
    modeText.style.display = searching ? "" : "none";
    if (!searching) {
      modeText.textContent = "";
    } else if (q.query === undefined) {
      modeText.textContent = "search: waiting for results\u2026";
    } else {
      const left = q.left ?? 0;
      const total = q.total ?? 0;
      const kind = q.class === undefined ? "label review" : "detection review"; // detection review: q.class
      const status = q.done ? "done: the final estimate (back leaves it)" : `${left} of ${total} left`;
      modeText.textContent =
        mode === "review"
          ? `${kind}: ${q.query} \u2014 ${status}`
          : `search: like ${q.query} \u2014 ${left} of ${total} result${total === 1 ? "" : "s"} left`;
    }
    modeText.title = modeText.textContent;
  }

  function update() {
    renderDetectClasses();
    renderBlocked();
    renderSearch();
  }
  hook.listen(findBtn, "click", find);
  hook.listen(reviewBtn, "click", review);
  hook.listen(detectBtn, "click", checkDetections);
  hook.listen(backBtn, "click", backToActive);
  hook.listen(fileBtn, "click", () => {
    if (!model.get("blocked")) fileInput.click();
  });
  hook.listen(fileInput, "change", searchWithFile);
  hook.listen(fileInput, "cancel", () => ctx.focusRoot());
  hook.fields("classes", renderDetectClasses);
  hook.fields("blocked", renderBlocked);
  // the kernel answered the file (with results, or with a message or an error)
  hook.fields("search message error blocked", () => {
    if (fileWaiting) setFileText("");
  });
  hook.fields("mode search", renderSearch);
  update();
  return { update, find, review, row, destroy: hook.destroy };
}

// ------------------------------------------------------------------ detection review: "top 0.91–1.00: 4 yes · 1 no →
// owl 0.80 (0.38–0.96)", one line per score bin (detections first), then the precision of the detections and
// the call density, each named for what it is
function reviewBins(ctx, parent) {
  const { model } = ctx;
  const hook = hooks(model);
  const binsBox = h("div", "alw-bins");
  parent.append(binsBox);

  function update() {
    const q = model.get("search") || {};
    binsBox.textContent = "";
    const rows = (model.get("mode") === "review" && q.bins) || [];
    binsBox.style.display = rows.length ? "" : "none";
    let group = null;
    for (const b of rows) {
      if (b.detected !== group) {
        group = b.detected;
        binsBox.append(h("div", "alw-bin-group", group ? `detections (${q.rule})` : "the other clips"));
      }
      const share = `${q.class} ${num(b.precision)} (${num(b.low)}\u2013${num(b.high)})`;
      const est = b.yes + b.no ? share : "not checked yet";
      const unsure = b.unsure ? ` \u00b7 ${b.unsure} unsure` : "";
      const line = `${b.name} ${num(b.lo)}\u2013${num(b.hi)}: ${b.yes} yes \u00b7 ${b.no} no${unsure} \u2192 ${est}`;
      binsBox.append(h("div", "alw-bin", line));
    }
    if (!rows.length) return;
    const p = q.precision;
    const text = p && p.windows ? figure(p) : "no clip is detected";
    binsBox.append(h("div", "alw-bin alw-bin-all", `precision of detections (${q.rule}): ${text}`));
    const d = q.density;
    binsBox.append(
      h("div", "alw-bin alw-bin-all", `call density (share of all clips that hold ${q.class}): ${figure(d)}`),
    );
  }
  hook.fields("mode search", update);
  update();
  return { update, destroy: hook.destroy };
}

// ------------------------------------------------------------------ end of the pool: what was done and what to do
// next, in the session's words (progress.summary: {title, lines, next}), in place of a clip; the label buttons are
// disabled meanwhile (class pad). Undo brings the last clip back, and with it the buttons.
function poolEnd(ctx, parent) {
  const { model, root, send } = ctx;
  const hook = hooks(model);
  const box = h("div", "alw-end");
  box.setAttribute("role", "status");
  const reviewBtn = h("button", "alw-btn alw-end-review", "review labels");
  reviewBtn.title = "check your labels, most doubtful first";
  parent.append(box);

  function update() {
    const p = model.get("progress") || {};
    const sum = p.summary || {};
    const on = !!sum.title;
    box.textContent = "";
    box.style.display = on ? "" : "none";
    root.dataset.poolDone = on ? "1" : "0";
    if (!on) return;
    box.append(h("div", "alw-end-title", sum.title));
    for (const line of sum.lines || []) box.append(h("div", "alw-end-line", line));
    const steps = sum.next || [];
    if (steps.length) {
      box.append(h("div", "alw-end-next", "what next:"));
      const list = h("ul", "alw-end-steps");
      for (const step of steps) list.append(h("li", "alw-end-step", step));
      box.append(list);
    }
    if ((p.n_labeled || 0) >= 2) box.append(reviewBtn);
    reviewBtn.disabled = !!model.get("blocked");
  }
  hook.listen(reviewBtn, "click", () => {
    if (model.get("blocked")) return;
    flash(reviewBtn);
    send("review");
  });
  hook.fields("progress blocked", update);
  update();
  return { update, destroy: hook.destroy };
}

// ------------------------------------------------------------------ auto-label controls (demo sessions with an oracle)
function autoLabel(ctx, parent) {
  const { model, send } = ctx;
  const hook = hooks(model);
  const row = h("div", "alw-demo");
  const autoN = h("input", "alw-auto-n");
  autoN.type = "number";
  autoN.min = "1";
  autoN.value = "20";
  autoN.setAttribute("aria-label", "clips to auto-label");
  const autoBtn = h("button", "alw-btn alw-auto", "\u25b6 auto-label");
  const stopBtn = h("button", "alw-btn alw-stop", "\u25a0 stop");
  const autoText = h("span", "alw-auto-text");
  row.append(h("span", "alw-demo-label", "demo:"), autoN, autoBtn, stopBtn, autoText);
  parent.append(row);

  function start() {
    send("auto", Math.max(1, parseInt(autoN.value, 10) || 1));
    ctx.focusRoot();
  }
  function update() {
    row.classList.toggle("alw-on", !!model.get("demo"));
    const a = model.get("auto") || {};
    autoBtn.disabled = !!a.running || !!model.get("blocked");
    stopBtn.disabled = !a.running;
    autoText.textContent = a.running ? `auto-labelling: ${a.left} left` : a.done ? `auto-labelled ${a.done}` : "";
  }
  hook.listen(autoBtn, "click", start);
  hook.listen(stopBtn, "click", () => send("stop"));
  hook.listen(autoN, "keydown", (e) => {
    if (plainKey(e) && e.key === "Enter") {
      e.preventDefault();
      start();
    }
  });
  hook.fields("demo auto blocked", update);
  update();
  return { update, destroy: hook.destroy };
}

// ------------------------------------------------------------------ status line (fixed height: a message never
// shifts the layout) and the error box
function statusLine(ctx, parent) {
  const { model, send } = ctx;
  const hook = hooks(model);
  const line = h("div", "alw-status");
  const messageBox = h("span", "alw-message");
  line.append(messageBox);
  const errorBox = h("div", "alw-error");
  const errorText = h("span", "alw-error-text");
  const errorClose = h("button", "alw-btn alw-error-close", "\u00d7");
  errorClose.title = "dismiss";
  errorBox.append(errorText, errorClose);
  parent.append(line, errorBox);

  function update() {
    const msg = model.get("message") || "";
    messageBox.textContent = msg;
    messageBox.title = msg;
    const err = model.get("error") || "";
    const blocked = model.get("blocked") || "";
    errorText.textContent = err === blocked ? "" : err;
    errorBox.classList.toggle("alw-on", !!err && err !== blocked);
  }
  hook.listen(errorClose, "click", () => send("dismiss"));
  hook.fields("message error blocked", update);
  update();
  return { update, destroy: hook.destroy };
}

// ------------------------------------------------------------------ keys (see the top of this file) and their help line
function keyboard(ctx, parent, actions) {
  const { model, root } = ctx;
  const hook = hooks(model);
  const help = h("div", "alw-help");
  parent.append(help);
  // the help line: the detection review's answers while one is on screen; "/" once there are classes without
  // a number key
  function renderHelp() {
    const n = (model.get("classes") || []).length;
    const answers = actions.inDetectionReview() ? "y yes \u00b7 n no \u00b7 ? unsure \u00b7 " : "";
    const labelKeys = n > 9 ? "1\u20139 label \u00b7 / then the start of a name + Enter: any class" : "1\u20139 label";
    help.textContent =
      `keys: ${answers}${labelKeys} \u00b7 s or \u2192 skip \u00b7 ? unsure \u00b7 u or \u232b undo \u00b7 space replay` +
      " \u00b7 f find more like this \u00b7 r review labels \u00b7 Esc leaves a text box";
  }

  // Runs before every listener on the document (Notebook 7's included): plain
  // keys inside the widget are marked so Lumino ignores them; combinations
  // with Ctrl / Cmd / Alt keep reaching the notebook.
  function onWindowKey(e) {
    if (!(e.target instanceof Node) || !root.contains(e.target)) return;
    if (plainKey(e) && !(e.shiftKey && e.key === "Enter")) {
      root.setAttribute("data-lm-suppress-shortcuts", "true");
    } else {
      root.removeAttribute("data-lm-suppress-shortcuts");
    }
  }

  // Enter in a text box is handled by the piece that owns the box (add a class, auto-label).
  function onKeydown(e) {
    if (!plainKey(e)) return; // shortcuts such as Ctrl+S keep working
    if (isTyping(e.target)) {
      if (e.key === "Escape") {
        e.preventDefault();
        ctx.focusRoot();
      }
      e.stopPropagation(); // a text box keeps its keys: they never label, skip or reach the notebook
      return;
    }
    if (e.key === "Tab" || (e.shiftKey && e.key === "Enter")) return;
    e.stopPropagation();
    if (e.repeat) {
      e.preventDefault(); // a held key does not label, skip or undo over and over
      return;
    }
    let handled = true;
    if (/^[1-9]$/.test(e.key)) {
      actions.label(parseInt(e.key, 10) - 1);
    } else if (e.key === "s" || e.key === "S" || e.key === "ArrowRight") {
      actions.skip();
    } else if (e.key === "?") {
      actions.unsure();
    } else if (e.key === "u" || e.key === "U" || e.key === "Backspace") {
      actions.undo();
    } else if (e.key === " " || e.code === "Space") {
      actions.replay(true);
    } else if (e.key === "f" || e.key === "F") {
      actions.find();
    } else if (e.key === "r" || e.key === "R") {
      actions.review();
    } else if ((e.key === "y" || e.key === "Y") && actions.inDetectionReview()) {
      actions.answer("yes");
    } else if ((e.key === "n" || e.key === "N") && actions.inDetectionReview()) {
      actions.answer("no");
    } else if (e.key === "/") {
      actions.pick(); // a text box opens: the start of a class name, then Enter
    } else {
      handled = ["Enter", "Escape"].includes(e.key) || e.key.length === 1;
    }
    if (handled) e.preventDefault();
  }
  function stopOnly(e) {
    if (plainKey(e)) e.stopPropagation();
  }

  for (const type of ["keydown", "keyup", "keypress"]) hook.listen(window, type, onWindowKey, true);
  hook.listen(root, "keydown", onKeydown);
  hook.listen(root, "keyup", stopOnly);
  hook.listen(root, "keypress", stopOnly);
  hook.fields("classes mode search", renderHelp);
  renderHelp();
  return { update: renderHelp, destroy: hook.destroy };
}

// ------------------------------------------------------------------ credits of pretrained features (their licence
// asks for attribution where they are used)
function credits(ctx, parent) {
  const { model } = ctx;
  const hook = hooks(model);
  const line = h("div", "alw-credits");
  parent.append(line);
  function update() {
    const text = model.get("credits") || "";
    line.textContent = text ? `features: ${text.split("\n").join(" \u00b7 ")}` : "";
    line.hidden = !text;
  }
  hook.fields("credits", update);
  update();
  return { update, destroy: hook.destroy };
}

// ==================================================================== the widget: one view, built from the pieces
function render({ model, el }) {
  const viewId = Math.random().toString(36).slice(2, 10);

  const root = h("div", "alw-root");
  root.tabIndex = 0;
  root.setAttribute("role", "application");
  root.setAttribute(
    "aria-label",
    "audio labelling widget: keys 1-9 label, s skip, ? unsure, u undo, space replay, f find more like this, r review labels",
  );
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  el.appendChild(root);

  const ctx = { model, root, send, focusRoot: () => {}, lastSent: 0 };

  function send(kind, value) {
    ctx.lastSent = performance.now();
    const clip = model.get("clip") || {};
    const cmd = { kind, view: viewId, clip: clip.index === undefined ? null : clip.index };
    if (value !== undefined) cmd.value = value;
    model.send(cmd); // a message, never coalesced: widget.py's on_msg -> session.handle(cmd)
  }

  // root: head, blocked banner, body. The body holds three parts in reading (and Tab) order: left (clip title,
  // spectrogram, the model's guess), controls (class pad, then the audio controls, search panel, auto-label
  // controls, status line and error box, help line) and right (the plot). widget.css puts the plot beside the
  // left part on a wide panel, the controls below both; on a narrow one, one column: the plot last.
  const head = h("div", "alw-head");
  const body = h("div", "alw-body");
  const left = h("div", "alw-left");
  const controls = h("div", "alw-controls");
  const right = h("div", "alw-right");
  body.append(left, controls, right);

  root.append(head);
  const focus = focusBadge(ctx, head);
  ctx.focusRoot = focus.focusRoot;
  const pieces = [focus, header(ctx, head), blockedBanner(ctx, root)];
  root.append(body);
  const pad = classPad(ctx, controls);
  const play = player(ctx, left, controls); // after the pad: Tab reaches the class buttons before the audio
  pieces.push(pad, play, guessList(ctx, left), poolEnd(ctx, left), plot(ctx, right));
  const search = searchPanel(ctx, controls);
  pieces.push(search, reviewBins(ctx, search.row), autoLabel(ctx, controls), statusLine(ctx, controls));
  const { label, skip, unsure, undo, answer, pick, inDetectionReview } = pad;
  const actions = {
    label, skip, unsure, undo, answer, pick, inDetectionReview,
    replay: play.replay, find: search.find, review: search.review,
  };
  pieces.push(keyboard(ctx, controls, actions), credits(ctx, controls));

  return () => {
    for (const piece of pieces.reverse()) piece.destroy();
  };
}

export default { render };
