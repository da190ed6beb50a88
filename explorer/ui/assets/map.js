// The latent map's browser side (explorer/ui/map_component.py): an st.components.v2 module that draws the map's
// points with a plain-canvas rasteriser (each point written as a small square straight into an ImageData buffer:
// fast in software-rendered Chromium, where WebGL is emulated), and does pan, zoom, hover (with thumbnails from
// sprite-atlas tiles), click, box and lasso selection, colouring and filtering in the browser. Only a selection
// (item ids) goes back to Python, as the "select" trigger; thumbnail tiles are asked for with the "tiles" trigger
// after the first paint, and the points again with "need_points" if the browser lost them.
const POINTS = (globalThis.__latentMapPoints = globalThis.__latentMapPoints || new Map());
const TILES = (globalThis.__latentMapTiles = globalThis.__latentMapTiles || new Map());
const CLUSTERS = (globalThis.__latentMapClusters = globalThis.__latentMapClusters || new Map());  // by atlas hash
const INSTANCES = new WeakMap();
const GRID = 128;  // hover index: cells per side over the map's box
const DIM = 0.22;  // unselected points while a selection exists: this much colour over white
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

function b64bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 5.960464477539063e-8;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * Math.pow(2, e - 15);
}

function hexRgb(h) { const v = parseInt(h.slice(1), 16); return [(v >> 16) & 255, (v >> 8) & 255, v & 255]; }
// ABGR as the canvas's little-endian Uint32 view of RGBA bytes; `a`: how much of the colour over white.
function packColor([r, g, b], a = 1) {
  const m = (c) => Math.round(255 - a * (255 - c));
  return (0xff << 24) | (m(b) << 16) | (m(g) << 8) | m(r);
}

function unpackPoints(p) {
  const n = p.n, q = new Uint16Array(b64bytes(p.xy).buffer);
  const [x0, x1, y0, y1] = p.bounds;
  const x = new Float32Array(n), y = new Float32Array(n);
  for (let i = 0; i < n; i++) { x[i] = x0 + (q[2 * i] / 65535) * (x1 - x0); y[i] = y0 + (q[2 * i + 1] / 65535) * (y1 - y0); }
  const label = p.label ? b64bytes(p.label) : null;
  let error = null;
  if (p.error) {
    const h = new Uint16Array(b64bytes(p.error).buffer);
    error = new Float32Array(n);
    for (let i = 0; i < n; i++) error[i] = halfToFloat(h[i]);
  }
  // Hover index: points bucketed by cell of a GRID x GRID grid over the box (counting sort).
  const cell = new Int32Array(n), start = new Int32Array(GRID * GRID + 1), order = new Int32Array(n);
  const gx = (v) => Math.min(GRID - 1, Math.max(0, Math.floor(((v - x0) / (x1 - x0)) * GRID)));
  const gy = (v) => Math.min(GRID - 1, Math.max(0, Math.floor(((v - y0) / (y1 - y0)) * GRID)));
  for (let i = 0; i < n; i++) { cell[i] = gy(y[i]) * GRID + gx(x[i]); start[cell[i] + 1]++; }
  for (let c = 0; c < GRID * GRID; c++) start[c + 1] += start[c];
  const fill = start.slice(0, GRID * GRID);
  for (let i = 0; i < n; i++) order[fill[cell[i]]++] = i;
  let emax = 0;
  if (error) { const s = Array.from(error.filter(Number.isFinite)).sort((a, b) => a - b); emax = s.length ? s[Math.floor(0.99 * (s.length - 1))] : 0; }
  return { n, x, y, label, error, bounds: p.bounds, start, order, gx, gy, emax: emax || 1 };
}

function makeInstance(root) {
  const q = (s) => root.querySelector(s);
  const inst = {
    root, pts: null, hash: null, color: "class", classFilter: new Set(), errRange: [null, null], clusters: null,
    selected: null, selectedKey: "", view: null, mode: "pan", focused: false, hover: -1, marks: [], frames: 0,
    tiles: null, atlas: null, api: {}, search: -1, lastPaint: 0, hoverShown: 0, requested: new Set(),
  };
  inst.wrap = q(".lm-plot");
  inst.canvas = q(".lm-canvas");
  inst.overlay = q(".lm-overlay");
  inst.ctx = inst.canvas.getContext("2d");
  inst.octx = inst.overlay.getContext("2d");
  inst.legend = q(".lm-legend");
  inst.card = q(".lm-card");
  inst.msg = q(".lm-msg");
  inst.colorSel = q(".lm-color");
  inst.emin = q(".lm-emin"); inst.emaxIn = q(".lm-emax");
  inst.searchIn = q(".lm-search");
  inst.status = q(".lm-status");
  bindEvents(inst);
  new ResizeObserver(() => resize(inst)).observe(inst.wrap);
  return inst;
}

function resize(inst) {
  const w = Math.max(50, Math.floor(inst.wrap.clientWidth)), h = Math.max(50, Math.floor(inst.wrap.clientHeight));
  if (inst.canvas.width === w && inst.canvas.height === h) return;
  for (const c of [inst.canvas, inst.overlay]) { c.width = w; c.height = h; }
  inst.image = inst.ctx.createImageData(w, h);
  inst.buf = new Uint32Array(inst.image.data.buffer);
  if (inst.pts && !inst.view) fit(inst);
  paint(inst);
}

// The view: data (x, y) -> pixel (ox + s * x, oy - s * y): equal scales, y up.
function fit(inst) {
  const [x0, x1, y0, y1] = inst.pts.bounds, w = inst.canvas.width, h = inst.canvas.height, pad = 12;
  const s = Math.min((w - 2 * pad) / (x1 - x0 || 1), (h - 2 * pad) / (y1 - y0 || 1));
  inst.view = { s, ox: w / 2 - s * (x0 + x1) / 2, oy: h / 2 + s * (y0 + y1) / 2 };
  inst.fitS = s;
}
const toPx = (v, x, y) => [v.ox + v.s * x, v.oy - v.s * y];
const toData = (v, px, py) => [(px - v.ox) / v.s, (v.oy - py) / v.s];

function palette(inst) {
  const d = inst.data, dim = inst.selected !== null;
  const cls = (d.colors || []).map(hexRgb);
  const vir = VIRIDIS.map(hexRgb);
  const make = (a) => ({ cls: cls.map((c) => packColor(c, a)), vir: vir.map((c) => packColor(c, a)), grey: packColor([110, 110, 110], a) });
  return { full: make(0.85), dim: make(dim ? DIM : 0.85) };
}

function colorOf(inst, pal, i) {
  const p = inst.pts;
  if (inst.color === "error" && p.error) {
    const t = Math.max(0, Math.min(0.9999, p.error[i] / p.emax));
    return Number.isFinite(t) ? pal.vir[Math.floor(t * 10)] : pal.grey;
  }
  if (inst.color === "cluster" && inst.clusters) return pal.cls[inst.clusters[i] % pal.cls.length];
  if (p.label) return pal.cls[p.label[i] % pal.cls.length];
  return pal.cls[0];
}

// Which points the filters leave: class (or cluster) toggles off in the legend, and the error range.
function visible(inst) {
  const p = inst.pts, n = p.n, out = new Uint8Array(n);
  const groups = inst.color === "cluster" && inst.clusters ? inst.clusters : p.label;
  const [lo, hi] = inst.errRange, useErr = p.error && (lo !== null || hi !== null);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (groups && inst.classFilter.size && inst.classFilter.has(groups[i])) continue;
    if (useErr) { const e = p.error[i]; if ((lo !== null && !(e >= lo)) || (hi !== null && !(e <= hi))) continue; }
    out[i] = 1; count++;
  }
  inst.visibleCount = count;
  return out;
}

function paint(inst) {
  if (!inst.pts || !inst.buf || !inst.view) return;
  const t0 = performance.now();
  const { buf, canvas } = inst, w = canvas.width, h = canvas.height, p = inst.pts, v = inst.view;
  buf.fill(0xffffffff);
  const pal = palette(inst), vis = inst.vis || (inst.vis = visible(inst));
  const zoom = v.s / inst.fitS;
  const base = p.n > 300000 ? 1 : p.n > 30000 ? 2 : 3;
  const size = Math.min(6, base + (zoom > 4 ? 2 : zoom > 1.8 ? 1 : 0));
  const sel = inst.selected;
  const draw = (i, c) => {
    const px = (v.ox + v.s * p.x[i]) | 0, py = (v.oy - v.s * p.y[i]) | 0;
    if (px < 0 || py < 0 || px + size > w || py + size > h) return;
    let o = py * w + px;
    for (let r = 0; r < size; r++, o += w) for (let k = 0; k < size; k++) buf[o + k] = c;
  };
  if (sel === null) {
    for (let i = 0; i < p.n; i++) if (vis[i]) draw(i, colorOf(inst, pal.full, i));
  } else {
    for (let i = 0; i < p.n; i++) if (vis[i] && !sel[i]) draw(i, colorOf(inst, pal.dim, i));
    for (let i = 0; i < p.n; i++) if (vis[i] && sel[i]) draw(i, colorOf(inst, pal.full, i));
  }
  inst.ctx.putImageData(inst.image, 0, 0);
  drawOverlay(inst);
  status(inst);
  inst.frames++;
  inst.lastPaint = performance.now() - t0;
}

function star(ctx, x, y, r, fill) {
  ctx.beginPath();
  for (let k = 0; k < 10; k++) {
    const a = -Math.PI / 2 + (k * Math.PI) / 5, rr = k % 2 ? r * 0.45 : r;
    ctx[k ? "lineTo" : "moveTo"](x + rr * Math.cos(a), y + rr * Math.sin(a));
  }
  ctx.closePath(); ctx.fillStyle = fill; ctx.fill(); ctx.lineWidth = 1.5; ctx.strokeStyle = "white"; ctx.stroke();
}

function drawOverlay(inst) {
  const ctx = inst.octx, v = inst.view, p = inst.pts;
  ctx.clearRect(0, 0, inst.overlay.width, inst.overlay.height);
  if (!p || !v) return;
  for (const m of inst.marks) { const [x, y] = toPx(v, m.x, m.y); star(ctx, x, y, 11, "#111111"); }
  const few = inst.selectedIds && inst.selectedIds.length <= 30 ? inst.selectedIds : [];
  for (const i of few) {  // a handful selected: each ringed, so a clicked dot is easy to find again
    const [x, y] = toPx(v, p.x[i], p.y[i]);
    ctx.beginPath(); ctx.arc(x + 1, y + 1, 5, 0, 2 * Math.PI); ctx.lineWidth = 1.5; ctx.strokeStyle = "#4f46e5"; ctx.stroke();
  }
  for (const i of [inst.hover, inst.search]) {
    if (i < 0) continue;
    const [x, y] = toPx(v, p.x[i], p.y[i]);
    ctx.beginPath(); ctx.arc(x + 1, y + 1, i === inst.search ? 9 : 6, 0, 2 * Math.PI);
    ctx.lineWidth = 2; ctx.strokeStyle = "#111"; ctx.stroke();
  }
  const path = inst.drag && inst.drag.path;
  if (path && path.length > 1) {
    ctx.beginPath(); ctx.moveTo(path[0][0], path[0][1]);
    if (inst.drag.mode === "box") { const [a, b] = [path[0], path[path.length - 1]]; ctx.rect(a[0], a[1], b[0] - a[0], b[1] - a[1]); }
    else { for (const [x, y] of path) ctx.lineTo(x, y); ctx.closePath(); }
    ctx.fillStyle = "rgba(79,70,229,0.08)"; ctx.fill(); ctx.setLineDash([4, 3]); ctx.strokeStyle = "#4f46e5"; ctx.lineWidth = 1.5; ctx.stroke(); ctx.setLineDash([]);
  }
}

let rafPending = new Set();
function schedule(inst) {
  if (rafPending.has(inst)) return;
  rafPending.add(inst);
  requestAnimationFrame(() => { rafPending.delete(inst); paint(inst); });
}

// The visible point nearest pixel (px, py), within `r` pixels; -1 if none.
function nearest(inst, px, py, r = 8) {
  const p = inst.pts, v = inst.view;
  if (!p || !v) return -1;
  const [dx, dy] = toData(v, px, py), rd = r / v.s;
  const cx0 = p.gx(dx - rd), cx1 = p.gx(dx + rd), cy0 = p.gy(dy - rd), cy1 = p.gy(dy + rd);
  let best = -1, bd = rd * rd;
  const vis = inst.vis;
  for (let cy = cy0; cy <= cy1; cy++) for (let cx = cx0; cx <= cx1; cx++) {
    const c = cy * GRID + cx;
    for (let k = p.start[c]; k < p.start[c + 1]; k++) {
      const i = p.order[k];
      if (vis && !vis[i]) continue;
      const d = (p.x[i] - dx) ** 2 + (p.y[i] - dy) ** 2;
      if (d < bd) { bd = d; best = i; }
    }
  }
  return best;
}

function inPolygon(poly, x, y) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

// The points inside a box or lasso drawn in pixels -> their ids (the row index is the item id).
function pointsInside(inst, mode, path) {
  const p = inst.pts, v = inst.view, vis = inst.vis, ids = [];
  const poly = path.map(([x, y]) => toData(v, x, y));
  let xs = poly.map((a) => a[0]), ys = poly.map((a) => a[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  for (let i = 0; i < p.n; i++) {
    if (!vis[i]) continue;
    const x = p.x[i], y = p.y[i];
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    if (mode === "box" || inPolygon(poly, x, y)) ids.push(i);
  }
  return ids;
}

function setSelection(inst, ids, send) {
  const p = inst.pts;
  if (!ids || !ids.length) { inst.selected = null; inst.selectedIds = []; }
  else {
    inst.selected = new Uint8Array(p.n);
    for (const i of ids) if (i >= 0 && i < p.n) inst.selected[i] = 1;
    inst.selectedIds = ids.filter((i) => i >= 0 && i < p.n);
  }
  inst.selectedKey = idsKey(inst.selectedIds);
  legend(inst);
  schedule(inst);
  if (send) inst.api.setTriggerValue("select", { ids: inst.selectedIds, color: inst.color });
}
function idsKey(ids) { return ids.length + ":" + ids.slice(0, 50).join(",") + ":" + ids.slice(-50).join(","); }

function note(inst, text) { inst.msg.textContent = text || ""; inst.msg.style.display = text ? "block" : "none"; }

function legend(inst) {
  const p = inst.pts, d = inst.data;
  if (!p) return;
  inst.legend.replaceChildren();
  if (inst.color === "error" && p.error) {
    const bar = document.createElement("div");
    bar.className = "lm-bar";
    bar.style.background = `linear-gradient(to right, ${VIRIDIS.join(",")})`;
    const lab = document.createElement("span");
    lab.className = "lm-barlab";
    lab.textContent = `reconstruction MSE 0 – ${p.emax.toPrecision(2)}+`;
    inst.legend.append(bar, lab);
  } else {
    const groups = inst.color === "cluster" && inst.clusters ? inst.clusters : p.label;
    if (!groups) { const s = document.createElement("span"); s.textContent = `${p.n.toLocaleString("en")} items, no labels`; inst.legend.append(s); }
    else {
      const k = inst.color === "cluster" ? Math.max(...groups) + 1 : d.class_names.length;
      const all = new Int32Array(k), chosen = new Int32Array(k);
      for (let i = 0; i < p.n; i++) all[groups[i]]++;
      for (const i of inst.selectedIds || []) chosen[groups[i]]++;
      for (let c = 0; c < k; c++) {
        if (!all[c]) continue;
        const b = document.createElement("button");
        b.className = "lm-item" + (inst.classFilter.has(c) ? " lm-off" : "");
        b.dataset.group = String(c);
        b.title = "Click to hide or show";
        const sw = document.createElement("i");
        sw.style.background = d.colors[c % d.colors.length];
        const name = inst.color === "cluster" ? `cluster ${c + 1}` : d.class_names[c];
        const count = inst.selected ? `${chosen[c].toLocaleString("en")}/${all[c].toLocaleString("en")}` : all[c].toLocaleString("en");
        b.append(sw, document.createTextNode(`${name} `));
        const n = document.createElement("span"); n.className = "lm-count"; n.textContent = count; b.append(n);
        b.addEventListener("click", () => {
          inst.classFilter.has(c) ? inst.classFilter.delete(c) : inst.classFilter.add(c);
          refilter(inst);
        });
        inst.legend.append(b);
      }
    }
  }
}

function refilter(inst) {
  inst.vis = visible(inst);
  legend(inst);
  note(inst, inst.visibleCount === 0 ? "No point passes the filters: show a class again or widen the error range." : "");
  schedule(inst);
}

function status(inst) {
  const p = inst.pts;
  if (!p) return;
  const sel = inst.selectedIds && inst.selectedIds.length ? ` · ${inst.selectedIds.length.toLocaleString("en")} selected` : "";
  const shown = inst.visibleCount !== p.n ? `${inst.visibleCount.toLocaleString("en")} of ` : "";
  inst.status.textContent = `${shown}${p.n.toLocaleString("en")} points${sel}`;
}

// ---------------------------------------------------------------------------------------- thumbnails
function tileImage(inst, kind, t) {
  const store = inst.atlas && TILES.get(inst.atlas.hash);
  return store ? store[kind].get(t) : undefined;
}

// Whether this map is still the page on show: an ask (points, tiles) is a rerun of the page that sent it, so one
// sent after the viewer clicked to another page (the URL changes at once) would run the map page again over the new
// one, and the click would be lost.
// Streamlit folds a rerun asked for while another is pending into one, and the newer one's page wins: an ask sent
// just after a click on a page link (before the URL changes) would take the viewer back to the map. So nothing is
// asked for in the moments after a click on any link.
const NAV_QUIET_MS = 3000;
if (!globalThis.__latentMapNavHook) {
  globalThis.__latentMapNavHook = true;
  globalThis.__latentMapNavAt = -Infinity;
  document.addEventListener("click", (e) => {
    if (e.target instanceof Element && e.target.closest("a[href]")) globalThis.__latentMapNavAt = performance.now();
  }, true);
}

function onShow(inst) {
  return inst.root.isConnected && location.pathname === inst.path
    && performance.now() - globalThis.__latentMapNavAt > NAV_QUIET_MS;
}

function wantTiles(inst, first) {
  const a = inst.atlas;
  if (!a || inst.tileRequestOpen || !onShow(inst)) return;
  const store = TILES.get(a.hash);
  const missing = [];
  const order = [];
  if (first >= 0) order.push(Math.floor(first / (a.side * a.side)));
  for (let t = 0; t < a.tiles; t++) order.push(t);
  for (const t of order) if (!store.orig.has(t) && !store.failed.has(t) && !missing.includes(t)) missing.push(t);
  if (!missing.length) return;
  inst.tileRequestOpen = true;
  inst.tileAsks = (inst.tileAsks || 0) + 1;  // a fresh value each time: a repeated ask is still an ask
  const ask = inst.tileAsks;
  inst.api.setTriggerValue("tiles", { hash: a.hash, tiles: missing.slice(0, a.batch), ask });
  // No answer in a while (the run was replaced by another): ask again, waiting twice as long each time, so that a
  // slow answer (a large atlas loading) is never cut off by the next ask.
  const wait = inst.tileWait || 8000;
  setTimeout(() => {
    if (inst.tileRequestOpen && inst.tileAsks === ask) {
      inst.tileRequestOpen = false; inst.tileWait = Math.min(2 * wait, 120000); wantTiles(inst, inst.hover);
    }
  }, wait);
}

function takeTiles(inst, tiles) {
  const a = inst.atlas;
  if (!a) return;
  if (!TILES.has(a.hash)) TILES.set(a.hash, { orig: new Map(), recon: new Map(), failed: new Set() });
  const store = TILES.get(a.hash);
  if (!tiles || tiles.hash !== a.hash) return;
  inst.tileRequestOpen = false;
  if (tiles.pending) {  // the server is making the thumbnails: ask again in a moment
    inst.tilesPending = true;
    setTimeout(() => wantTiles(inst, inst.hover), 2000);
    return;
  }
  inst.tilesPending = false;
  inst.tileWait = 8000;
  let pending = 0;
  const done = () => { if (--pending === 0) { showCard(inst); setTimeout(() => wantTiles(inst, -1), 50); } };
  for (const [kind, list] of [["orig", tiles.orig], ["recon", tiles.recon]]) {
    for (const [t, b64] of Object.entries(list || {})) {
      if (b64 === null) { store.failed.add(Number(t)); continue; }
      const img = new Image();
      pending++;
      img.onload = () => { store[kind].set(Number(t), img); done(); };
      img.onerror = () => { store.failed.add(Number(t)); done(); };
      img.src = "data:image/png;base64," + b64;
    }
  }
  if (!pending) setTimeout(() => wantTiles(inst, -1), 50);
}

function showCard(inst, ev) {
  const i = inst.hover, card = inst.card, p = inst.pts, d = inst.data;
  if (i < 0 || !p) { card.style.display = "none"; return; }
  const t0 = performance.now();
  const a = inst.atlas;
  card.querySelector(".lm-card-id").textContent = `item ${i}` + (p.label ? ` · ${d.class_names[p.label[i]] ?? ""}` : "");
  card.querySelector(".lm-card-err").textContent = p.error && Number.isFinite(p.error[i]) ? `MSE ${p.error[i].toFixed(4)}` : "";
  const thumbs = card.querySelector(".lm-thumbs");
  let shown = false, wait = "";
  if (a) {
    const t = Math.floor(i / (a.side * a.side)), k = i % (a.side * a.side);
    const [h, w] = a.item_shape.length === 3 ? a.item_shape.slice(1) : a.item_shape;
    const sx = (k % a.side) * w, sy = Math.floor(k / a.side) * h;
    const store = TILES.get(a.hash);
    for (const [kind, c] of [["orig", thumbs.children[0]], ["recon", thumbs.children[1]]]) {
      const img = tileImage(inst, kind, t), ctx = c.getContext("2d");
      c.style.display = kind === "recon" && !a.has_recon ? "none" : "block";
      ctx.imageSmoothingEnabled = false;
      ctx.clearRect(0, 0, c.width, c.height);
      if (img) { ctx.drawImage(img, sx, sy, w, h, 0, 0, c.width, c.height); shown = true; }
    }
    if (!shown) wait = store && store.failed.has(t) ? "thumbnail unavailable"
      : inst.tilesPending ? "thumbnails are being made (once, for this map)…" : "thumbnail loading…";
    if (!shown && !(store && store.failed.has(t))) wantTiles(inst, i);
  } else wait = inst.data.atlas_note || "no thumbnails for this map";
  thumbs.style.display = shown ? "flex" : "none";
  card.querySelector(".lm-card-wait").textContent = wait;
  card.style.display = "block";
  if (ev) {
    const W = inst.wrap.clientWidth, x = ev.offsetX + 16, y = ev.offsetY + 16;
    card.style.left = `${x + 190 > W ? ev.offsetX - 196 : x}px`;
    card.style.top = `${Math.min(y, inst.wrap.clientHeight - 170)}px`;
  }
  card.dataset.item = String(i);
  card.dataset.thumb = shown ? "1" : "0";
  inst.hoverShown = performance.now() - t0;
}

// ---------------------------------------------------------------------------------------- events
function bindEvents(inst) {
  const el = inst.overlay;
  el.tabIndex = 0;
  const pos = (e) => { const r = el.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  el.addEventListener("pointerdown", (e) => {
    if (!inst.pts) return;
    el.focus({ preventScroll: true });
    el.setPointerCapture(e.pointerId);
    const [x, y] = pos(e);
    inst.drag = { mode: e.shiftKey ? "box" : inst.mode, x, y, path: [[x, y]], view: { ...inst.view }, moved: false };
  });
  el.addEventListener("pointermove", (e) => {
    const [x, y] = pos(e);
    const d = inst.drag;
    if (d) {
      if (Math.abs(x - d.x) + Math.abs(y - d.y) > 3) d.moved = true;
      if (d.mode === "pan") { inst.view = { ...d.view, ox: d.view.ox + x - d.x, oy: d.view.oy + y - d.y }; schedule(inst); }
      else { d.path.push([x, y]); drawOverlay(inst); }
      return;
    }
    const i = nearest(inst, x, y);
    if (i !== inst.hover) { inst.hover = i; drawOverlay(inst); }
    showCard(inst, { offsetX: x, offsetY: y });
  });
  el.addEventListener("pointerleave", () => { if (!inst.drag) { inst.hover = -1; showCard(inst); drawOverlay(inst); } });
  el.addEventListener("pointerup", (e) => {
    const d = inst.drag; inst.drag = null;
    if (!d) return;
    const [x, y] = pos(e);
    if (!d.moved) {  // a click: the point under it, or nothing
      const i = nearest(inst, x, y);
      if (i >= 0) { note(inst, ""); setSelection(inst, [i], true); }
      drawOverlay(inst);
      return;
    }
    if (d.mode === "box" || d.mode === "lasso") {
      d.path.push([x, y]);
      const path = d.mode === "box" ? [[d.x, d.y], [x, d.y], [x, y], [d.x, y]] : d.path;
      const ids = pointsInside(inst, d.mode, path);
      drawOverlay(inst);
      if (!ids.length) { note(inst, "No points inside that selection: the selection is unchanged. Draw around some dots."); return; }
      note(inst, "");
      setSelection(inst, ids, true);
    }
  });
  el.addEventListener("dblclick", () => { inst.view = null; fit(inst); if (inst.selectedIds && inst.selectedIds.length) setSelection(inst, [], true); schedule(inst); });
  el.addEventListener("focus", () => { inst.focused = true; inst.wrap.classList.add("lm-focused"); });
  el.addEventListener("blur", () => { inst.focused = false; inst.wrap.classList.remove("lm-focused"); });
  // The wheel scrolls the page; it zooms the map only while the map has focus (after a click on it) or with a
  // modifier key held, as map widgets do.
  el.addEventListener("wheel", (e) => {
    if (!inst.view || !(inst.focused || e.ctrlKey || e.metaKey || e.altKey || e.shiftKey)) return;
    e.preventDefault();
    const [x, y] = pos(e);
    zoomAt(inst, x, y, Math.exp(-e.deltaY * 0.002));
  }, { passive: false });
  const q = (s) => inst.root.querySelector(s);
  for (const b of inst.root.querySelectorAll(".lm-mode")) b.addEventListener("click", () => {
    inst.mode = b.dataset.mode;
    for (const o of inst.root.querySelectorAll(".lm-mode")) o.classList.toggle("lm-on", o === b);
  });
  q(".lm-zin").addEventListener("click", () => zoomAt(inst, inst.canvas.width / 2, inst.canvas.height / 2, 1.5));
  q(".lm-zout").addEventListener("click", () => zoomAt(inst, inst.canvas.width / 2, inst.canvas.height / 2, 1 / 1.5));
  q(".lm-reset").addEventListener("click", () => { fit(inst); schedule(inst); });
  q(".lm-png").addEventListener("click", () => {
    const a = document.createElement("a");
    a.href = inst.canvas.toDataURL("image/png"); a.download = `latent-map-${inst.data.name || "map"}.png`; a.click();
  });
  inst.colorSel.addEventListener("change", () => {
    inst.color = inst.colorSel.value; inst.classFilter.clear(); refilter(inst);
    if (inst.selectedIds && inst.selectedIds.length) inst.api.setTriggerValue("color", inst.color);
  });
  const range = () => {
    const f = (el) => (el.value.trim() === "" || !Number.isFinite(Number(el.value)) ? null : Number(el.value));
    inst.errRange = [f(inst.emin), f(inst.emaxIn)];
    refilter(inst);
  };
  inst.emin.addEventListener("change", range); inst.emaxIn.addEventListener("change", range);
  inst.searchIn.addEventListener("keydown", (e) => { if (e.key === "Enter") search(inst, inst.searchIn.value); });
  q(".lm-go").addEventListener("click", () => search(inst, inst.searchIn.value));
}

function zoomAt(inst, x, y, f) {
  const v = inst.view;
  const s = Math.max(inst.fitS * 0.5, Math.min(inst.fitS * 400, v.s * f));
  const k = s / v.s;
  inst.view = { s, ox: x - k * (x - v.ox), oy: y - k * (y - v.oy) };
  schedule(inst);
}

function search(inst, text) {
  const p = inst.pts, id = Number(String(text).trim());
  if (!p) return;
  if (!Number.isInteger(id) || id < 0 || id >= p.n) {
    note(inst, `There is no item ${String(text).trim() || "(empty)"} on this map: ids run from 0 to ${(p.n - 1).toLocaleString("en")}.`);
    inst.search = -1; drawOverlay(inst); return false;
  }
  note(inst, inst.vis[id] ? "" : `Item ${id} is hidden by the filters; it is selected all the same.`);
  inst.search = id;
  const v = inst.view, [px, py] = toPx(v, p.x[id], p.y[id]);
  inst.view = { ...v, ox: v.ox + inst.canvas.width / 2 - px, oy: v.oy + inst.canvas.height / 2 - py };
  setSelection(inst, [id], true);
  return true;
}

function takePoints(inst, data) {
  if (data.points) {
    POINTS.set(data.hash, unpackPoints(data.points));
    while (POINTS.size > 4) POINTS.delete(POINTS.keys().next().value);  // a few maps per tab: memory stays bounded
  }
  const pts = POINTS.get(data.hash) || null;
  if (!pts) {
    if (onShow(inst)) inst.api.setTriggerValue("need_points", data.hash);  // not once the viewer has moved on
    note(inst, "loading the map…");
    return false;
  }
  if (inst.pts !== pts) {
    inst.pts = pts; inst.view = null; inst.hover = -1; inst.search = -1;
    inst.classFilter.clear(); inst.selected = null; inst.selectedIds = []; inst.selectedKey = "";
  }
  if (data.clusters && data.atlas) CLUSTERS.set(data.atlas.hash, b64bytes(data.clusters));
  inst.clusters = (data.atlas && CLUSTERS.get(data.atlas.hash)) || null;
  if (inst.clusters && inst.clusters.length !== pts.n) inst.clusters = null;
  return true;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".lm-root");
  let inst = INSTANCES.get(root);
  if (!inst) {
    inst = makeInstance(root);
    inst.path = location.pathname;  // the page it was first drawn on (see onShow)
    INSTANCES.set(root, inst);
  }
  inst.api.setTriggerValue = setTriggerValue;
  inst.data = data;
  if (!takePoints(inst, data)) return;
  if (data.height) inst.wrap.style.height = `${data.height}px`;
  // Colour modes offered: the ones with data
  const modes = (data.modes || ["class"]).filter((m) => m !== "cluster" || inst.clusters);
  if (inst.colorSel.dataset.modes !== modes.join()) {
    inst.colorSel.replaceChildren(...modes.map((m) => Object.assign(document.createElement("option"), { value: m, textContent: { class: "class", error: "reconstruction error", cluster: "cluster (k-means)" }[m] || m })));
    inst.colorSel.dataset.modes = modes.join();
  }
  if (!modes.includes(inst.color)) inst.color = data.color && modes.includes(data.color) ? data.color : modes[0];
  inst.colorSel.value = inst.color;
  inst.root.querySelector(".lm-errfilter").style.display = inst.pts.error ? "" : "none";
  inst.marks = data.marks || [];
  inst.atlas = data.atlas || null;
  if (inst.atlas && !TILES.has(inst.atlas.hash)) TILES.set(inst.atlas.hash, { orig: new Map(), recon: new Map(), failed: new Set() });
  if (data.tiles) takeTiles(inst, data.tiles);
  else if (inst.atlas && inst.tileRequestOpen && data.tiles_hash !== inst.atlas.hash) inst.tileRequestOpen = false;
  resize(inst);
  if (!inst.view) fit(inst);
  inst.vis = visible(inst);
  const ids = data.selected || [];
  if (idsKey(ids) !== inst.selectedKey) setSelection(inst, ids, false);
  else legend(inst);
  note(inst, data.message || (inst.visibleCount === 0 ? "No point passes the filters." : ""));
  paint(inst);
  status(inst);
  // Thumbnails after the first paint: the tiles are asked for once the map is on screen.
  if (inst.atlas && inst.tilesStartedFor !== inst.atlas.hash) {  // each map's tiles: asked for after its first paint
    inst.tilesStartedFor = inst.atlas.hash;
    inst.tileRequestOpen = false;
    setTimeout(() => wantTiles(inst, -1), 0);
  }

  const api = {
    ready: () => inst.pts !== null && inst.frames > 0,
    n: () => (inst.pts ? inst.pts.n : 0),
    frames: () => inst.frames,
    lastPaintMs: () => inst.lastPaint,
    hoverMs: () => inst.hoverShown,
    selected: () => (inst.selectedIds || []).slice().sort((a, b) => a - b),
    color: () => inst.color,
    tilesLoaded: () => { const s = inst.atlas && TILES.get(inst.atlas.hash); return s ? s.orig.size : 0; },
    tilesFailed: () => { const s = inst.atlas && TILES.get(inst.atlas.hash); return s ? s.failed.size : 0; },
    // Page position of item `id` (null if it is off the plot or filtered out).
    itemXY: (id) => {
      const p = inst.pts; if (!p || id < 0 || id >= p.n || !inst.vis[id]) return null;
      const [x, y] = toPx(inst.view, p.x[id], p.y[id]), r = inst.overlay.getBoundingClientRect();
      return x < 0 || y < 0 || x > r.width || y > r.height ? null : { x: r.left + x + 1, y: r.top + y + 1 };
    },
    // The visible point nearest a fraction [fx, fy] of the plot: {x, y (page), id}.
    nearest: ([fx, fy]) => {
      const p = inst.pts, r = inst.overlay.getBoundingClientRect(), cx = r.width * fx, cy = r.height * fy;
      let best = null;
      for (let i = 0; i < p.n; i++) {
        if (!inst.vis[i]) continue;
        const [x, y] = toPx(inst.view, p.x[i], p.y[i]), d = (x - cx) ** 2 + (y - cy) ** 2;
        if (!best || d < best.d) best = { d, x: r.left + x + 1, y: r.top + y + 1, id: i };
      }
      return best;
    },
    view: () => ({ ...inst.view }),
    // Pans by (dx, dy) pixels `frames` times, one per animation frame -> frames per second.
    panFps: (frames = 30, dx = 3, dy = 2) => new Promise((resolve) => {
      let k = 0; const t0 = performance.now();
      const step = () => {
        inst.view = { ...inst.view, ox: inst.view.ox + dx, oy: inst.view.oy + dy }; paint(inst);
        if (++k < frames) requestAnimationFrame(step); else resolve((1000 * frames) / (performance.now() - t0));
      };
      requestAnimationFrame(step);
    }),
    zoomFps: (frames = 30, f = 1.03) => new Promise((resolve) => {
      let k = 0; const t0 = performance.now();
      const step = () => {
        zoomAt(inst, inst.canvas.width / 2, inst.canvas.height / 2, k < frames / 2 ? f : 1 / f); paint(inst);
        if (++k < frames) requestAnimationFrame(step); else resolve((1000 * frames) / (performance.now() - t0));
      };
      requestAnimationFrame(step);
    }),
    // A pointer move dispatched over fraction [fx, fy] of the plot -> {ms: until the next frame is drawn, item,
    // thumb: whether the card shows the thumbnail} (for the benchmark's hover bar).
    hoverProbe: ([fx, fy]) => new Promise((resolve) => {
      const r = inst.overlay.getBoundingClientRect(), t0 = performance.now();
      inst.overlay.dispatchEvent(new PointerEvent("pointermove", { clientX: r.left + r.width * fx, clientY: r.top + r.height * fy, bubbles: true }));
      requestAnimationFrame(() => resolve({ ms: performance.now() - t0, handler: inst.hoverShown, item: inst.hover, thumb: inst.card.dataset.thumb === "1" }));
    }),
    // How many visible points a lasso through fractions of the plot [[fx, fy], …] would take.
    countInside: (path) => {
      const r = inst.overlay.getBoundingClientRect();
      return pointsInside(inst, "lasso", path.map(([fx, fy]) => [r.width * fx, r.height * fy])).length;
    },
    tileState: () => ({ open: !!inst.tileRequestOpen, pending: !!inst.tilesPending, asks: inst.tileAsks || 0 }),
    tileCount: () => (inst.atlas ? inst.atlas.tiles : 0),
    search: (id) => search(inst, id),
    select: (ids) => setSelection(inst, ids, true),
    setColor: (c) => { inst.colorSel.value = c; inst.colorSel.dispatchEvent(new Event("change")); },
    setErrorRange: (lo, hi) => { inst.emin.value = lo ?? ""; inst.emaxIn.value = hi ?? ""; inst.emin.dispatchEvent(new Event("change")); },
    visibleCount: () => inst.visibleCount,
    message: () => inst.msg.textContent,
  };
  globalThis.__latentMaps = globalThis.__latentMaps || {};
  globalThis.__latentMaps[data.instance] = api;
}
