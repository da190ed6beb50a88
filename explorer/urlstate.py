"""The shareable view: what the URL's query parameters say, parsed without ever failing, and written back.

``?page=map&dataset=fashion-mnist&variant=vae&item=123&z=0.5,-1,0,0,0,0,0,0,0,0&noise=0.2&seed=7&k=10``

``variant`` names the run shown: a shipped variant (``vae``) or a run key (``digits/dense``), on ``dataset``.
Two page-specific fields are written only when a page set them: ``bits`` (Compression's bits per number) and
``method`` (Clustering's method), e.g. ``?page=compression&variant=sparse&item=7&bits=4``.

Every parameter is optional. A malformed or out-of-range value is replaced by the default or clamped, and a
notice says which parameter, what it said and what is shown instead. Notices quote user text only after
reducing it to a safe alphabet, so they can be shown as Markdown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

from .data import FASHION_MNIST
from .generation import Z_LIMIT  # a link's z is clamped to the sliders' range

N_Z = 10  # the generator's latent sliders z0..z9
NOISE_MAX = 0.5
SEED_MAX = 2**31 - 1
K_MIN, K_MAX = 1, 50
BITS_MIN, BITS_MAX = 1, 16  # a quantiser's bits per number (the page then picks among the stored coder tables)
_METHOD = re.compile(r"[A-Za-z0-9_\-]{1,40}")  # a clustering method's name (the page checks it is stored)
_QUOTE_LEN = 40


@dataclass(frozen=True)
class ViewState:
    """Everything a link restores: page, variant, selected test item, generator latents, denoiser settings, k."""

    page: str = ""
    dataset: str = FASHION_MNIST
    variant: str = ""  # the run: a shipped variant's name or "<dataset>/<run>"
    item: int = 0  # item id: 0..9,999 test images, 10,000..69,999 training images
    z: tuple[float, ...] = (0.0,) * N_Z
    noise: float = 0.2  # salt-and-pepper amount for the denoiser
    seed: int = 0  # the denoiser's noise seed
    k: int = 10  # neighbours shown
    bits: int = 0  # Compression: bits per number (0: the page's default)
    method: str = ""  # Clustering: the method shown ("": the page's default)


KEYS = tuple(f.name for f in fields(ViewState))


def quote(value: object) -> str:
    """User text for a notice: printable safe characters only, at most 40 of them, in backticks."""
    s = re.sub(r"[^A-Za-z0-9 ._,+/\-]", "?", str(value))
    return f"`{s[:_QUOTE_LEN]}{'…' if len(s) > _QUOTE_LEN else ''}`"


def _finite(raw: str) -> float | None:
    try:
        x = float(raw.strip())
    except (ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def _int(raw: str) -> int | None:
    """An integer from '12', ' 12 ', '12.0' or '1e3'; None for garbage, NaN, inf or fractions."""
    raw = raw.strip()
    if len(raw) > 30:  # also keeps int() away from its 4300-digit limit
        return None
    try:
        return int(raw)
    except ValueError:
        x = _finite(raw)
        return int(x) if x is not None and x.is_integer() else None


def _clamp(name: str, raw: str, x, lo, hi, notices: list[str]):
    if x < lo or x > hi:
        clamped = min(max(x, lo), hi)
        notices.append(f"`{name}` = {quote(raw)} is outside {lo}–{hi}: using {clamped}.")
        return clamped
    return x


def _choice(name: str, raw: str, options: Sequence[str], default: str, notices: list[str]) -> str:
    by_lower = {o.lower(): o for o in options}
    found = by_lower.get(raw.strip().lower())
    if found is None:
        known = ", ".join(options)
        notices.append(f"`{name}` = {quote(raw)} is not one of {known}: using `{default}`.")
        return default
    return found


def _parse_z(raw: str, default: tuple[float, ...], notices: list[str]) -> tuple[float, ...]:
    if not raw.strip():
        notices.append("`z` is empty: using the default latent values.")
        return default
    parts = raw.split(",")
    if len(parts) != N_Z:
        notices.append(
            f"`z` has {len(parts)} values, the generator takes {N_Z}: "
            + ("the extra ones are ignored." if len(parts) > N_Z else "the missing ones are 0.")
        )
    out = list(default)
    for i in range(N_Z):
        if i >= len(parts):
            out[i] = 0.0
            continue
        x = _finite(parts[i])
        if x is None:
            notices.append(f"`z{i}` = {quote(parts[i])} is not a finite number: using {default[i]}.")
            continue
        out[i] = float(_clamp(f"z{i}", parts[i], x, -Z_LIMIT, Z_LIMIT, notices))
    return tuple(out)


def parse_query(
    params: Mapping[str, str | list[str]],
    n_items: int,
    variants: Sequence[str],
    pages: Sequence[str],
    defaults: ViewState | None = None,
    datasets: Sequence[str] = (FASHION_MNIST,),
) -> tuple[ViewState, list[str]]:
    """Query parameters -> (the view they describe, notices about what was ignored or clamped). Never raises.

    ``params``: key -> value or list of values (a repeated key); ``n_items``: valid items are 0..n_items-1;
    ``variants``/``pages``/``datasets``: the accepted names (matched case-insensitively), the first being the
    default unless ``defaults`` says otherwise.
    """
    if n_items < 1 or not variants or not pages:
        raise ValueError(f"n_items == {n_items}, variants == {variants!r}, pages == {pages!r}: all must be non-empty.")
    d = defaults or ViewState()
    d = replace(
        d,
        page=d.page if d.page in pages else pages[0],
        variant=d.variant if d.variant in variants else variants[0],
    )
    notices: list[str] = []
    values: dict[str, str] = {}
    unknown = []
    for key, value in params.items():
        if isinstance(value, (list, tuple)):
            if not value:
                continue
            if len(value) > 1:
                notices.append(f"{quote(key)} was given {len(value)} times: using the first, {quote(value[0])}.")
            value = value[0]
        if key in KEYS:
            values[key] = str(value)
        else:
            unknown.append(key)
    if unknown:
        names = ", ".join(quote(k) for k in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        notices.append(f"Ignored unknown parameter{'s' if len(unknown) > 1 else ''} {names}.")

    state = {}
    if "page" in values:
        state["page"] = _choice("page", values["page"], pages, d.page, notices)
    if "dataset" in values:
        state["dataset"] = _choice("dataset", values["dataset"], datasets, d.dataset, notices)
    if "variant" in values:
        state["variant"] = _choice("variant", values["variant"], variants, d.variant, notices)
    if "item" in values:
        raw, x = values["item"], _int(values["item"])
        if x is None:
            notices.append(f"`item` = {quote(raw)} is not a whole number: using {d.item}.")
        else:
            state["item"] = _clamp("item", raw, x, 0, n_items - 1, notices)
    if "z" in values:
        state["z"] = _parse_z(values["z"], d.z, notices)
    if "noise" in values:
        raw, x = values["noise"], _finite(values["noise"])
        if x is None:
            notices.append(f"`noise` = {quote(raw)} is not a finite number: using {d.noise}.")
        else:
            state["noise"] = float(_clamp("noise", raw, x, 0.0, NOISE_MAX, notices))
    if "method" in values:
        raw = values["method"].strip()
        if _METHOD.fullmatch(raw):
            state["method"] = raw
        else:
            notices.append(f"`method` = {quote(raw)} is not a method's name: using the page's default.")
    for name, lo, hi in (("seed", 0, SEED_MAX), ("k", K_MIN, K_MAX), ("bits", BITS_MIN, BITS_MAX)):
        if name in values:
            raw, x = values[name], _int(values[name])
            if x is None:
                notices.append(f"`{name}` = {quote(raw)} is not a whole number: using {getattr(d, name)}.")
            else:
                state[name] = _clamp(name, raw, x, lo, hi, notices)
    return replace(d, **state), notices


def fit_to_widgets(
    state: ViewState, limits: Mapping[str, tuple[float, float]], given: Sequence[str] = KEYS
) -> tuple[ViewState, list[str]]:
    """Clamp fields to narrower widget ranges (e.g. ``{"k": (4, 20)}``), with a notice for each field in ``given``.

    Streamlit refuses a Session State value outside a slider's range, so values must fit before widgets see them.
    """
    notices: list[str] = []
    changes = {}
    for name, (lo, hi) in limits.items():
        if name not in KEYS or name in ("page", "dataset", "variant", "method"):
            raise ValueError(
                f"limits has {name!r}: only numeric ViewState fields (item, z, noise, seed, k, bits) can be limited."
            )
        value = getattr(state, name)
        if name == "z":
            fitted = tuple(float(min(max(v, lo), hi)) for v in value)
        else:
            fitted = type(value)(min(max(value, lo), hi))
        if fitted != value:
            changes[name] = fitted
            if name in given:
                notices.append(f"`{name}` = {quote(value)} is outside this page's {lo}–{hi}: using {quote(fitted)}.")
    return replace(state, **changes), notices


def merge_notices(notices: Sequence[str]) -> list[str]:
    """One notice per parameter, the last, which names the value actually used, with the value the link gave from
    the first: ``k=999`` is clamped to the link format's 1-50 by ``parse_query``, then to a slider's 4-20 by
    ``fit_to_widgets``, and only "using `20`" is true."""
    merged: dict[str, str] = {}
    for notice in notices:
        name = notice.split(" ", 1)[0]  # each notice starts with the parameter's quoted name
        before = merged.get(name)
        if before and " is " in before and " is " in notice:
            notice = before.split(" is ", 1)[0] + " is " + notice.split(" is ", 1)[1]
        merged[name] = notice
    return list(merged.values())


def _num(x: float) -> str:
    """Shortest text that reads back as the same float ('0.5', '-1.25', '0')."""
    x = float(x)
    return str(int(x)) if x.is_integer() else repr(x)


def to_query(state: ViewState) -> dict[str, str]:
    """The view as query parameters (every field, so a link does not depend on defaults that may change; the
    page-specific ``bits`` and ``method`` only when a page set them)."""
    query = {
        "page": state.page,
        "dataset": state.dataset,
        "variant": state.variant,
        "item": str(int(state.item)),
        "z": ",".join(_num(v) for v in state.z),
        "noise": _num(state.noise),
        "seed": str(int(state.seed)),
        "k": str(int(state.k)),
    }
    if state.bits:
        query["bits"] = str(int(state.bits))
    if state.method:
        query["method"] = state.method
    return query
