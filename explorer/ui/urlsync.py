"""Shareable links: the URL's query parameters seed the widgets once per session, and follow them afterwards.

Wiring (see ``explorer.urlstate`` for the parameters):

- router, before ``page.run()``: ``urlsync.read_url_state(n_items, variants, pages, ..., toast=False)``; then
  ``urlsync.link_page()`` (once per session) names the page the link asked for: ``st.switch_page`` to it when it
  is not the one opened, and ``urlsync.announce()`` on the page that is shown (toasts would be lost in a switch).
- each page, after its widgets: ``urlsync.write_url_state(urlsync.current_state(page, variant))``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import streamlit as st

from explorer.urlstate import N_Z, ViewState, fit_to_widgets, merge_notices, parse_query, quote, to_query

# Session State keys of the widgets each field drives (those of explorer/ui's pages).
ITEM_KEY, K_KEY, NOISE_KEY, SEED_KEY = "item_index", "k", "noise_amount", "noise_seed"
DATASET_KEY = "dataset"  # common.dataset_picker's
Z_KEYS = tuple(f"z{i}" for i in range(N_Z))
# common.variant_picker remembers the variant per page family under these keys.
VARIANT_MEMORY = {"denoiser": "_denoiser_variant", "generator": "_generator_variant"}
DEFAULT_VARIANT_MEMORY = "_variant"
# Pages whose widgets have keys of their own: field -> Session State key (Compression's item is a test image).
PAGE_KEYS = {
    "compression": {"variant": "cz_variant", "item": "cz_item", "bits": "cz_bits"},
    "clustering": {"method": "cl_method"},
}

_STATE, _PAGE, _UNANNOUNCED, _GIVEN = "_url_state", "_url_page", "_url_unannounced", "_url_given"
_MAX_TOASTS = 4


def read_url_state(
    n_items: int,
    variants: Sequence[str],
    pages: Sequence[str],
    defaults: ViewState | None = None,
    limits: Mapping[str, tuple[float, float]] | None = None,
    page_variants: Mapping[str, Sequence[str]] | None = None,
    toast: bool = True,
    datasets: Sequence[str] | None = None,
) -> ViewState:
    """The view the link asked for: parsed on the session's first run (widgets seeded, notices toasted), then kept.

    ``limits``: narrower widget ranges, e.g. ``{"k": (4, 20)}`` for a slider that does not span 1-50.
    ``page_variants``: page -> the variants it offers, when fewer than ``variants`` (e.g. only mapped ones).
    ``toast=False``: keep the notices for ``announce()`` (a router that may still switch page).
    ``datasets``: the dataset names a link may give (the router has already picked the one it names).
    """
    if _STATE in st.session_state:
        return st.session_state[_STATE]
    params = {key: st.query_params.get_all(key) for key in st.query_params.keys()}
    if page_variants:  # the page first: a variant is checked against those the page offers
        page = parse_query({k: v for k, v in params.items() if k == "page"}, n_items, variants, pages, defaults)[0]
        variants = page_variants.get(page.page, variants)
    extra = {"datasets": datasets} if datasets else {}
    state, notices = parse_query(params, n_items, variants, pages, defaults, **extra)
    if limits:
        state, more = fit_to_widgets(state, limits, given=list(params))
        notices = merge_notices(notices + more)  # one notice per parameter, naming the value used
    st.session_state[_STATE] = state
    st.session_state[_PAGE] = state.page if "page" in params else None
    st.session_state[_GIVEN] = tuple(params)
    apply_to_widgets(state, given=params)
    st.session_state[_UNANNOUNCED] = notices
    if toast:
        announce()
    return state


def seed_dataset(datasets: Sequence[str]) -> None:
    """On a session's first run, the dataset its link names (if it is one of ``datasets``) becomes the picked one,
    before the router asks for that dataset's items and runs (a bad name is announced by ``read_url_state``)."""
    if _STATE in st.session_state:
        return
    by_lower = {d.lower(): d for d in datasets}
    asked = by_lower.get(str(st.query_params.get("dataset", "")).strip().lower())
    if asked:
        st.session_state[DATASET_KEY] = asked


def announce() -> None:
    """Toast the link's notices, once per session (call it on the page that is shown)."""
    notices = st.session_state.pop(_UNANNOUNCED, None) or []
    for notice in notices[:_MAX_TOASTS]:
        st.toast(f"Link: {notice}", icon=":material/link_off:", duration="long")
    if len(notices) > _MAX_TOASTS:
        more = len(notices) - _MAX_TOASTS
        st.toast(f"Link: {more} more problem{'s' * (more > 1)}, listed in the sidebar.", duration="long")
        with st.sidebar.expander(f"Link: {len(notices)} problems", icon=":material/link_off:"):
            st.markdown("\n".join(f"- {notice}" for notice in notices))  # quoted safely by explorer.urlstate


def linked(field: str) -> bool:
    """Whether the session's link gave ``field`` (e.g. "item": the map then opens with that item selected)."""
    return field in st.session_state.get(_GIVEN, ())


def link_page() -> str | None:
    """The page the session's link named, on the first call only (then None): where the router should switch."""
    return st.session_state.pop(_PAGE, None)


def apply_to_widgets(state: ViewState, given: Sequence[str] | Mapping[str, object]) -> None:
    """Write the fields the link gave into the widgets' Session State (before the widgets are drawn)."""
    given = set(given)
    ss = st.session_state
    if "variant" in given:  # (the dataset was picked by ``seed_dataset``, before its picker was drawn)
        ss[VARIANT_MEMORY.get(state.page, DEFAULT_VARIANT_MEMORY)] = state.variant
    if "item" in given:
        ss[ITEM_KEY] = int(state.item)
    if "k" in given:
        ss[K_KEY] = int(state.k)
    if "noise" in given:
        ss[NOISE_KEY] = float(state.noise)
    if "seed" in given:
        ss[SEED_KEY] = int(state.seed)
    if "z" in given:
        for key, value in zip(Z_KEYS, state.z, strict=True):
            ss[key] = float(value)
    for field, key in PAGE_KEYS.get(state.page, {}).items():
        if field in given:  # checked against the page's options by ``fit_choice`` when the page draws its widget
            ss[key] = getattr(state, field)


def fit_choice(key: str, options: Sequence, default, field: str) -> None:
    """Before a page draws the widget ``key``: a value a link put there that is not one of ``options`` becomes
    ``default``, with one notice in the page, above the widget (it covers nothing)."""
    ss = st.session_state
    first = key not in ss.setdefault("_url_fitted", set())  # only the link's own value gets a notice, once
    ss["_url_fitted"].add(key)
    if key in ss and ss[key] not in options:
        bad, ss[key] = ss[key], default
        if first and linked(field):
            shown = list(options)
            shown = ", ".join(map(str, shown)) if len(shown) <= 12 else f"{shown[0]}–{shown[-1]}"
            st.warning(
                f"Link: `{field}` = {quote(bad)} is not one of {shown}: using `{default}`.", icon=":material/link_off:"
            )


def current_state(page: str, variant: str | None, defaults: ViewState | None = None, **fields) -> ViewState:
    """The view as the widgets now show it (fields a page does not draw keep their last or default value).

    ``variant`` None: the last one (a page without a run picker); ``fields``: a page's own values (``bits=4``),
    which other pages' links do not carry.
    """
    base = st.session_state.get(_STATE) or defaults or ViewState()
    ss = st.session_state
    shown = {
        "page": page,
        "dataset": str(ss.get(DATASET_KEY) or base.dataset),
        "variant": base.variant if variant is None else variant,
        "item": int(ss.get(ITEM_KEY, base.item)),
        "z": tuple(float(ss.get(key, v)) for key, v in zip(Z_KEYS, base.z, strict=True)),
        "noise": float(ss.get(NOISE_KEY, base.noise)),
        "seed": int(ss.get(SEED_KEY, base.seed)),
        "k": int(ss.get(K_KEY, base.k)),
        "bits": 0,  # page-specific: only the page that draws them sets them
        "method": "",
    }
    return replace(base, **(shown | fields))


def write_url_state(state: ViewState) -> None:
    """Put the view in the URL (only when it changed, so the browser history is not rewritten every rerun)."""
    st.session_state[_STATE] = state
    query = to_query(state)
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
