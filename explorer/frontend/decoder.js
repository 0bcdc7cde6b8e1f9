// latent-explorer: a model's decoder and likelihood mean, run in the browser on typed arrays.
//
// The spec and weights come from explorer/webdecoder.py (its docstring gives the format); the
// layers run in the same order and layouts as torch, and the result is E[x|z] clipped to [0, 1],
// as explorer.inference.decode returns it. tests/test_browser.py checks every shipped 2-D model
// against torch to 1e-4 per pixel.
//
// Plain script (no import/export): the latent-plane component includes it in its module, and the
// parity test loads it into a blank page.

/* exported createDecoder, base64Bytes, weightsFromPayload, unpackData, asBytes */

const DECODER_FORMAT = "latent-explorer-decoder/1";
const ENVELOPE = "LXP1";  // explorer.webdecoder.pack: magic, header length, JSON header, blobs

/**
 * The data of an explorer.webdecoder.pack message (a Uint8Array or ArrayBuffer): its JSON header,
 * each {"$bytes": [offset, length]} replaced by a Uint8Array of those bytes, copied into a buffer of
 * their own (aligned, so typed-array views of it need no copy). Throws on anything else.
 */
function unpackData(message) {
  const bytes = message instanceof Uint8Array ? message : new Uint8Array(message);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== ENVELOPE || bytes.length < 8) throw new Error("the plane's data is not a packed message");
  const n = new DataView(bytes.buffer, bytes.byteOffset + 4, 4).getUint32(0, true);
  const start = 8 + n;
  const blobs = start + ((8 - (start % 8)) % 8);
  const header = new TextDecoder().decode(bytes.subarray(8, start));
  return JSON.parse(header, (key, value) => {
    if (value && typeof value === "object" && Array.isArray(value.$bytes) && Object.keys(value).length === 1) {
      const [offset, length] = value.$bytes;
      return bytes.slice(blobs + offset, blobs + offset + length);
    }
    return value;
  });
}

/** A Uint8Array of bytes given as one (from unpackData) or as a base64 string (tests). */
function asBytes(value) {
  return typeof value === "string" ? base64Bytes(value) : value;
}

/** Bytes of a base64 string, as a Uint8Array. */
function base64Bytes(text) {
  if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** float16 bits -> number (IEEE 754 half precision). */
function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** The weight buffer of a payload ({spec, dtype: "float32" | "float16", weights: base64}) as a Float32Array. */
function weightsFromPayload(payload) {
  const bytes = asBytes(payload.weights);
  if (payload.dtype === "float16") {
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    const out = new Float32Array(halves.length);
    for (let i = 0; i < halves.length; i++) out[i] = halfToFloat(halves[i]);
    return out;
  }
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function linear(layer, weights, x, out) {
  const n = layer.in, m = layer.out, w = layer.w, b = layer.b;
  for (let j = 0; j < m; j++) {
    let sum = weights[b + j];
    const row = w + j * n;
    for (let i = 0; i < n; i++) sum += weights[row + i] * x[i];
    out[j] = sum;
  }
}

// out[co, oy, ox] = b[co] + sum over ci, ky, kx with oy = iy*sh - ph + ky (and the same in x) of
// x[ci, iy, ix] * W[ci, co, ky, kx]: torch's ConvTranspose2d, scattered from each input pixel.
function convTranspose(layer, weights, x, out) {
  const [cIn, h, w] = layer.in_shape;
  const [cOut, oh, ow] = layer.out_shape;
  const [kh, kw] = layer.kernel, [sh, sw] = layer.stride, [ph, pw] = layer.padding;
  const plane = oh * ow, kernel = kh * kw;
  for (let co = 0; co < cOut; co++) out.fill(weights[layer.b + co], co * plane, (co + 1) * plane);
  for (let ci = 0; ci < cIn; ci++) {
    for (let iy = 0; iy < h; iy++) {
      for (let ix = 0; ix < w; ix++) {
        const v = x[(ci * h + iy) * w + ix];
        if (v === 0) continue;  // after a ReLU most inputs are 0
        const wBase = layer.w + ci * cOut * kernel;
        for (let ky = 0; ky < kh; ky++) {
          const oy = iy * sh - ph + ky;
          if (oy < 0 || oy >= oh) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ox = ix * sw - pw + kx;
            if (ox < 0 || ox >= ow) continue;
            const at = oy * ow + ox;
            let wi = wBase + ky * kw + kx;
            for (let co = 0; co < cOut; co++, wi += kernel) out[co * plane + at] += v * weights[wi];
          }
        }
      }
    }
  }
}

const f32 = Math.fround;

// E[x|z] per value from the decoder's output l, matching train/models.py and train/objectives.py
// (in float32 where torch's formula loses precision, so the two agree).
const MEANS = {
  "bernoulli": (l) => 1 / (1 + Math.exp(-l)),
  // Loaiza-Ganem & Cunningham 2019, eq. 8: 1 / (1 - e^-l) - 1 / l, and 1/2 + l/12 near l = 0.
  "continuous-bernoulli": (l) => (Math.abs(l) < 1e-3 ? 0.5 + l / 12
    : f32(f32(-1 / f32(Math.expm1(-l))) - f32(1 / l))),
  "gaussian": (l) => l,
  "gaussian-learned": (l) => l,  // the mean: the first C channels (the variance is not drawn)
};

/**
 * A decoder for a spec and its weights (Float32Array).
 * returns {latentDim, nClasses, image: [C, H, W], decode(z, label, out)}: decode takes z (array of
 * latentDim numbers) and, for a conditional model, label (integer class 0..nClasses-1), and writes
 * E[x|z] clipped to [0, 1] into out (Float32Array of C*H*W values, channel-major), returning it.
 * Throws Error for an unknown format, layer or likelihood.
 */
function createDecoder(spec, weights) {
  if (spec.format !== DECODER_FORMAT) throw new Error(`unknown decoder format ${spec.format}`);
  const mean = MEANS[spec.likelihood];
  if (!mean) throw new Error(`no browser mean for the ${spec.likelihood} likelihood`);
  let size = spec.input;
  const steps = [];
  for (const layer of spec.layers) {
    if (layer.op === "linear") {
      if (layer.in !== size) throw new Error(`linear layer expects ${layer.in} inputs, gets ${size}`);
      size = layer.out;
      steps.push({ layer, run: linear, out: new Float32Array(size) });
    } else if (layer.op === "conv_transpose") {
      const [c, h, w] = layer.in_shape;
      if (c * h * w !== size) throw new Error("transposed convolution input size mismatch");
      size = layer.out_shape[0] * layer.out_shape[1] * layer.out_shape[2];
      steps.push({ layer, run: convTranspose, out: new Float32Array(size) });
    } else if (layer.op === "relu") {
      steps.push({ layer, run: null, out: null });
    } else if (layer.op !== "reshape") {  // a view: the flat buffer is already channel-major
      throw new Error(`unknown decoder layer ${layer.op}`);
    }
  }
  const [channels, height, width] = spec.image;
  const pixels = channels * height * width;
  const input = new Float32Array(spec.input);
  return {
    latentDim: spec.latent_dim,
    nClasses: spec.n_classes,
    image: spec.image,
    decode(z, label, out) {
      input.fill(0);
      for (let i = 0; i < spec.latent_dim; i++) input[i] = z[i];
      if (spec.n_classes > 0) {
        if (!(label >= 0 && label < spec.n_classes)) throw new Error("a conditional decoder needs a class");
        input[spec.latent_dim + label] = 1;
      }
      let x = input;
      for (const step of steps) {
        if (step.run === null) {  // ReLU in place on the last output
          for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
        } else {
          step.run(step.layer, weights, x, step.out);
          x = step.out;
        }
      }
      const result = out || new Float32Array(pixels);
      for (let i = 0; i < pixels; i++) {
        const v = mean(x[i]);
        result[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
      return result;
    },
  };
}
