// latent-explorer: the latent-plane component (Streamlit Components v2, in the page, no iframe).
//
// It draws the encoded test set by class and decodes wherever the pointer is (hover, drag, touch,
// or the arrow keys), with one or two decoders on the same z, in the browser: no server round
// trip per move. Releasing the pointer (or Enter) commits z to the server, once per commit.
// Python side: explorer/latent_plane.py (its docstring gives the data this receives).
//
// Hooks for tests and assistive tools: the plane [data-testid="latent-plane"] (focusable), each
// decoded image [data-testid="decoded-image"], the readout [data-testid="z-readout"] ("z = (0.80,
// −0.60) · nearest test digit: a 3"); the plane's data-z attribute holds the decoded z in full
// precision. The plane element's `latentStats` property holds the measured latencies (pointer
// event -> the animation frame that drew the new pixels, ms) for the benchmark, and its
// `latentPoint(z)` gives the viewport point [x, y] of a latent z (to point at a test digit);
// `data-marks` counts the labelled marks drawn (e.g. the audience's digits), `latentMarks` lists their texts.
// The legend's buttons hide and show a class (aria-pressed); hidden classes are not drawn, never
// the nearest test digit, and each commit names them ({z, hidden: [class, ...]}).

// Decoders and test-set points by digest, kept for the page's life: weights travel once per model.
const CACHE = new Map();
const INSTANCES = new WeakMap();  // parentElement -> the instance drawn there
const STATS_LIMIT = 5000;

// Okabe & Ito (2008), "Color Universal Design": 8 colours told apart with any colour vision,
// extended to 10 classes with two of Paul Tol's "muted" colours (wine, olive). Black is swapped
// for white on a dark background.
const PALETTES = {
  light: ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000",
          "#882255", "#999933"],
  dark: ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#FFFFFF",
         "#C4608F", "#BBBB55"],
  // For projectors: saturated and light on black, larger points, a thick cursor.
  contrast: ["#FFB000", "#00D0FF", "#00F090", "#FFFF40", "#6FA8FF", "#FF6020", "#FF80E0", "#FFFFFF",
             "#FF4080", "#D8D860"],
};

function formatNumber(v) {
  const text = (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);
  return text.startsWith("-") ? `\u2212${text.slice(1)}` : text;
}

function formatZ(z) {
  return `z = (${formatNumber(z[0])}, ${formatNumber(z[1])})`;
}

function tickText(v, step) {
  const digits = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
  const text = (Math.abs(v) < step / 2 ? 0 : v).toFixed(digits);
  return text.startsWith("-") ? `\u2212${text.slice(1)}` : text;
}

function niceStep(span) {
  const raw = span / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return power * (unit < 1.5 ? 1 : unit < 3.5 ? 2 : unit < 7.5 ? 5 : 10);
}


function cached(entry, build) {
  if (!CACHE.has(entry.digest) && entry.payload) CACHE.set(entry.digest, build(entry.payload));
  return CACHE.get(entry.digest);
}

function buildPoints(payload) {
  const bytes = asBytes(payload.codes);
  const codes = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const labels = asBytes(payload.labels);
  const byClass = new Map();
  for (let i = 0; i < payload.n; i++) {
    if (!byClass.has(labels[i])) byClass.set(labels[i], []);
    byClass.get(labels[i]).push(i);
  }
  return { n: payload.n, codes, labels, byClass };
}

function buildDecoder(payload) {
  return createDecoder(payload.spec, weightsFromPayload(payload));
}

class LatentPlane {
  constructor(component) {
    this.component = component;
    const root = el("div", { className: "lp" }, component.parentElement);
    this.root = root;
    const main = el("div", { className: "lp-main" }, root);
    this.box = el("div", { className: "lp-box" }, main);
    this.pointsCanvas = el("canvas", { className: "lp-points", "aria-hidden": "true" }, this.box);
    this.overlay = el("canvas", {
      className: "lp-overlay", "data-testid": "latent-plane", tabindex: "0", role: "application",
      "aria-roledescription": "latent plane",
      "aria-label": "Latent plane. Move the pointer or use the arrow keys (Shift for larger steps) to "
        + "decode a latent z; press Enter or click to keep it.",
    }, this.box);
    this.legend = el("div", { className: "lp-legend", role: "group", "aria-label": "Classes shown" }, main);
    const side = el("div", { className: "lp-side" }, root);
    this.figures = el("div", { className: "lp-figures" }, side);
    this.readout = el("div", { className: "lp-readout", "data-testid": "z-readout" }, side);
    this.hint = el("div", { className: "lp-hint" }, side);
    this.live = el("div", { className: "lp-live", role: "status", "aria-live": "polite" }, side);
    this.points = null;
    this.decoders = [];
    this.images = [];
    this.z = [0, 0];          // the z shown now
    this.committed = null;    // the server's z (or the last commit sent)
    this.dragging = false;
    this.pending = null;      // {z, t}: the latest move not drawn yet
    this.raf = 0;
    this.stats = { latencies: [], frames: [], draws: 0, pointsMs: null };
    this.overlay.latentStats = this.stats;
    this.overlay.latentPoint = (z) => {
      const rect = this.overlay.getBoundingClientRect(), [x, y] = this.toScreen(z);
      return [rect.left + x, rect.top + y];
    };
    this.hidden = new Set();  // classes the viewer hid with the legend
    this.sizeKey = "";
    this.listen();
    this.resizeObserver = new ResizeObserver(() => {
      try { this.layout(); } catch (error) { this.fail(error); }
    });
    this.resizeObserver.observe(this.box);
  }

  // --- data from Python ---------------------------------------------------------------------

  update(component) {
    this.component = component;
    const data = unpackData(component.data);  // raw bytes: explorer.webdecoder.pack
    this.data = data;
    const missing = [];
    this.points = data.points ? cached(data.points, buildPoints) : null;
    if (data.points && !this.points) missing.push(data.points.digest);
    this.decoders = data.decoders.map((d) => {
      const decoder = cached(d, buildDecoder);
      if (!decoder) missing.push(d.digest);
      return { ...d, decoder };
    });
    if (missing.length) {  // this page lost them (e.g. reloaded): ask Python to send them again
      component.setStateValue("missing", { digests: missing, at: Date.now() });
      this.hint.textContent = "Loading the decoder…";
      return;
    }
    const palette = data.contrast ? "contrast" : data.dark ? "dark" : "light";
    this.colors = PALETTES[palette];
    this.root.classList.toggle("lp-contrast", Boolean(data.contrast));
    this.root.classList.toggle("lp-dark", Boolean(data.dark));
    this.box.style.height = `${data.height}px`;
    const serverZ = data.z ? [data.z[0], data.z[1]] : null;
    const zChanged = JSON.stringify(serverZ) !== JSON.stringify(this.serverZ);
    this.serverZ = serverZ;
    if (zChanged) this.committed = serverZ;
    if (!this.dragging && !this.hovering) this.z = (this.committed || data.start || [0, 0]).slice();
    this.makeFigures();
    this.makeLegend();
    this.hint.textContent = data.hint || "";
    this.sizeKey = "";  // redraw the points: their data, extent or colours may have changed
    this.layout();
  }

  makeFigures() {
    const key = JSON.stringify(this.decoders.map((d) => [d.digest, d.title, this.data.imageSize]));
    if (key === this.figuresKey) return;
    this.figuresKey = key;
    this.figures.replaceChildren();
    this.images = this.decoders.map((d) => {
      const figure = el("figure", { className: "lp-figure" }, this.figures);
      const [, h, w] = d.decoder.image;
      const canvas = el("canvas", { "data-testid": "decoded-image", width: String(w), height: String(h),
                                    role: "img", "data-model": d.name || "" }, figure);
      canvas.style.width = `${this.data.imageSize}px`;
      canvas.style.height = `${Math.round(this.data.imageSize * h / w)}px`;
      el("figcaption", { text: d.title }, figure);
      const ctx = canvas.getContext("2d");
      if (!ctx) throw new Error("this browser has no canvas 2D");
      return { canvas, ctx, imageData: ctx.createImageData(w, h), pixels: new Float32Array(w * h * d.decoder.image[0]) };
    });
  }

  makeLegend() {
    const names = this.data.classNames || [];
    const key = JSON.stringify([names, this.colors]);
    if (key === this.legendKey) return;
    if (JSON.stringify(names) !== JSON.stringify(this.legendNames)) this.hidden.clear();
    this.legendKey = key;
    this.legendNames = names;
    this.legend.replaceChildren();
    names.forEach((name, i) => {
      const item = el("button", { className: "lp-key", type: "button", "aria-pressed": String(!this.hidden.has(i)),
                                  title: `Hide or show the ${name}s` }, this.legend);
      el("span", { className: "lp-swatch" }, item).style.background = this.colors[i % this.colors.length];
      item.appendChild(document.createTextNode(name));
      item.addEventListener("click", () => {
        if (this.hidden.has(i)) this.hidden.delete(i); else this.hidden.add(i);
        item.setAttribute("aria-pressed", String(!this.hidden.has(i)));
        if (!this.scale) return;  // not laid out yet: layout() draws them
        try { this.drawPoints(); this.draw(null); } catch (error) { this.fail(error); }
      });
    });
  }

  // --- geometry -------------------------------------------------------------------------------

  layout() {
    const width = this.box.clientWidth, height = this.box.clientHeight;
    if (!width || !height || !this.data) return;
    const dpr = window.devicePixelRatio || 1;
    const key = `${width}x${height}@${dpr}`;
    if (key !== this.sizeKey) {
      this.sizeKey = key;
      for (const canvas of [this.pointsCanvas, this.overlay]) {
        canvas.width = Math.round(width * dpr);
        canvas.height = Math.round(height * dpr);
      }
      const [x0, x1, y0, y1] = this.data.extent;
      // One scale for both axes (distances in the plane are distances in z), the extent centred.
      this.scale = Math.min(width / (x1 - x0), height / (y1 - y0));
      this.center = [(x0 + x1) / 2, (y0 + y1) / 2];
      this.width = width;
      this.height = height;
      this.dpr = dpr;
      this.drawPoints();
    }
    this.draw(null);
  }

  toScreen(z) {
    return [this.width / 2 + (z[0] - this.center[0]) * this.scale,
            this.height / 2 - (z[1] - this.center[1]) * this.scale];
  }

  toLatent(x, y) {
    return [this.center[0] + (x - this.width / 2) / this.scale,
            this.center[1] - (y - this.height / 2) / this.scale];
  }

  // The test set's points and the axes, drawn once per size, data and colours (not per move).
  drawPoints() {
    const start = performance.now();
    const ctx = this.pointsCanvas.getContext("2d");
    if (!ctx) throw new Error("this browser has no canvas 2D");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const contrast = Boolean(this.data.contrast), dark = Boolean(this.data.dark);
    ctx.fillStyle = contrast ? "#000000" : dark ? "#0e1117" : "#ffffff";
    ctx.fillRect(0, 0, this.width, this.height);
    const [zx0, zy1] = this.toLatent(0, 0), [zx1, zy0] = this.toLatent(this.width, this.height);
    const step = niceStep(Math.min(zx1 - zx0, zy1 - zy0));
    ctx.strokeStyle = contrast ? "#555555" : dark ? "#2a2f3a" : "#e6e8ec";
    ctx.fillStyle = contrast ? "#ffffff" : dark ? "#b8bcc6" : "#5b6270";
    ctx.lineWidth = 1;
    ctx.font = `${contrast ? 15 : 11}px system-ui, sans-serif`;
    for (let v = Math.ceil(zx0 / step) * step; v <= zx1; v += step) {
      const [x] = this.toScreen([v, 0]);
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, this.height); ctx.stroke();
      ctx.fillText(tickText(v, step), x + 2, this.height - 4);
    }
    for (let v = Math.ceil(zy0 / step) * step; v <= zy1; v += step) {
      const [, y] = this.toScreen([0, v]);
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(this.width, y); ctx.stroke();
      ctx.fillText(tickText(v, step), 3, y - 3);
    }
    ctx.fillText("z\u2081 \u2192", this.width - 34, this.height - 18);
    ctx.fillText("z\u2082 \u2191", 6, 14);
    if (this.points) {
      const r = contrast ? 2.2 : 1.6;
      ctx.globalAlpha = contrast ? 0.9 : 0.6;
      for (const [label, indices] of this.points.byClass) {
        if (this.hidden.has(label)) continue;
        ctx.fillStyle = this.colors[label % this.colors.length];
        for (const i of indices) {
          const [x, y] = this.toScreen([this.points.codes[2 * i], this.points.codes[2 * i + 1]]);
          ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
        }
      }
      ctx.globalAlpha = 1;
    }
    this.stats.pointsMs = performance.now() - start;
  }

  nearest(z) {
    if (!this.points) return -1;
    let best = -1, bestD = Infinity;
    const codes = this.points.codes, labels = this.points.labels, hidden = this.hidden;
    for (let i = 0; i < this.points.n; i++) {
      if (hidden.size && hidden.has(labels[i])) continue;
      const dx = codes[2 * i] - z[0], dy = codes[2 * i + 1] - z[1];
      const d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  // --- drawing a z ------------------------------------------------------------------------------

  // Decode z with every decoder, draw the images, the cursor and the readout. eventTime: the
  // pointer or key event's timeStamp (performance.now() clock), to record the latency.
  draw(eventTime) {
    if (!this.scale) return;
    const z = this.z;
    this.images.forEach((image, k) => {
      const d = this.decoders[k];
      d.decoder.decode(z, d.label, image.pixels);
      const rgba = image.imageData.data, pixels = image.pixels;
      for (let i = 0, j = 0; i < pixels.length; i++, j += 4) {
        const v = Math.round(pixels[i] * 255);
        rgba[j] = v; rgba[j + 1] = v; rgba[j + 2] = v; rgba[j + 3] = 255;
      }
      image.ctx.putImageData(image.imageData, 0, 0);
    });
    this.drawOverlay();
    const index = this.nearest(z);
    const names = this.data.classNames || [];
    const near = index < 0 ? "" : ` \u00b7 nearest test digit: a ${names[this.points.labels[index]] ?? "?"} (#${index})`;
    this.readout.textContent = formatZ(z) + near;
    this.overlay.dataset.z = `${z[0]},${z[1]}`;  // full precision, for tests and assistive tools
    if (eventTime !== null) {
      const now = performance.now();
      const s = this.stats;
      s.latencies.push(now - eventTime);
      s.frames.push(now);
      s.draws += 1;
      if (s.latencies.length > STATS_LIMIT) { s.latencies.shift(); s.frames.shift(); }
    }
  }

  drawOverlay() {
    const ctx = this.overlay.getContext("2d");
    if (!ctx) throw new Error("this browser has no canvas 2D");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    const contrast = Boolean(this.data.contrast), dark = Boolean(this.data.dark);
    const ink = contrast || dark ? "#ffffff" : "#111111";
    const path = this.data.path;
    if (path && path.length > 1) {
      ctx.strokeStyle = ink; ctx.lineWidth = contrast ? 3 : 2;
      ctx.beginPath();
      path.forEach((p, i) => { const [x, y] = this.toScreen(p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
      ctx.stroke();
    }
    ctx.font = `${contrast ? 16 : 12}px system-ui, sans-serif`;
    this.overlay.dataset.marks = String((this.data.marks || []).length);
    this.overlay.latentMarks = (this.data.marks || []).map((mark) => mark.text);
    for (const mark of this.data.marks || []) {
      const [x, y] = this.toScreen(mark.z);
      ctx.fillStyle = ink; ctx.strokeStyle = contrast || dark ? "#000000" : "#ffffff"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(x, y, contrast ? 8 : 6, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
      ctx.fillStyle = ink; ctx.fillText(mark.text, x + 10, y - 8);
    }
    if (this.committed) {  // the kept z: a cross
      const [x, y] = this.toScreen(this.committed);
      ctx.strokeStyle = ink; ctx.lineWidth = contrast ? 4 : 2.5;
      ctx.beginPath(); ctx.moveTo(x - 7, y - 7); ctx.lineTo(x + 7, y + 7); ctx.moveTo(x + 7, y - 7);
      ctx.lineTo(x - 7, y + 7); ctx.stroke();
    }
    const [x, y] = this.toScreen(this.z);  // the z shown now: a ring with crosshairs
    ctx.strokeStyle = contrast ? "#FFFF00" : dark ? "#ffffff" : "#111111";
    ctx.lineWidth = contrast ? 3 : 1.5;
    ctx.beginPath(); ctx.arc(x, y, contrast ? 11 : 8, 0, 2 * Math.PI);
    ctx.moveTo(x - 16, y); ctx.lineTo(x - 4, y); ctx.moveTo(x + 4, y); ctx.lineTo(x + 16, y);
    ctx.moveTo(x, y - 16); ctx.lineTo(x, y - 4); ctx.moveTo(x, y + 4); ctx.lineTo(x, y + 16);
    ctx.stroke();
    if (document.activeElement === this.overlay || this.overlay.matches(":focus")) {
      ctx.strokeStyle = contrast ? "#FFFF00" : "#1f77b4"; ctx.lineWidth = 3;
      ctx.strokeRect(1.5, 1.5, this.width - 3, this.height - 3);
    }
  }

  // Coalesce moves: at most one decode per animation frame, always of the latest z.
  show(z, eventTime) {
    this.z = z;
    if (this.pending === null) this.pending = eventTime;  // the oldest event waiting for this frame
    if (!this.raf) {
      this.raf = requestAnimationFrame(() => {
        this.raf = 0;
        const t = this.pending;
        this.pending = null;
        try { this.draw(t); } catch (error) { this.fail(error); }
      });
    }
  }

  commit() {
    this.committed = this.z.slice();
    this.live.textContent = `Kept ${this.readout.textContent}`;
    this.component.setTriggerValue("commit", { z: this.committed, hidden: [...this.hidden].sort((a, b) => a - b) });
    this.draw(null);
  }

  fail(error) {
    console.error("latent plane:", error);
    this.component.setStateValue("failed", String(error && error.message ? error.message : error));
  }

  // --- input ------------------------------------------------------------------------------------

  latentAt(event) {
    const rect = this.overlay.getBoundingClientRect();
    return this.toLatent(event.clientX - rect.left, event.clientY - rect.top);
  }

  listen() {
    const o = this.overlay;
    o.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      this.dragging = true;
      o.setPointerCapture(e.pointerId);
      o.focus({ preventScroll: true });
      this.show(this.latentAt(e), e.timeStamp);
      e.preventDefault();
    });
    o.addEventListener("pointermove", (e) => {
      this.hovering = true;
      // All moves since the last event (pointer events are coalesced per frame): use the latest.
      this.show(this.latentAt(e), e.timeStamp);
    });
    const release = (e) => {
      if (!this.dragging) return;
      this.dragging = false;
      this.z = this.latentAt(e);
      this.commit();
    };
    o.addEventListener("pointerup", release);
    o.addEventListener("pointercancel", () => { this.dragging = false; });
    o.addEventListener("pointerleave", (e) => {
      if (this.dragging) return;
      this.hovering = false;
      if (e.pointerType === "mouse") this.show((this.committed || this.data.start || [0, 0]).slice(), e.timeStamp);
    });
    o.addEventListener("keydown", (e) => {
      const span = Math.min(this.width, this.height) / this.scale;
      const step = span * (e.shiftKey ? 0.1 : 0.02);
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (moves[e.key]) {
        const [dx, dy] = moves[e.key];
        this.show([this.z[0] + dx, this.z[1] + dy], e.timeStamp);
        requestAnimationFrame(() => { this.live.textContent = this.readout.textContent; });
        e.preventDefault();
      } else if (e.key === "Enter" || e.key === " ") {
        this.commit();
        e.preventDefault();
      } else if (e.key === "Escape" && this.committed) {
        this.show(this.committed.slice(), e.timeStamp);
      }
    });
    o.addEventListener("focus", () => this.drawOverlay());
    o.addEventListener("blur", () => this.drawOverlay());
  }
}

export default function (component) {
  let plane = INSTANCES.get(component.parentElement);
  try {
    if (!plane) {
      const probe = document.createElement("canvas").getContext("2d");
      if (!probe) throw new Error("this browser has no canvas 2D");
      plane = new LatentPlane(component);
      INSTANCES.set(component.parentElement, plane);
    }
    plane.update(component);
  } catch (error) {
    console.error("latent plane:", error);
    component.setStateValue("failed", String(error && error.message ? error.message : error));
  }
  return undefined;  // the instance lives as long as its element; Streamlit drops both together
}
