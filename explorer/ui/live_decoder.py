"""The live generator: latent sliders whose decoded image follows them at screen rate, decoded in the browser.

An ``st.components.v2`` component (inline HTML/CSS/JS, no build step, rendered in the app's DOM inside a
shadow root). The VAE decoder (z -> 500 ReLU -> 784 sigmoid, ~400k weights) is sent to the browser once
per session and decoded there on every slider ``input`` event, at most once per animation frame; nothing
goes to the server while a slider moves. When a slider is released the final latent goes back to Python
(a trigger value: ``live_generator`` returns it in that one run, else None).

Weights travel exactly: when every value is a float16 (the shipped checkpoints store float16), they are
sent as float16 bits and widened exactly in JS; otherwise as float32. JS accumulates in float64, so the
browser's image matches PyTorch's float32 decoder to ~1e-7 (the browser test checks <= 1e-4).

For tests, each instance exposes ``window.__latentDecoders[key]`` = {decode(z) -> 784 floats, renders(),
ready()} and ``window.__latentDecode`` (the last mounted instance's decode).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import streamlit as st

COMPONENT_NAME = "latent_explorer.live_decoder"
Z_RANGE = 3.0  # latent sliders span ±3 prior standard deviations
DIRECTION_RANGE = 1.5  # a direction slider at 1 moves the point from class a's mean code to class b's

CSS = """
.le-root { display: flex; gap: 1rem; flex-wrap: wrap; align-items: flex-start; font-family: var(--st-font);
  color: var(--st-text-color); font-size: 0.9rem; }
.le-canvas { width: 224px; height: 224px; image-rendering: pixelated; border-radius: var(--st-base-radius);
  border: 1px solid var(--st-border-color); background: #000; }
.le-sliders { display: grid; grid-template-columns: fit-content(6em) minmax(110px, 1fr) 3.2em; gap: 0.15rem 0.6rem;
  align-items: center; min-width: 250px; flex: 1; }
.le-sliders label { line-height: 1.15; }  /* a long direction label wraps: the sliders keep their width */
.le-sliders input[type=range] { width: 100%; accent-color: var(--st-primary-color); }
.le-sliders .le-val { text-align: right; font-variant-numeric: tabular-nums; font-family: var(--st-code-font); }
.le-sliders .le-head { grid-column: 1 / -1; margin-top: 0.5rem; font-weight: 600; }
.le-label { margin-top: 0.3rem; min-height: 1.4em; }
.le-note { color: var(--st-text-color); opacity: 0.7; font-size: 0.8rem; }
"""

HTML = '<div class="le-root"><div><canvas class="le-canvas" width="28" height="28"></canvas>' \
    '<div class="le-label"></div><div class="le-note"></div></div><div class="le-sliders"></div></div>'  # fmt: skip

JS = r"""
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
"""


def preview(key: str) -> list[float] | None:
    """The point sent while dragging (``preview_ms``) if this run was triggered by one, else None."""
    return st.session_state.get(f"_{key}__previewed")


@lru_cache(maxsize=1)
def _component():
    return st.components.v2.component(COMPONENT_NAME, html=HTML, css=CSS, js=JS)


def decoder_weights(vae) -> dict[str, np.ndarray]:
    """The VAE decoder's two layers as numpy: w1 [H, D], b1 [H], w2 [784, H], b2 [784] (torch Linear layout)."""
    first, last = vae.decoder[0], vae.decoder[2]
    return {
        "w1": first.weight.detach().cpu().numpy(),
        "b1": first.bias.detach().cpu().numpy(),
        "w2": last.weight.detach().cpu().numpy(),
        "b2": last.bias.detach().cpu().numpy(),
    }


def _pack_one(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a, dtype=np.float32)
    half = a.astype(np.float16)
    exact = np.array_equal(half.astype(np.float32), a, equal_nan=False) and np.isfinite(a).all()
    raw = half.astype("<f2").tobytes() if exact else a.astype("<f4").tobytes()
    return {"dtype": "float16" if exact else "float32", "shape": list(a.shape), "b64": base64.b64encode(raw).decode()}


_PACKED: dict[str, dict] = {}


def pack_weights(weights: dict[str, np.ndarray]) -> tuple[str, dict]:
    """(content hash, JSON-ready weights): float16 bits when every value is a float16, else float32 bits."""
    missing = {"w1", "b1", "w2", "b2"} - set(weights)
    if missing:
        raise ValueError(f"decoder weights lack {sorted(missing)}; build them with decoder_weights(vae).")
    arrays = {k: np.ascontiguousarray(weights[k], dtype=np.float32) for k in ("w1", "b1", "w2", "b2")}
    (h, _), (p, h2) = arrays["w1"].shape, arrays["w2"].shape
    if h != h2 or arrays["b1"].shape != (h,) or arrays["b2"].shape != (p,) or p != 784:
        raise ValueError(
            f"decoder weights have shapes w1 {arrays['w1'].shape}, b1 {arrays['b1'].shape}, w2 {arrays['w2'].shape}, "
            f"b2 {arrays['b2'].shape}; expected [H, D], [H], [784, H], [784]."
        )
    digest = hashlib.sha256()
    for k in ("w1", "b1", "w2", "b2"):
        digest.update(arrays[k].tobytes())
    key = digest.hexdigest()[:16]
    if key not in _PACKED:
        _PACKED.clear()  # one decoder at a time is plenty; keep the memory bounded
        _PACKED[key] = {k: _pack_one(a) for k, a in arrays.items()}
    return key, _PACKED[key]


def live_generator(
    weights: dict[str, np.ndarray],
    z_init: Sequence[float],
    key: str,
    directions: Sequence[tuple[str, Sequence[float]]] = (),
    note: str = "",
    z_range: float = Z_RANGE,
    direction_range: float = DIRECTION_RANGE,
    preview_ms: int | None = None,
    label: Callable[[np.ndarray], str] | None = None,
) -> list[float] | None:
    """Draw the live generator; returns the latent the user released a slider at (in that run only), else None.

    ``weights``: ``decoder_weights(vae)``. ``z_init``: the point to show (Python stays the source of truth:
    pass back what this returned). ``directions``: (label, vector) pairs shown as extra sliders that move the
    point along ``vector`` while dragged (recentring on release). ``preview_ms``: also send the point to Python
    every that many milliseconds while a slider moves (a rerun each; read it with ``preview(key)``), e.g. to keep
    a server-side label in step; None sends only on release. ``label(z) -> str``: text shown under the image,
    computed in Python for the point shown (the previewed one while dragging), e.g. the judge's verdict.
    """
    wkey, packed = pack_weights(weights)
    dim = packed["w1"]["shape"][1]
    z = [float(v) for v in z_init]
    if len(z) != dim:
        raise ValueError(f"z_init has {len(z)} values, the decoder takes {dim}.")
    dirs = []
    for title, vec in directions:
        vec = [float(v) for v in vec]
        if len(vec) != dim:
            raise ValueError(f"direction {title!r} has {len(vec)} values, the decoder takes {dim}.")
        dirs.append({"label": str(title), "vector": vec})

    # Callbacks run before the script: a released point must reach ``data`` in this very run, or the component
    # would be handed the stale point and jump back to it.
    commit_key, preview_key, need_key = f"_{key}__commit", f"_{key}__preview", f"_{key}__need_weights"

    def _stash(event: str, target: str):
        value = (st.session_state.get(key) or {}).get(event)
        if isinstance(value, list) and len(value) == dim:
            st.session_state[target] = [float(v) for v in value]

    def _on_commit():
        _stash("commit", commit_key)

    def _on_preview():
        _stash("preview", preview_key)

    def _on_need_weights():
        st.session_state[need_key] = True

    committed = st.session_state.pop(commit_key, None)
    if committed is not None:
        z = committed
    previewed = st.session_state.pop(preview_key, None)
    st.session_state[f"_{key}__previewed"] = previewed
    sent_flag = f"_{key}__weights_sent"
    if st.session_state.pop(need_key, False):  # the browser lost the decoder (e.g. its scripts reloaded)
        st.session_state.pop(sent_flag, None)
    send = st.session_state.get(sent_flag) != wkey
    data = {
        "instance": key,
        "hash": wkey,
        "weights": packed if send else None,
        "z": z,
        "directions": dirs,
        "range": float(z_range),
        "dir_range": float(direction_range),
        "note": note,
        "preview_ms": int(preview_ms or 0),
        "label": label(np.asarray(committed or previewed or z, dtype=np.float32)) if label is not None else "",
    }
    result = _component()(
        key=key,
        data=data,
        on_commit_change=_on_commit,
        on_preview_change=_on_preview,
        on_need_weights_change=_on_need_weights,
    )
    st.session_state[sent_flag] = wkey
    del result  # everything it holds was taken by the callbacks, before ``data`` was built
    return committed
