"""The URL <-> widgets glue in a real Streamlit script run (AppTest), with links good and bad."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def app():
    import streamlit as st

    from explorer.ui import urlsync

    variants = ("dense", "sparse", "denoising", "vae", "unet")
    state = urlsync.read_url_state(70_000, variants, ("map", "similar", "denoiser"), limits={"k": (4, 20)})
    st.session_state.setdefault("k", 10)
    st.session_state.setdefault("item_index", 0)
    k = st.slider("Neighbours", 4, 20, key="k")
    item = st.number_input("Item", 0, 69_999, key="item_index")
    noise = st.slider("Noise", 0.0, 0.5, key="noise_amount", value=0.2)
    st.text(f"k={k} item={item} noise={noise} variant={st.session_state.get('_variant')} page={state.page}")
    urlsync.write_url_state(urlsync.current_state(state.page, state.variant))


def run(query: dict) -> AppTest:
    at = AppTest.from_function(app, default_timeout=30)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_link_seeds_the_widgets_and_is_written_back():
    at = run({"page": "similar", "variant": "vae", "item": "12345", "k": "7", "noise": "0.3"})
    assert not at.exception
    assert at.text[0].value == "k=7 item=12345 noise=0.3 variant=vae page=similar"
    assert not at.toast
    at.slider(key="k").set_value(12).run()
    assert at.query_params["k"] == "12" and at.query_params["item"] == "12345"
    assert at.query_params["variant"] == "vae" and at.query_params["z"] == ",".join(["0"] * 10)


@pytest.mark.parametrize(
    "query, shown",
    [
        ({"k": "500"}, "k=20"),  # past the parser's 50 and the slider's 20
        ({"k": "2"}, "k=4"),
        ({"item": "1e9"}, "item=69999"),
        ({"noise": "nan"}, "noise=0.2"),
        ({"variant": "<b>x</b>"}, "variant=dense"),
        ({"k": ["8", "9"]}, "k=8"),
    ],
)
def test_bad_links_are_clamped_with_a_toast(query, shown):
    at = run(query)
    assert not at.exception
    assert shown in at.text[0].value
    assert at.toast and at.toast[0].value.startswith("Link: ")


def test_second_run_does_not_reread_the_link():
    at = run({"k": "7"})
    at.query_params["k"] = "15"  # what the URL says now no longer overrides the widget
    at.run()
    assert "k=7" in at.text[0].value
