// Front end of alwidget's LabelingWidget (an anywidget ES module).
//
// State comes from Python through traits; actions go back as the `command`
// trait ({kind, value, clip, seq, view}) and `autoplay`. Keys are handled here
// while the widget has focus and never reach JupyterLab / Notebook shortcuts.

const VIRIDIS_STOPS = [
  [68, 1, 84], [72, 35, 116], [64, 67, 135], [52, 94, 141], [41, 120, 142],
  [32, 144, 140], [34, 167, 132], [68, 190, 112], [121, 209, 81], [189, 222, 38], [253, 231, 37],
];

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

function isTyping(target) {
  return (
    target instanceof HTMLInputElement ||
    target instanceof HTMLTextAreaElement ||
    (target instanceof HTMLElement && target.isContentEditable)
  );
}

function render({ model, el }) {
  const viewId = Math.random().toString(36).slice(2, 10);
  let seq = 0;
  let awaiting = null; // clip index a label/skip was sent for, until the next clip arrives
  let audioUrl = null;
  let plotUrl = null;
  let lastSent = 0;

  // ------------------------------------------------------------------ DOM
  const root = h("div", "alw-root");
  root.tabIndex = 0;
  root.setAttribute("role", "application");
  root.setAttribute("aria-label", "audio labelling widget: keys 1-9 label, s skip, u undo, space replay");

  const head = h("div", "alw-head");
  const focusBadge = h("span", "alw-focus", "click here to use keys");
  const progressText = h("span", "alw-progress");
  const rateText = h("span", "alw-rate");
  const modelText = h("span", "alw-model");
  const trainingText = h("span", "alw-training", "training\u2026");
  head.append(focusBadge, progressText, rateText, modelText, trainingText);

  const body = h("div", "alw-body");
  const left = h("div", "alw-left");
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
  audioRow.append(replayBtn, autoplayLabel);
  const canvas = h("canvas", "alw-spec");
  canvas.width = 1;
  canvas.height = 1;
  const guessBox = h("div", "alw-guess");
  left.append(clipTitle, audio, audioRow, canvas, guessBox);

  const right = h("div", "alw-right");
  const plotImg = h("img", "alw-plot");
  plotImg.alt = "learning curve";
  right.append(plotImg);
  body.append(left, right);

  const classRow = h("div", "alw-classes");
  const actionRow = h("div", "alw-actions");
  const skipBtn = h("button", "alw-btn alw-skip", "skip (s / \u2192)");
  const undoBtn = h("button", "alw-btn alw-undo", "undo (u / \u232b)");
  const addInput = h("input", "alw-add-input");
  addInput.type = "text";
  addInput.placeholder = "new class name";
  const addBtn = h("button", "alw-btn alw-add", "+ class");
  actionRow.append(skipBtn, undoBtn, addInput, addBtn);

  const demoRow = h("div", "alw-demo");
  const autoN = h("input", "alw-auto-n");
  autoN.type = "number";
  autoN.min = "1";
  autoN.value = "20";
  const autoBtn = h("button", "alw-btn alw-auto", "\u25b6 auto-label");
  const stopBtn = h("button", "alw-btn alw-stop", "\u25a0 stop");
  const autoText = h("span", "alw-auto-text");
  demoRow.append(h("span", "alw-demo-label", "demo:"), autoN, autoBtn, stopBtn, autoText);

  const messageBox = h("div", "alw-message");
  const errorBox = h("div", "alw-error");
  const errorText = h("span", "alw-error-text");
  const errorClose = h("button", "alw-btn alw-error-close", "\u00d7");
  errorClose.title = "dismiss";
  errorBox.append(errorText, errorClose);
  const help = h(
    "div",
    "alw-help",
    "keys: 1\u20139 label \u00b7 s or \u2192 skip \u00b7 u or \u232b undo \u00b7 space replay",
  );

  root.append(head, body, classRow, actionRow, demoRow, messageBox, errorBox, help);
  el.appendChild(root);

  // Buttons must not take focus away from the root: keys keep working after a click.
  root.addEventListener("mousedown", (e) => {
    if (e.target instanceof HTMLElement && e.target.closest("button")) e.preventDefault();
  });

  // ------------------------------------------------------------------ actions
  function send(kind, value) {
    seq += 1;
    lastSent = performance.now();
    const clip = model.get("clip") || {};
    const cmd = { kind, seq, view: viewId, clip: clip.index === undefined ? null : clip.index };
    if (value !== undefined) cmd.value = value;
    model.set("command", cmd);
    model.save_changes();
  }

  function flash(node) {
    if (!node) return;
    node.classList.add("alw-pressed");
    setTimeout(() => node.classList.remove("alw-pressed"), 150);
  }

  // One label or skip per clip: a second press before the next clip arrives is
  // dropped here (the kernel would ignore it anyway). Released when the kernel
  // answers, or after 2 s as a safety net.
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

  function skip() {
    if (!claim()) return;
    flash(skipBtn);
    send("skip");
  }

  function undo() {
    flash(undoBtn);
    send("undo");
  }

  function replay() {
    if (!audio.src) return;
    audio.currentTime = 0;
    const p = audio.play();
    if (p && p.catch) p.catch(() => {});
  }

  function addClass() {
    const name = addInput.value.trim();
    if (!name) return;
    send("add_class", name);
    addInput.value = "";
    root.focus({ preventScroll: true });
  }

  replayBtn.addEventListener("click", replay);
  skipBtn.addEventListener("click", skip);
  undoBtn.addEventListener("click", undo);
  addBtn.addEventListener("click", addClass);
  autoBtn.addEventListener("click", () => send("auto", Math.max(1, parseInt(autoN.value, 10) || 1)));
  stopBtn.addEventListener("click", () => send("stop"));
  errorClose.addEventListener("click", () => send("dismiss"));
  autoplayBox.addEventListener("change", () => {
    model.set("autoplay", autoplayBox.checked);
    model.save_changes();
    root.focus({ preventScroll: true });
  });

  // ------------------------------------------------------------------ keys
  function onKeydown(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return; // shortcuts such as Ctrl+S keep working
    if (isTyping(e.target)) {
      if (e.target === addInput && e.key === "Enter") {
        e.preventDefault();
        addClass();
      } else if (e.key === "Escape") {
        e.preventDefault();
        root.focus({ preventScroll: true });
      }
      e.stopPropagation(); // typing a class name must not trigger notebook shortcuts
      return;
    }
    if (e.key === "Tab" || e.key === "Escape" || (e.shiftKey && e.key === "Enter")) return;
    e.stopPropagation();
    if (e.repeat) {
      e.preventDefault(); // a held key does not label, skip or undo over and over
      return;
    }
    let handled = true;
    if (/^[1-9]$/.test(e.key)) {
      const k = parseInt(e.key, 10) - 1;
      const names = model.get("classes") || [];
      if (k < names.length) labelWith(names[k], classRow.children[k]);
    } else if (e.key === "s" || e.key === "S" || e.key === "ArrowRight") {
      skip();
    } else if (e.key === "u" || e.key === "U" || e.key === "Backspace") {
      undo();
    } else if (e.key === " " || e.code === "Space") {
      flash(replayBtn);
      replay();
    } else {
      handled = false;
    }
    // While the widget has focus, no plain key reaches JupyterLab / Notebook
    // (number keys would turn cells into headings, "d d" would delete one):
    // stopPropagation above.
    if (handled) e.preventDefault();
  }
  function stopOnly(e) {
    if (!(e.ctrlKey || e.metaKey || e.altKey)) e.stopPropagation();
  }
  root.addEventListener("keydown", onKeydown);
  root.addEventListener("keyup", stopOnly);
  root.addEventListener("keypress", stopOnly);

  function updateFocus() {
    const inside = root.contains(document.activeElement);
    root.classList.toggle("alw-has-focus", inside);
    focusBadge.textContent = inside ? "\u25cf keys active" : "click here to use keys";
  }
  root.addEventListener("focusin", updateFocus);
  root.addEventListener("focusout", () => setTimeout(updateFocus, 0));

  // Take focus when shown, unless the person is typing somewhere else.
  const focusTimers = [0, 250, 1000].map((ms) =>
    setTimeout(() => {
      const a = document.activeElement;
      if (!root.isConnected || root.contains(a) || (a && isTyping(a))) return;
      root.focus({ preventScroll: true });
      updateFocus();
    }, ms),
  );

  // ------------------------------------------------------------------ rendering
  function drawSpectrogram(clip) {
    const rows = clip.n_mels || 0;
    const cols = clip.frames || 0;
    const px = toBytes(model.get("spectrogram"));
    if (!rows || !cols || px.length !== rows * cols) {
      canvas.width = 1;
      canvas.height = 1;
      canvas.getContext("2d").clearRect(0, 0, 1, 1);
      return;
    }
    canvas.width = cols;
    canvas.height = rows;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(cols, rows);
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
    ctx.putImageData(img, 0, 0);
  }

  function renderClip() {
    const clip = model.get("clip") || {};
    awaiting = null;
    if (clip.index === undefined) {
      clipTitle.textContent = model.get("progress")?.open === 0 ? "pool finished" : "loading\u2026";
      root.dataset.clip = "";
      audio.removeAttribute("src");
      audio.load();
      drawSpectrogram({});
      renderGuess();
      return;
    }
    const dur = clip.duration ? ` \u00b7 ${clip.duration.toFixed(1)} s` : "";
    clipTitle.textContent = "";
    clipTitle.append(h("b", "alw-clip-name", clip.name), h("span", "alw-clip-index", ` #${clip.index}${dur}`));
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
    renderGuess();
    root.dataset.clip = String(clip.index);
    if (lastSent) root.dataset.latencyMs = (performance.now() - lastSent).toFixed(1);
  }

  function renderGuess() {
    const guess = model.get("guess") || [];
    guessBox.textContent = "";
    const clip = model.get("clip") || {};
    if (clip.index === undefined) return;
    if (!guess.length) {
      guessBox.append(h("span", "alw-guess-none", "model's guess: no model yet"));
      return;
    }
    guessBox.append(h("div", "alw-guess-title", "model's guess"));
    for (const g of guess) {
      const row = h("div", "alw-guess-row");
      const bar = h("span", "alw-guess-bar");
      bar.style.width = `${Math.round(g.p * 100)}%`;
      const barBox = h("span", "alw-guess-barbox");
      barBox.append(bar);
      row.append(h("span", "alw-guess-label", g.label), barBox, h("span", "alw-guess-p", `${Math.round(g.p * 100)}%`));
      guessBox.append(row);
    }
  }

  function renderClasses() {
    const names = model.get("classes") || [];
    const counts = (model.get("progress") || {}).counts || {};
    classRow.textContent = "";
    names.forEach((name, k) => {
      const btn = h("button", "alw-btn alw-class");
      btn.dataset.class = name;
      if (k < 9) btn.append(h("kbd", "alw-key", String(k + 1)));
      btn.append(h("span", "alw-class-name", name), h("span", "alw-count", String(counts[name] ?? 0)));
      btn.addEventListener("click", () => labelWith(name, btn));
      classRow.append(btn);
    });
  }

  function renderProgress() {
    const p = model.get("progress") || {};
    const n = p.n_labeled ?? 0;
    const skipped = p.n_skipped ? ` \u00b7 ${p.n_skipped} skipped` : "";
    progressText.textContent = `${n} / ${p.n_pool ?? 0} labelled${skipped}`;
    rateText.textContent = p.per_minute ? `${p.per_minute} labels/min` : "";
    modelText.textContent = p.model || "";
    const counts = p.counts || {};
    for (const btn of classRow.children) {
      const c = btn.querySelector(".alw-count");
      if (c) c.textContent = String(counts[btn.dataset.class] ?? 0);
    }
  }

  function renderTraining() {
    const on = !!model.get("training");
    trainingText.classList.toggle("alw-on", on);
    root.dataset.training = on ? "1" : "0";
  }

  function renderPlot() {
    const bytes = toBytes(model.get("plot"));
    if (!bytes.length) return;
    const old = plotUrl;
    plotUrl = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
    plotImg.src = plotUrl;
    if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
    root.dataset.plotBytes = String(bytes.length);
  }

  function renderMessages() {
    const msg = model.get("message") || "";
    messageBox.textContent = msg;
    messageBox.classList.toggle("alw-on", !!msg);
    const err = model.get("error") || "";
    errorText.textContent = err;
    errorBox.classList.toggle("alw-on", !!err);
    awaiting = null; // the kernel answered: a new action may be sent
  }

  function renderDemo() {
    demoRow.classList.toggle("alw-on", !!model.get("demo"));
    const a = model.get("auto") || {};
    autoBtn.disabled = !!a.running;
    stopBtn.disabled = !a.running;
    autoText.textContent = a.running ? `auto-labelling: ${a.left} left` : a.done ? `auto-labelled ${a.done}` : "";
  }

  function renderAutoplay() {
    autoplayBox.checked = !!model.get("autoplay");
  }

  const handlers = {
    "change:clip": renderClip,
    "change:guess": renderGuess,
    "change:classes": renderClasses,
    "change:progress": renderProgress,
    "change:training": renderTraining,
    "change:plot": renderPlot,
    "change:message": renderMessages,
    "change:error": renderMessages,
    "change:demo": renderDemo,
    "change:auto": renderDemo,
    "change:autoplay": renderAutoplay,
  };
  for (const [event, fn] of Object.entries(handlers)) model.on(event, fn);

  renderClasses();
  renderProgress();
  renderTraining();
  renderPlot();
  renderMessages();
  renderDemo();
  renderAutoplay();
  renderClip();
  updateFocus();

  return () => {
    for (const [event, fn] of Object.entries(handlers)) model.off(event, fn);
    focusTimers.forEach(clearTimeout);
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    if (plotUrl) URL.revokeObjectURL(plotUrl);
    audio.pause();
  };
}

export default { render };
