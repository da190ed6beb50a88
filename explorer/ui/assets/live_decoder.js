// The live generator's browser side (explorer/ui/live_decoder.py): an st.components.v2 module that decodes the
// VAE's latent in the browser on every slider input, at most once per animation frame, and reports the point
// back to Python on release (a "commit" trigger) or, optionally, every previewMs while dragging ("preview").
const WEIGHTS = (globalThis.__latentWeightCache = globalThis.__latentWeightCache || new Map());
const INSTANCES = new WeakMap();

function b64bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// IEEE half -> float, exact (every half is a float32).
function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 5.960464477539063e-8;  // subnormal: f * 2^-24
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * Math.pow(2, e - 15);
}

function unpack(t) {
  const bytes = b64bytes(t.b64);
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer);
  if (t.dtype === "float16") for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  else for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function buildNet(w) {
  const w1 = unpack(w.w1), b1 = unpack(w.b1), w2 = unpack(w.w2), b2 = unpack(w.b2);
  const [H, D] = w.w1.shape, P = w.w2.shape[0];
  const w2t = new Float32Array(H * P);  // [H][P]: the output loop reads one contiguous row per hidden unit
  for (let p = 0; p < P; p++) for (let h = 0; h < H; h++) w2t[h * P + p] = w2[p * H + h];
  return { w1, b1, w2t, b2, H, D, P, hidden: new Float64Array(H), acc: new Float64Array(P) };
}

// z (D numbers) -> P pixel probabilities (Float32Array): sigmoid(W2 relu(W1 z + b1) + b2).
function decode(net, z) {
  const { w1, b1, w2t, b2, H, D, P, hidden, acc } = net;
  for (let h = 0; h < H; h++) {
    let s = b1[h];
    for (let d = 0; d < D; d++) s += w1[h * D + d] * z[d];
    hidden[h] = s > 0 ? s : 0;
  }
  for (let p = 0; p < P; p++) acc[p] = b2[p];
  for (let h = 0; h < H; h++) {
    const a = hidden[h];
    if (a === 0) continue;
    const row = h * P;
    for (let p = 0; p < P; p++) acc[p] += a * w2t[row + p];
  }
  const out = new Float32Array(P);
  for (let p = 0; p < P; p++) out[p] = 1 / (1 + Math.exp(-acc[p]));
  return out;
}

function fmt(v) { return (v >= 0 ? "+" : "") + v.toFixed(2); }

function makeInstance(root) {
  const inst = { root, z: [], base: null, dirs: [], net: null, renders: 0, pending: false, api: {} };
  inst.canvas = root.querySelector(".le-canvas");
  inst.ctx = inst.canvas.getContext("2d");
  inst.image = inst.ctx.createImageData(28, 28);
  inst.note = root.querySelector(".le-note");
  inst.label = root.querySelector(".le-label");
  inst.dragging = false;  // while a slider is held, Python's (older) point must not overwrite the browser's
  root.addEventListener("pointerdown", (e) => { if (e.target.type === "range") inst.dragging = true; });
  window.addEventListener("pointerup", () => { inst.dragging = false; });
  inst.box = root.querySelector(".le-sliders");
  inst.draw = () => {
    inst.pending = false;
    if (!inst.net) return;
    const px = decode(inst.net, inst.z);
    const d = inst.image.data;
    for (let i = 0; i < px.length; i++) {
      const g = Math.round(px[i] * 255);
      d[4 * i] = g; d[4 * i + 1] = g; d[4 * i + 2] = g; d[4 * i + 3] = 255;
    }
    inst.ctx.putImageData(inst.image, 0, 0);
    inst.renders += 1;
  };
  inst.lastPreview = 0;
  inst.schedule = () => {
    if (!inst.pending) { inst.pending = true; requestAnimationFrame(inst.draw); }
    // Optional: while dragging, send the point to Python at most every previewMs (for the judge's label).
    const now = performance.now();
    if (inst.previewMs > 0 && now - inst.lastPreview >= inst.previewMs) {
      inst.lastPreview = now;
      inst.api.setTriggerValue("preview", inst.z.map(Number));
    }
  };
  inst.showValues = () => {
    inst.zInputs.forEach((el, i) => {
      el.value = String(Math.max(-inst.range, Math.min(inst.range, inst.z[i])));
      inst.zLabels[i].textContent = fmt(inst.z[i]);
    });
  };
  inst.commit = () => inst.api.setTriggerValue("commit", inst.z.map(Number));
  return inst;
}

function buildSliders(inst, data, D) {
  const box = inst.box;
  box.replaceChildren();
  const row = (label, min, max, step, value, cls) => {
    const l = document.createElement("label");
    const input = document.createElement("input");
    const v = document.createElement("span");
    l.textContent = label;
    Object.assign(input, { type: "range", min: String(min), max: String(max), step: String(step) });
    input.value = String(value);
    input.className = cls;
    v.className = "le-val";
    box.append(l, input, v);
    return [input, v];
  };
  inst.range = data.range;
  inst.zInputs = []; inst.zLabels = [];
  for (let i = 0; i < D; i++) {
    const [input, v] = row(`z${i}`, -data.range, data.range, 0.01, 0, "le-z");
    input.dataset.index = String(i);
    input.addEventListener("input", () => {
      inst.z[i] = Number(input.value);
      v.textContent = fmt(inst.z[i]);
      inst.schedule();
    });
    input.addEventListener("change", () => {  // fires once, on release (or a keyboard step)
      inst.dragging = false;
      inst.commit();
    });
    inst.zInputs.push(input); inst.zLabels.push(v);
  }
  inst.dirInputs = [];
  if (data.directions.length) {
    const head = document.createElement("div");
    head.className = "le-head"; head.textContent = "Move along a direction";
    box.append(head);
  }
  data.directions.forEach((dir, k) => {
    const [input, v] = row(dir.label, -data.dir_range, data.dir_range, 0.01, 0, "le-dir");
    input.dataset.index = String(k);
    v.textContent = fmt(0);
    const start = () => { if (inst.base === null) inst.base = inst.z.slice(); };
    input.addEventListener("pointerdown", start);
    input.addEventListener("input", () => {
      start();
      const a = Number(input.value);
      inst.z = inst.base.map((b, i) => b + a * dir.vector[i]);
      v.textContent = fmt(a);
      inst.showValues();
      inst.schedule();
    });
    input.addEventListener("change", () => {  // release: the point stays where it was moved, the slider recentres
      inst.base = null; inst.dragging = false; input.value = "0"; v.textContent = fmt(0);
      inst.commit();
    });
    inst.dirInputs.push(input);
  });
  inst.signature = `${D}|${data.range}|${data.dir_range}|` + JSON.stringify(data.directions);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".le-root");
  let inst = INSTANCES.get(root);
  if (!inst) { inst = makeInstance(root); INSTANCES.set(root, inst); }
  inst.api.setTriggerValue = setTriggerValue;
  inst.previewMs = Number(data.preview_ms) || 0;

  if (data.weights) WEIGHTS.set(data.hash, buildNet(data.weights));
  inst.net = WEIGHTS.get(data.hash) || null;
  if (!inst.net) {
    inst.note.textContent = "loading the decoder…";
    setTriggerValue("need_weights", data.hash);  // e.g. after the browser reloaded the page's scripts
    return;
  }
  inst.note.textContent = data.note || "";
  inst.label.textContent = data.label || "";
  const D = inst.net.D;
  const signature = `${D}|${data.range}|${data.dir_range}|` + JSON.stringify(data.directions);
  if (inst.signature !== signature) buildSliders(inst, data, D);
  if (inst.base === null && !inst.dragging) {  // not in the middle of a drag: take Python's point
    inst.z = Array.from({ length: D }, (_, i) => Number(data.z[i] ?? 0));
    inst.showValues();
  }
  inst.draw();

  const api = {
    decode: (z) => Array.from(decode(inst.net, z)),
    renders: () => inst.renders,
    ready: () => inst.net !== null,
    z: () => inst.z.slice(),
  };
  globalThis.__latentDecoders = globalThis.__latentDecoders || {};
  globalThis.__latentDecoders[data.instance] = api;
  globalThis.__latentDecode = api.decode;
}
