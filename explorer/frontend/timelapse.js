// latent-explorer: the training time-lapse player (Streamlit Components v2, in the page, no iframe).
//
// Plays recorded frames of one or two training runs in sync, in the browser: no Streamlit rerun per
// frame. Python side: explorer/views/timelapse.py and explorer/timelapse.py (its `payload` is the
// data this receives). Each run shows its last frame at or before the current optimisation step:
// nothing is interpolated. The scrubber moves over the recorded steps, which the trainer spaces
// logarithmically, so it is a log scale of steps.
//
// Hooks for tests and assistive tools: the player [data-testid="timelapse"] with data-frame (the
// index in the timeline) and data-step; the play button [data-testid="timelapse-play"]; the
// scrubber [data-testid="timelapse-scrubber"] (a range input); the player element's
// `timelapseStats` {draws: ms per drawn frame, shown: performance.now() of each frame shown while
// playing} for the benchmark.

const TL_PALETTES = {
  light: ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000",
          "#882255", "#999933"],
  dark: ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#FFFFFF",
         "#C4608F", "#BBBB55"],
};
const TL_BASE_FPS = 8;  // frames per second at 1x
const TL_STATS_LIMIT = 5000;
const TL_INSTANCES = new WeakMap();


function tlFloats(b64) {
  const bytes = base64Bytes(b64);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function tlNumber(v) {
  return Math.round(v).toLocaleString("en-US");
}

class TimeLapse {
  constructor(component) {
    const root = el("div", { className: "tl", "data-testid": "timelapse", role: "group",
                                "aria-roledescription": "training time-lapse" }, component.parentElement);
    this.root = root;
    const bar = el("div", { className: "tl-bar" }, root);
    this.play = el("button", { className: "tl-play", type: "button", "data-testid": "timelapse-play",
                                 "aria-label": "Play", text: "▶ Play" }, bar);
    this.speed = el("select", { className: "tl-speed", "aria-label": "Playback speed" }, bar);
    for (const s of [0.5, 1, 2, 4]) {
      const option = el("option", { value: String(s), text: `${s}×` }, this.speed);
      if (s === 1) option.selected = true;
    }
    this.scrubber = el("input", { className: "tl-scrubber", type: "range", min: "0", max: "0", step: "1",
                                    value: "0", "data-testid": "timelapse-scrubber",
                                    "aria-label": "Training step (log scale)" }, bar);
    this.readout = el("span", { className: "tl-readout", "aria-live": "polite" }, bar);
    this.panelsBox = el("div", { className: "tl-panels" }, root);
    this.lossBox = el("div", { className: "tl-loss" }, root);
    this.lossCanvas = el("canvas", { className: "tl-loss-canvas", role: "img" }, this.lossBox);
    this.legend = el("div", { className: "tl-legend", "aria-hidden": "true" }, root);
    this.index = 0;
    this.playing = false;
    this.lastTick = 0;
    this.stats = { draws: [], shown: [] };
    root.timelapseStats = this.stats;
    this.play.addEventListener("click", () => this.toggle());
    this.scrubber.addEventListener("input", () => { this.pause(); this.show(Number(this.scrubber.value)); });
    root.addEventListener("keydown", (e) => {
      if (e.target === this.scrubber) return;  // the range input has its own keys
      if (e.key === " " && e.target !== this.play) { this.toggle(); e.preventDefault(); }
    });
  }

  update(component) {
    const data = unpackData(component.data);  // raw bytes: explorer.webdecoder.pack
    const key = JSON.stringify([data.steps.length, data.panels.map((p) => [p.name, p.frames, p.n]), data.dark]);
    this.colors = TL_PALETTES[data.dark ? "dark" : "light"];
    this.dark = Boolean(data.dark);
    this.root.classList.toggle("tl-dark", this.dark);
    if (key !== this.key) {
      this.key = key;
      this.steps = data.steps;
      this.panelsBox.replaceChildren();
      this.panels = data.panels.map((p) => this.makePanel(p));
      this.scrubber.max = String(this.steps.length - 1);
      this.makeLegend(data.classNames || []);
      const atEnd = this.index >= this.known - 1;  // a growing run follows its newest frame
      this.index = Math.min(this.index, this.steps.length - 1);
      if (data.start === "end" && (atEnd || this.known === undefined)) this.index = this.steps.length - 1;
      this.known = this.steps.length;
    }
    this.layoutLoss();
    this.show(this.index, true);
  }

  makePanel(p) {
    const figure = el("figure", { className: "tl-panel" }, this.panelsBox);
    el("figcaption", { className: "tl-title", text: p.title }, figure);
    const canvas = el("canvas", { className: "tl-points", role: "img",
                                    "aria-label": `${p.title}: the codes of ${p.n} test inputs` }, figure);
    let tiles = null;
    if (p.manifold) {
      const side = Math.round(Math.sqrt(p.manifold.k));
      tiles = el("canvas", { className: "tl-tiles", width: String(side * p.manifold.w),
                               height: String(side * p.manifold.h), role: "img",
                               "aria-label": `${p.title}: decoded manifold` }, figure);
    }
    const when = el("div", { className: "tl-when" }, figure);
    el("div", { className: "tl-axes", text: p.axes }, figure);
    const labels = base64Bytes(p.labels);
    return {
      ...p, canvas, tiles, when, labels, points: tlFloats(p.points),
      images: p.manifold ? base64Bytes(p.manifold.images) : null, drawn: -1,
    };
  }

  makeLegend(names) {
    this.legend.replaceChildren();
    names.forEach((name, i) => {
      const item = el("span", { className: "tl-key" }, this.legend);
      el("span", { className: "tl-swatch" }, item).style.background = this.colors[i % this.colors.length];
      item.appendChild(document.createTextNode(name));
    });
  }

  frameOf(p, step) {  // the last frame at or before `step`
    let lo = 0, hi = p.steps.length - 1, best = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (p.steps[mid] <= step) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return best;
  }

  show(index, force = false) {
    const start = performance.now();
    this.index = Math.max(0, Math.min(index, this.steps.length - 1));
    const step = this.steps[this.index];
    for (const p of this.panels) {
      const f = this.frameOf(p, step);
      if (force || f !== p.drawn) this.drawPanel(p, f);
      const epoch = p.epochs[f];
      p.when.textContent = `step ${tlNumber(p.steps[f])}` + (epoch === null ? "" : ` · epoch ${epoch.toFixed(2)}`);
    }
    this.drawLoss(step);
    this.scrubber.value = String(this.index);
    this.scrubber.setAttribute("aria-valuetext", `step ${tlNumber(step)}`);
    this.readout.textContent = `step ${tlNumber(step)} of ${tlNumber(this.steps[this.steps.length - 1])}`;
    this.root.dataset.frame = String(this.index);
    this.root.dataset.step = String(step);
    const s = this.stats;
    s.draws.push(performance.now() - start);
    if (this.playing) s.shown.push(performance.now());
    if (s.draws.length > TL_STATS_LIMIT) s.draws.shift();
    if (s.shown.length > TL_STATS_LIMIT) s.shown.shift();
  }

  drawPanel(p, f) {
    p.drawn = f;
    const canvas = p.canvas;
    const size = canvas.clientWidth || 320;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(size * dpr)) {
      canvas.width = Math.round(size * dpr);
      canvas.height = Math.round(size * dpr);
    }
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("this browser has no canvas 2D");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = this.dark ? "#0e1117" : "#ffffff";
    ctx.fillRect(0, 0, size, size);
    const [x0, x1, y0, y1] = p.extent;
    const scale = Math.min(size / (x1 - x0), size / (y1 - y0));
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const offset = f * p.n * 2, pts = p.points;
    ctx.globalAlpha = 0.7;
    for (let c = 0; c < 10; c++) {  // one fillStyle per class
      ctx.fillStyle = this.colors[c];
      for (let i = 0; i < p.n; i++) {
        if (p.labels[i] % 10 !== c) continue;
        const x = size / 2 + (pts[offset + 2 * i] - cx) * scale;
        const y = size / 2 - (pts[offset + 2 * i + 1] - cy) * scale;
        ctx.fillRect(x - 1.3, y - 1.3, 2.6, 2.6);
      }
    }
    ctx.globalAlpha = 1;
    if (p.tiles && p.images) {
      const { k, h, w } = p.manifold;
      const side = Math.round(Math.sqrt(k));
      const tctx = p.tiles.getContext("2d");
      const image = tctx.createImageData(side * w, side * h);
      const base = f * k * h * w;
      for (let t = 0; t < side * side; t++) {
        const row = Math.floor(t / side), col = t % side;
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const v = p.images[base + t * h * w + y * w + x];
            const j = 4 * ((row * h + y) * side * w + col * w + x);
            image.data[j] = v; image.data[j + 1] = v; image.data[j + 2] = v; image.data[j + 3] = 255;
          }
        }
      }
      tctx.putImageData(image, 0, 0);
    }
  }

  layoutLoss() {
    const width = this.lossBox.clientWidth || 640, height = 150;
    const dpr = window.devicePixelRatio || 1;
    this.lossCanvas.width = Math.round(width * dpr);
    this.lossCanvas.height = Math.round(height * dpr);
    this.lossCanvas.style.height = `${height}px`;
    this.lossSize = [width, height];
    this.lossCanvas.setAttribute("aria-label", "Test and train loss per input (nats) against the step, log scale");
  }

  drawLoss(step) {
    const [width, height] = this.lossSize || [640, 150];
    const dpr = window.devicePixelRatio || 1;
    const ctx = this.lossCanvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const ink = this.dark ? "#e8e8e8" : "#1a1a1a";
    const series = [];
    this.panels.forEach((p, k) => {
      for (const [name, dash] of [["test_loss", []], ["train_loss", [4, 3]]]) {
        const values = p.losses[name];
        if (values) series.push({ p, values, dash, color: k === 0 ? "#0072B2" : "#D55E00", name });
      }
    });
    const all = series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v)));
    if (!all.length) return;
    const sorted = [...all].sort((a, b) => a - b);
    const lo = sorted[0], hi = sorted[Math.floor(0.98 * (sorted.length - 1))];  // the first frames' huge losses would flatten the rest
    const left = 46, right = 8, top = 8, bottom = 22;
    const lastStep = this.steps[this.steps.length - 1];
    const sx = (s) => left + (Math.log10(s + 1) / Math.log10(lastStep + 1)) * (width - left - right);
    const sy = (v) => top + (1 - (Math.min(v, hi) - lo) / Math.max(hi - lo, 1e-9)) * (height - top - bottom);
    ctx.strokeStyle = this.dark ? "#2a2f3a" : "#e6e8ec";
    ctx.fillStyle = this.dark ? "#b8bcc6" : "#5b6270";
    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    for (const v of [lo, (lo + hi) / 2, hi]) {
      ctx.beginPath(); ctx.moveTo(left, sy(v)); ctx.lineTo(width - right, sy(v)); ctx.stroke();
      ctx.fillText(v.toFixed(0), 4, sy(v) + 4);
    }
    for (let e = 0; 10 ** e <= lastStep; e++) {
      ctx.fillText(e === 0 ? "1" : `10${"⁰¹²³⁴⁵⁶⁷⁸⁹"[e]}`, sx(10 ** e) - 4, height - 6);
    }
    for (const s of series) {
      ctx.strokeStyle = s.color; ctx.setLineDash(s.dash); ctx.lineWidth = 2;
      ctx.beginPath();
      let started = false;
      s.values.forEach((v, i) => {
        if (v === null || !Number.isFinite(v)) return;
        const x = sx(s.p.steps[i]), y = sy(v);
        if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
      });
      ctx.stroke();
    }
    ctx.setLineDash([]);
    const x = sx(step);
    ctx.strokeStyle = ink; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, height - bottom); ctx.stroke();
    ctx.fillStyle = ink;
    const names = this.panels.map((p, k) => `${k === 0 ? "blue" : "orange"}: ${p.title}`).join(" · ");
    ctx.fillText(`nats per input (solid: test, dashed: train) · ${names}`, left + 4, top + 10);
  }

  toggle() { if (this.playing) this.pause(); else this.start(); }

  start() {
    if (this.index >= this.steps.length - 1) this.show(0);
    this.playing = true;
    this.play.textContent = "❚❚ Pause";
    this.play.setAttribute("aria-label", "Pause");
    this.lastTick = performance.now();
    const tick = (now) => {
      if (!this.playing) return;
      const every = 1000 / (TL_BASE_FPS * Number(this.speed.value || 1));
      if (now - this.lastTick >= every) {
        this.lastTick = now;
        try { this.show(this.index + 1); } catch (error) { this.fail(error); return; }
        if (this.index >= this.steps.length - 1) { this.pause(); return; }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  pause() {
    this.playing = false;
    this.play.textContent = "▶ Play";
    this.play.setAttribute("aria-label", "Play");
  }

  fail(error) {
    console.error("time-lapse:", error);
    this.pause();
    this.component.setStateValue("failed", String(error && error.message ? error.message : error));
  }
}

export default function (component) {
  let player = TL_INSTANCES.get(component.parentElement);
  try {
    if (!player) {
      player = new TimeLapse(component);
      TL_INSTANCES.set(component.parentElement, player);
    }
    player.component = component;
    player.update(component);
  } catch (error) {
    console.error("time-lapse:", error);
    component.setStateValue("failed", String(error && error.message ? error.message : error));
  }
  return undefined;
}
