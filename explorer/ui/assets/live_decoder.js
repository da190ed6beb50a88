// The live generator's browser side (explorer/ui/live_decoder.py): an st.components.v2 module that decodes the
// VAE's latent in the browser on every slider input, at most once per animation frame, and reports the point
// back to Python on release (a "commit" trigger) or, optionally, every previewMs while dragging ("preview").
const WEIGHTS = (globalThis.__latentWeightCache = globalThis.__latentWeightCache || new Map());
const PLACES = (globalThis.__latentPlaceCache = globalThis.__latentPlaceCache || new Map());
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

// A latent point z (D numbers) -> its map position [x, y], as explorer.projection.place: the k nearest test
// codes (Euclidean), weighted by 1 / (distance + 1e-6).
function place(p, z, k) {
  const { codes, coords, N, D } = p;
  const best = new Float64Array(k).fill(Infinity), idx = new Int32Array(k).fill(-1);
  for (let n = 0; n < N; n++) {
    let d2 = 0;
    for (let d = 0; d < D; d++) { const t = codes[n * D + d] - z[d]; d2 += t * t; }
    if (d2 >= best[k - 1]) continue;
    let j = k - 1;
    while (j > 0 && best[j - 1] > d2) { best[j] = best[j - 1]; idx[j] = idx[j - 1]; j--; }
    best[j] = d2; idx[j] = n;
  }
  let x = 0, y = 0, total = 0;
  for (let j = 0; j < k; j++) {
    const w = 1 / (Math.sqrt(best[j]) + 1e-6);
    x += w * coords[2 * idx[j]]; y += w * coords[2 * idx[j] + 1]; total += w;
  }
  return [x / total, y / total];
}

// While a slider moves, the map's marker follows as a DOM star laid over the Plotly chart (the chart with Streamlit
// key `chart`, its trace named `trace`), placed with Plotly's own axes. Restyling the trace instead would redraw
// all 10,000 WebGL dots at every frame (~150 ms each in a software-GL browser). The trace's own star is faded
// meanwhile; after the release the page redraws the map with the star where the overlay was, and the overlay goes.
const STAR_SVG = '<svg style="display:block" width="24" height="24" viewBox="-12 -12 24 24"><path d="M0,-10.5 L2.6,-3.6 L10,-3.3 ' +
  'L4.2,1.4 L6.2,8.6 L0,4.5 L-6.2,8.6 L-4.2,1.4 L-10,-3.3 L-2.6,-3.6 Z" fill="#111111" stroke="white" ' +
  'stroke-width="1.5"/></svg>';

function chartOf(inst) {
  const gd = document.querySelector(`.st-key-${inst.placesChart} .js-plotly-plot`);
  if (!gd || !gd.data || !gd._fullLayout || !gd._fullLayout.xaxis) return null;
  const i = gd.data.findIndex((t) => t.name === inst.placesTrace);
  return i < 0 ? null : { gd, i };
}

function showMarker(inst, xy) {
  const c = chartOf(inst);
  if (!c) return false;
  const { gd, i } = c, xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  let el = inst.marker;
  if (!el || !gd.contains(el)) {
    el = document.createElement("div");
    el.className = "le-map-marker";
    el.innerHTML = STAR_SVG;
    Object.assign(el.style, { position: "absolute", left: "0", top: "0", width: "24px", height: "24px",
      lineHeight: "0", pointerEvents: "none", zIndex: "10" });
    if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
    gd.appendChild(el);
    inst.marker = el;
  }
  if (inst.faded !== gd && globalThis.Plotly) {  // once a drag: the trace's star stays, faded, where it was
    globalThis.Plotly.restyle(gd, { "marker.opacity": 0.3 }, [i]);
    inst.faded = gd;
  }
  const px = xa._offset + xa.l2p(xy[0]), py = ya._offset + ya.l2p(xy[1]);
  const inside = px >= xa._offset && px <= xa._offset + xa._length && py >= ya._offset && py <= ya._offset + ya._length;
  el.style.display = inside ? "block" : "none";  // zoomed in: off the plot area, no star
  el.style.transform = `translate(${px - 12}px, ${py - 12}px)`;
  el.dataset.x = String(xy[0]);
  el.dataset.y = String(xy[1]);
  if (!gd.__leAfterplot && gd.on) {  // the server's redraw: drop the overlay once the trace shows its point
    gd.__leAfterplot = true;
    gd.on("plotly_afterplot", () => { for (const f of gd.__leSettle || []) f(); });
  }
  gd.__leSettle = [() => settleMarker(inst)];
  return true;
}

// After a release: once the server has redrawn the map (its trace no longer faded), or at once where the trace's
// star already stands where the overlay is (a release that did not move the point), the overlay goes.
function settleMarker(inst) {
  const el = inst.marker, c = chartOf(inst);
  if (!el || !c || inst.dragging || inst.base !== null) return;
  const t = c.gd.data[c.i];
  const redrawn = !(t.marker && t.marker.opacity < 1);
  const same = Math.abs(t.x[0] - Number(el.dataset.x)) < 1e-3 && Math.abs(t.y[0] - Number(el.dataset.y)) < 1e-3;
  if (!redrawn && !same) return;  // the server's redraw is still to come
  if (!redrawn && globalThis.Plotly) globalThis.Plotly.restyle(c.gd, { "marker.opacity": 1 }, [c.i]);
  inst.faded = null;
  el.remove();
  inst.marker = null;
}

function fmt(v) { return (v >= 0 ? "+" : "") + v.toFixed(2); }

function makeInstance(root) {
  const inst = { root, z: [], base: null, dirs: [], net: null, renders: 0, pending: false, api: {}, moves: 0 };
  inst.places = null; inst.placed = null;
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
    // While a slider moves, the map's marker follows (after a release the page redraws the map itself).
    if (inst.places && (inst.dragging || inst.base !== null)) {
      inst.placed = place(inst.places, inst.z, inst.placesK);
      if (showMarker(inst, inst.placed)) inst.moves += 1;
    }
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
  inst.commit = () => {
    inst.api.setTriggerValue("commit", inst.z.map(Number));
    if (inst.marker) setTimeout(() => settleMarker(inst), 0);  // released where the map already has its star
  };
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
    if (cls === "le-dir") l.className = "le-dir-label";
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
      inst.dragging = true;  // a keyboard step too: its marker moves like a drag's
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
  const pl = data.places;
  if (pl && pl.arrays) {
    const codes = unpack(pl.arrays.codes), coords = unpack(pl.arrays.coords);
    const [N, Dc] = pl.arrays.codes.shape;
    PLACES.set(pl.hash, { codes, coords, N, D: Dc });
  }
  inst.places = pl ? PLACES.get(pl.hash) || null : null;
  if (pl && !inst.places) {
    setTriggerValue("need_weights", data.hash);  // the codes went missing with the scripts: send both again
  }
  if (pl) { inst.placesChart = pl.chart; inst.placesTrace = pl.trace; inst.placesK = pl.k; }
  inst.note.textContent = data.note || "";
  inst.label.textContent = data.label || "";
  inst.label.title = data.label || "";  // the box has a fixed size: the full text on hover
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
    place: (z) => (inst.places ? place(inst.places, z, inst.placesK) : null),
    moves: () => inst.moves,
    z: () => inst.z.slice(),
  };
  globalThis.__latentDecoders = globalThis.__latentDecoders || {};
  globalThis.__latentDecoders[data.instance] = api;
  globalThis.__latentDecode = api.decode;
}
